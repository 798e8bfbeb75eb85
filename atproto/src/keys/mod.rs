//! Signing keys: secp256k1 (k256, "ES256K") and NIST P-256 (p256, "ES256").
//!
//! The AT Protocol signs the SHA-256 digest of a message with ECDSA and transmits the
//! signature as 64 bytes `r || s` with `s` in the lower half of the group order ("low-S").
//! Verification here refuses high-S and DER-encoded signatures, as the specs require.
//! Public keys travel as `did:key` strings or as `publicKeyMultibase` values in DID documents.

mod batch;
mod generator_table;

pub use batch::{sign_digests, sign_digests_vartime};

use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use sha2::{Digest, Sha256};

const DID_KEY_PREFIX: &str = "did:key:";
/// Multicodec varint prefixes of compressed public keys.
const K256_PUB_CODEC: [u8; 2] = [0xe7, 0x01];
const P256_PUB_CODEC: [u8; 2] = [0x80, 0x24];

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum KeyError {
    #[error("not a did:key: {0}")]
    NotDidKey(String),
    #[error("invalid multibase key encoding: {0}")]
    Multibase(String),
    #[error("unsupported key type (multicodec prefix {0:02x?})")]
    UnsupportedKeyType(Vec<u8>),
    #[error("invalid public key bytes")]
    InvalidPublicKey,
    #[error("invalid private key bytes")]
    InvalidPrivateKey,
    #[error("signature must be 64 bytes (r||s), got {0} bytes")]
    SignatureLength(usize),
    #[error("signature has a high S value, which the AT Protocol forbids")]
    HighS,
    #[error("signature does not verify")]
    BadSignature,
}

/// The two curves the AT Protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    K256,
    P256,
}

impl KeyType {
    /// The JWT `alg` name.
    pub fn jwt_alg(self) -> &'static str {
        match self {
            KeyType::K256 => "ES256K",
            KeyType::P256 => "ES256",
        }
    }

    fn codec(self) -> [u8; 2] {
        match self {
            KeyType::K256 => K256_PUB_CODEC,
            KeyType::P256 => P256_PUB_CODEC,
        }
    }
}

