//! Keys and signatures against the interop crypto fixtures: the six signature vectors (valid
//! low-S, invalid high-S, invalid DER) and the W3C `did:key` vectors for both curves.

mod common;

use atproto::keys::{KeyError, KeyType, Keypair, PublicKey};
use base64::Engine;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureCase {
    comment: String,
    message_base64: String,
    algorithm: String,
    did_doc_suite: String,
    public_key_did: String,
    public_key_multibase: String,
    signature_base64: String,
    valid_signature: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DidKeyCase {
    /// The K-256 file gives hex, the P-256 file base58.
    private_key_bytes_hex: Option<String>,
    private_key_bytes_base58: Option<String>,
    public_did_key: String,
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(s.trim_end_matches('=')).unwrap()
}

#[test]
fn signature_vectors() {
    let Some(cases) = common::interop_json::<Vec<SignatureCase>>("crypto/signature-fixtures.json") else { return };
    assert_eq!(cases.len(), 6);
    for c in cases {
        let key = PublicKey::from_did_key(&c.public_key_did).unwrap();
        let expected = match c.algorithm.as_str() {
            "ES256K" => KeyType::K256,
            "ES256" => KeyType::P256,
            other => panic!("unknown algorithm {other}"),
        };
        assert_eq!(key.key_type(), expected, "{}", c.comment);
        assert_eq!(key.key_type().jwt_alg(), c.algorithm);

        // The DID-document form of the same key, in its legacy suite encoding.
        let legacy = match c.did_doc_suite.as_str() {
            "EcdsaSecp256k1VerificationKey2019" => KeyType::K256,
            _ => KeyType::P256,
        };
        assert_eq!(PublicKey::from_multibase(&c.public_key_multibase, Some(legacy)).unwrap(), key, "{}", c.comment);

        let result = key.verify(&b64(&c.message_base64), &b64(&c.signature_base64));
        assert_eq!(result.is_ok(), c.valid_signature, "{}: {result:?}", c.comment);
        if c.comment.contains("DER") {
            assert!(matches!(result, Err(KeyError::SignatureLength(_))), "{}", c.comment);
        }
        if c.comment.contains("non-low-S") {
            assert_eq!(result, Err(KeyError::HighS), "{}", c.comment);
        }
    }
}

#[test]
fn did_key_vectors() {
    for (file, kind) in [("crypto/w3c_didkey_K256.json", KeyType::K256), ("crypto/w3c_didkey_P256.json", KeyType::P256)] {
        let Some(cases) = common::interop_json::<Vec<DidKeyCase>>(file) else { return };
        assert!(!cases.is_empty());
        for c in cases {
            let key = match (&c.private_key_bytes_hex, &c.private_key_bytes_base58) {
                (Some(hex), _) => Keypair::from_hex(kind, hex).unwrap(),
                (_, Some(b58)) => Keypair::from_bytes(kind, &bs58::decode(b58).into_vec().unwrap()).unwrap(),
                _ => panic!("{file}: case without a private key"),
            };
            assert_eq!(key.did_key(), c.public_did_key);
            let parsed = PublicKey::from_did_key(&c.public_did_key).unwrap();
            assert_eq!(parsed, key.public());
            assert_eq!(parsed.to_did_key(), c.public_did_key);
            // And a signature made with the private key verifies against the parsed did:key.
            parsed.verify(b"sonde", &key.sign(b"sonde")).unwrap();
        }
    }
}
