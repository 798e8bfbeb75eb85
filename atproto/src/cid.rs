//! Content identifiers as the AT Protocol uses them: CIDv1, sha2-256, with the `dag-cbor`
//! codec for records, MST nodes and commits and the `raw` codec for blobs.

use ::cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

/// Multicodec for DAG-CBOR blocks.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec for raw blobs.
pub const RAW: u64 = 0x55;
/// Multihash code for sha2-256.
pub const SHA2_256: u64 = 0x12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidError {
    #[error("invalid CID: {0}")]
    Parse(String),
    #[error("CID {0} is not CIDv1 sha2-256 with the dag-cbor or raw codec")]
    NotBlessed(Cid),
    #[error("block does not hash to its CID {0}")]
    HashMismatch(Cid),
}

fn cid_v1(codec: u64, bytes: &[u8]) -> Cid {
    from_digest(codec, &Sha256::digest(bytes).into())
}

/// The CIDv1 of a block whose sha2-256 digest is known (for stores that key blocks by digest).
pub fn from_digest(codec: u64, digest: &[u8; 32]) -> Cid {
    let mh = Multihash::wrap(SHA2_256, digest).expect("32-byte digest fits a multihash");
    Cid::new_v1(codec, mh)
}

/// The sha2-256 digest inside a CID, if it has one.
pub fn digest(cid: &Cid) -> Option<[u8; 32]> {
    (cid.hash().code() == SHA2_256).then(|| cid.hash().digest().try_into().ok()).flatten()
}

/// The CID of a DAG-CBOR block.
pub fn for_cbor(bytes: &[u8]) -> Cid {
    cid_v1(DAG_CBOR, bytes)
}

/// The CID of a blob (raw codec).
pub fn for_raw(bytes: &[u8]) -> Cid {
    cid_v1(RAW, bytes)
}

/// Whether a CID is of the form the AT Protocol allows for blocks and blobs.
pub fn is_blessed(cid: &Cid) -> bool {
    cid.version() == ::cid::Version::V1 && matches!(cid.codec(), DAG_CBOR | RAW) && cid.hash().code() == SHA2_256 && cid.hash().size() == 32
}

/// Checks that `bytes` hash to `cid` (recomputing with the CID's own codec).
pub fn verify_block(cid: &Cid, bytes: &[u8]) -> Result<(), CidError> {
    if !is_blessed(cid) {
        return Err(CidError::NotBlessed(*cid));
    }
    if Sha256::digest(bytes)[..] == *cid.hash().digest() {
        Ok(())
    } else {
        Err(CidError::HashMismatch(*cid))
    }
}

/// Parses a CID from its string form (base32 `b…` for CIDv1, base58 `Qm…` for legacy CIDv0).
pub fn parse(s: &str) -> Result<Cid, CidError> {
    Cid::try_from(s).map_err(|e| CidError::Parse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_map_cid_is_the_known_one() {
        // The CID of the empty MST node {l: null, e: []}, as published by the reference.
        let node = crate::cbor::encode(&serde_json::json!({"e": [], "l": null})).unwrap();
        assert_eq!(for_cbor(&node).to_string(), "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
    }

    #[test]
    fn verify_detects_mismatch() {
        let cid = for_raw(b"hello");
        assert!(verify_block(&cid, b"hello").is_ok());
        assert_eq!(verify_block(&cid, b"hellp"), Err(CidError::HashMismatch(cid)));
        assert_eq!(cid.codec(), RAW);
        assert!(parse("not a cid").is_err());
    }
}