/// A parsed public key, ready to verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    K256(k256::ecdsa::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses SEC1 bytes (compressed or uncompressed) for the given curve.
    pub fn from_sec1(kind: KeyType, bytes: &[u8]) -> Result<Self, KeyError> {
        match kind {
            KeyType::K256 => k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map(PublicKey::K256),
            KeyType::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map(PublicKey::P256),
        }
        .map_err(|_| KeyError::InvalidPublicKey)
    }

    /// Parses multicodec-prefixed key bytes (the payload of a `did:key`).
    pub fn from_multicodec(bytes: &[u8]) -> Result<Self, KeyError> {
        let (kind, rest) = match bytes {
            [0xe7, 0x01, rest @ ..] => (KeyType::K256, rest),
            [0x80, 0x24, rest @ ..] => (KeyType::P256, rest),
            _ => return Err(KeyError::UnsupportedKeyType(bytes.iter().take(2).copied().collect())),
        };
        Self::from_sec1(kind, rest)
    }

    /// Parses a `did:key:z…` string.
    pub fn from_did_key(did: &str) -> Result<Self, KeyError> {
        let mb = did.strip_prefix(DID_KEY_PREFIX).ok_or_else(|| KeyError::NotDidKey(did.into()))?;
        Self::from_multicodec(&decode_base58btc(mb)?)
    }

    /// Parses a DID document's `publicKeyMultibase`. `Multikey` values carry a multicodec
    /// prefix; the legacy `EcdsaSecp256…VerificationKey2019` suites carry bare SEC1 bytes, so
    /// the suite's curve is needed for those.
    pub fn from_multibase(value: &str, legacy_kind: Option<KeyType>) -> Result<Self, KeyError> {
        let bytes = decode_base58btc(value)?;
        match legacy_kind {
            Some(kind) if !bytes.starts_with(&kind.codec()) => Self::from_sec1(kind, &bytes),
            _ => Self::from_multicodec(&bytes),
        }
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::K256(_) => KeyType::K256,
            PublicKey::P256(_) => KeyType::P256,
        }
    }

    /// The 33-byte compressed SEC1 encoding.
    pub fn compressed(&self) -> Vec<u8> {
        match self {
            PublicKey::K256(k) => k.to_encoded_point(true).as_bytes().to_vec(),
            PublicKey::P256(k) => k.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The multibase (`z…`) form with multicodec prefix, as used by `Multikey` and `did:key`.
    pub fn to_multibase(&self) -> String {
        let mut bytes = self.key_type().codec().to_vec();
        bytes.extend(self.compressed());
        format!("z{}", bs58::encode(bytes).into_string())
    }

    /// The `did:key:z…` form.
    pub fn to_did_key(&self) -> String {
        format!("{DID_KEY_PREFIX}{}", self.to_multibase())
    }

    /// Verifies a 64-byte low-S signature over SHA-256(`msg`).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        self.verify_digest(&Sha256::digest(msg).into(), sig)
    }

    /// Verifies a 64-byte low-S signature over an already computed SHA-256 digest.
    pub fn verify_digest(&self, digest: &[u8; 32], sig: &[u8]) -> Result<(), KeyError> {
        if sig.len() != 64 {
            return Err(KeyError::SignatureLength(sig.len()));
        }
        match self {
            PublicKey::K256(key) => {
                let sig = k256::ecdsa::Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
                if sig.normalize_s().is_some() {
                    return Err(KeyError::HighS);
                }
                key.verify_prehash(digest, &sig).map_err(|_| KeyError::BadSignature)
            }
            PublicKey::P256(key) => {
                let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
                if sig.normalize_s().is_some() {
                    return Err(KeyError::HighS);
                }
                key.verify_prehash(digest, &sig).map_err(|_| KeyError::BadSignature)
            }
        }
    }
}

fn decode_base58btc(mb: &str) -> Result<Vec<u8>, KeyError> {
    let b58 = mb.strip_prefix('z').ok_or_else(|| KeyError::Multibase(format!("expected base58btc ('z') prefix in {mb:?}")))?;
    bs58::decode(b58).into_vec().map_err(|e| KeyError::Multibase(e.to_string()))
}

/// A private signing key.
#[derive(Clone)]
pub enum Keypair {
    K256(k256::ecdsa::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private key material.
        write!(f, "Keypair({})", self.public().to_did_key())
    }
}

impl Keypair {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate(kind: KeyType) -> Self {
        Self::generate_with(kind, &mut rand::rngs::OsRng)
    }

    /// Generates a key from a caller-supplied RNG (deterministic for seeded RNGs).
    pub fn generate_with<R: rand::CryptoRng + rand::RngCore>(kind: KeyType, rng: &mut R) -> Self {
        match kind {
            KeyType::K256 => Keypair::K256(k256::ecdsa::SigningKey::random(rng)),
            KeyType::P256 => Keypair::P256(p256::ecdsa::SigningKey::random(rng)),
        }
    }

    /// Imports a 32-byte private scalar.
    pub fn from_bytes(kind: KeyType, bytes: &[u8]) -> Result<Self, KeyError> {
        match kind {
            KeyType::K256 => k256::ecdsa::SigningKey::from_slice(bytes).map(Keypair::K256),
            KeyType::P256 => p256::ecdsa::SigningKey::from_slice(bytes).map(Keypair::P256),
        }
        .map_err(|_| KeyError::InvalidPrivateKey)
    }

