//! Bytes, signatures, CIDs and DIDs of PLC operations, and builders for new operations.
//!
//! The signed payload is the op's DAG-CBOR encoding with the `sig` key removed entirely (not
//! set to null). The op's CID (the next op's `prev`) and, for the genesis op, the DID are
//! computed over the DAG-CBOR of the signed op in its original (possibly legacy) form.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cid::multibase::Base;
use ipld_core::ipld::Ipld;
use sha2::{Digest, Sha256};

use super::{Operation, PlcError, PlcState, SignedOp, Tombstone};
use crate::keys::{Keypair, PublicKey};
use crate::Cid;

/// Length of the base32 identifier of a `did:plc`.
const DID_ID_LEN: usize = 24;

fn to_map(op: &SignedOp) -> std::collections::BTreeMap<String, Ipld> {
    match ipld_core::serde::to_ipld(op) {
        Ok(Ipld::Map(map)) => map,
        // Ops are structs of strings, string lists and string maps: conversion cannot fail.
        other => unreachable!("PLC op did not convert to an IPLD map: {other:?}"),
    }
}

fn encode(map: &std::collections::BTreeMap<String, Ipld>) -> Vec<u8> {
    crate::cbor::encode(map).expect("a map of strings always encodes as DAG-CBOR")
}

/// DAG-CBOR of the signed op (hashed for its CID and, for genesis, its DID).
pub fn signed_bytes(op: &SignedOp) -> Vec<u8> {
    encode(&to_map(op))
}

/// DAG-CBOR of the op without its `sig` key: the bytes the signature covers.
pub fn unsigned_bytes(op: &SignedOp) -> Vec<u8> {
    let mut map = to_map(op);
    map.remove("sig");
    encode(&map)
}

/// The CID of the signed op (dag-cbor, sha2-256), whose string form is the next op's `prev`.
pub fn op_cid(op: &SignedOp) -> Cid {
    crate::cid::for_cbor(&signed_bytes(op))
}

/// `did:plc:` + the first 24 characters of base32(sha256(DAG-CBOR of the signed genesis op)).
pub fn did_for_genesis(op: &SignedOp) -> String {
    let hash = Sha256::digest(signed_bytes(op));
    let b32 = Base::Base32Lower.encode(hash);
    format!("did:plc:{}", &b32[..DID_ID_LEN])
}

/// Decodes `sig` strictly: unpadded base64url with zero trailing bits, 64 bytes (`r || s`).
/// Anything looser would let the signature string, and so the op's CID, be altered.
pub fn decode_sig(sig: &str) -> Result<[u8; 64], PlcError> {
    // The engine refuses '=' padding, non-alphabet characters and non-zero trailing bits.
    let bytes = URL_SAFE_NO_PAD.decode(sig).map_err(|e| PlcError::SignatureEncoding(e.to_string()))?;
    bytes.try_into().map_err(|b: Vec<u8>| PlcError::SignatureEncoding(format!("{} bytes, expected 64", b.len())))
}

/// Checks `op`'s signature against `rotation_keys` (in order) and returns the index of the
/// first key that verifies. Keys that do not parse are skipped: they cannot have signed.
///
/// For a legacy `create` op pass the normalised keys (`[recoveryKey, signingKey]`).
pub fn verify_op_signature(op: &SignedOp, rotation_keys: &[String]) -> Result<usize, PlcError> {
    let sig = decode_sig(op.sig())?;
    let msg = unsigned_bytes(op);
    rotation_keys.iter().position(|k| PublicKey::from_did_key(k).is_ok_and(|pk| pk.verify(&msg, &sig).is_ok())).ok_or(PlcError::InvalidSignature)
}

/// Fills in `op`'s `sig` with `key`'s signature over its unsigned bytes.
pub fn sign_op(mut op: SignedOp, key: &Keypair) -> SignedOp {
    let sig = URL_SAFE_NO_PAD.encode(key.sign(&unsigned_bytes(&op)));
    match &mut op {
        SignedOp::Operation(o) => o.sig = sig,
        SignedOp::Tombstone(t) => t.sig = sig,
        SignedOp::LegacyCreate(c) => c.sig = sig,
    }
    op
}

fn operation(state: PlcState, prev: Option<String>) -> SignedOp {
    SignedOp::Operation(Operation {
        rotation_keys: state.rotation_keys,
        verification_methods: state.verification_methods,
        also_known_as: state.also_known_as,
        services: state.services,
        prev,
        sig: String::new(),
    })
}

/// A genesis op setting `state`, signed by `key` (which should be one of its rotation keys),
/// and the DID it creates.
pub fn genesis(state: PlcState, key: &Keypair) -> (String, SignedOp) {
    let op = sign_op(operation(state, None), key);
    (did_for_genesis(&op), op)
}

/// An op replacing the state set by `prev_op` with `state`, signed by `key` (a rotation key
/// of the state `prev_op` set; a higher-priority key to override later ops within 72h).
pub fn update(prev_op: &SignedOp, state: PlcState, key: &Keypair) -> SignedOp {
    sign_op(operation(state, Some(op_cid(prev_op).to_string())), key)
}

/// A tombstone after `prev_op`, signed by `key`.
pub fn tombstone(prev_op: &SignedOp, key: &Keypair) -> SignedOp {
    let t = Tombstone { prev: op_cid(prev_op).to_string(), sig: String::new() };
    sign_op(SignedOp::Tombstone(t), key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    #[test]
    fn signature_encoding_is_strict() {
        let sig = URL_SAFE_NO_PAD.encode([7u8; 64]);
        assert_eq!(decode_sig(&sig).unwrap(), [7u8; 64]);
        assert!(decode_sig(&format!("{sig}==")).is_err(), "padding");
        assert!(decode_sig(&format!("{sig}\n")).is_err(), "whitespace");
        // 64 bytes leave 4 spare bits in the last character: they must be zero.
        let mut loose = sig.clone().into_bytes();
        *loose.last_mut().unwrap() = b'B';
        assert!(decode_sig(std::str::from_utf8(&loose).unwrap()).is_err(), "trailing bits");
        assert!(decode_sig(&URL_SAFE_NO_PAD.encode([7u8; 70])).is_err(), "length");
    }

    #[test]
    fn sign_and_verify_picks_the_signing_key() {
        let keys: Vec<Keypair> = [KeyType::K256, KeyType::P256].map(Keypair::generate).into();
        let dids: Vec<String> = keys.iter().map(Keypair::did_key).collect();
        let state = PlcState::atproto(dids.clone(), &dids[0], "alice.test", "pds.test");
        let (did, op) = genesis(state, &keys[1]);
        assert_eq!(did.len(), 32);
        assert!(did[8..].bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(verify_op_signature(&op, &dids), Ok(1));
        assert_eq!(verify_op_signature(&op, &dids[..1]), Err(PlcError::InvalidSignature));
        // Unparseable keys are skipped, not fatal.
        assert_eq!(verify_op_signature(&op, &["did:key:bogus".into(), dids[1].clone()]), Ok(1));
    }
}