    /// Imports a hex-encoded private scalar (as in `PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX`).
    pub fn from_hex(kind: KeyType, hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(KeyError::InvalidPrivateKey);
        }
        let bytes: Result<Vec<u8>, _> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)).collect();
        Self::from_bytes(kind, &bytes.map_err(|_| KeyError::InvalidPrivateKey)?)
    }

    /// The 32-byte private scalar.
    pub fn to_bytes(&self) -> [u8; 32] {
        match self {
            Keypair::K256(k) => k.to_bytes().into(),
            Keypair::P256(k) => k.to_bytes().into(),
        }
    }

    pub fn key_type(&self) -> KeyType {
        self.public().key_type()
    }

    pub fn public(&self) -> PublicKey {
        match self {
            Keypair::K256(k) => PublicKey::K256(*k.verifying_key()),
            Keypair::P256(k) => PublicKey::P256(*k.verifying_key()),
        }
    }

    pub fn did_key(&self) -> String {
        self.public().to_did_key()
    }

    /// Signs SHA-256(`msg`): a deterministic (RFC 6979) 64-byte low-S signature.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.sign_digest(&Sha256::digest(msg).into())
    }

    /// Signs an already computed SHA-256 digest.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 64] {
        match self {
            Keypair::K256(k) => {
                let sig: k256::ecdsa::Signature = k.sign_prehash(digest).expect("32-byte prehash");
                sig.normalize_s().unwrap_or(sig).to_bytes().into()
            }
            Keypair::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(digest).expect("32-byte prehash");
                sig.normalize_s().unwrap_or(sig).to_bytes().into()
            }
        }
    }
}

/// A bounded cache of parsed public keys, keyed by their `did:key`/multibase string.
///
/// Parsing decompresses an elliptic-curve point, which costs about as much as a fraction of a
/// verification; a relay verifying every commit sees the same few keys again and again.
pub struct KeyCache {
    keys: moka::sync::Cache<String, PublicKey>,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        Self { keys: moka::sync::Cache::new(capacity as u64) }
    }

    /// Returns the parsed key for a `did:key`, parsing and remembering it on first use.
    pub fn did_key(&self, did_key: &str) -> Result<PublicKey, KeyError> {
        if let Some(k) = self.keys.get(did_key) {
            return Ok(k);
        }
        let key = PublicKey::from_did_key(did_key)?;
        self.keys.insert(did_key.to_string(), key.clone());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_both_curves() {
        for kind in [KeyType::K256, KeyType::P256] {
            let key = Keypair::generate(kind);
            let sig = key.sign(b"hello");
            let public = PublicKey::from_did_key(&key.did_key()).unwrap();
            assert_eq!(public, key.public());
            public.verify(b"hello", &sig).unwrap();
            assert_eq!(public.verify(b"hellp", &sig), Err(KeyError::BadSignature));
            let restored = Keypair::from_bytes(kind, &key.to_bytes()).unwrap();
            assert_eq!(restored.did_key(), key.did_key());
        }
    }

    #[test]
    fn signatures_are_always_low_s() {
        for kind in [KeyType::K256, KeyType::P256] {
            let key = Keypair::generate(kind);
            for i in 0..64u32 {
                let sig = key.sign(&i.to_be_bytes());
                key.public().verify(&i.to_be_bytes(), &sig).unwrap();
            }
        }
    }

    #[test]
    fn high_s_is_rejected() {
        let key = Keypair::generate(KeyType::K256);
        let sig = k256::ecdsa::Signature::from_slice(&key.sign(b"m")).unwrap();
        // Flip s to n - s: still a valid ECDSA signature, but high-S.
        let (r, s) = sig.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert_eq!(key.public().verify(b"m", &high.to_bytes()), Err(KeyError::HighS));
    }

    #[test]
    fn hex_import() {
        let key = Keypair::from_hex(KeyType::K256, &"11".repeat(32)).unwrap();
        assert_eq!(key.to_bytes(), [0x11; 32]);
        assert!(Keypair::from_hex(KeyType::K256, "zz").is_err());
    }

    #[test]
    fn cache_returns_same_key() {
        let cache = KeyCache::new(2);
        let a = Keypair::generate(KeyType::K256).did_key();
        assert_eq!(cache.did_key(&a).unwrap(), cache.did_key(&a).unwrap());
        assert!(cache.did_key("did:key:zBogus").is_err());
    }
}
