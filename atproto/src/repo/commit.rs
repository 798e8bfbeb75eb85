//! Signed commits, version 3: `{did, version: 3, data, rev, prev: null, sig}`.
//!
//! The signature is over the DAG-CBOR encoding of the commit without `sig`, made with the
//! account's signing key (low-S, 64 bytes).

use ::cid::Cid;
use serde::{Deserialize, Serialize};

use crate::cbor::CborError;
use crate::keys::{KeyError, Keypair, PublicKey};

pub const COMMIT_VERSION: u64 = 3;

/// The signed fields of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedCommit {
    pub did: String,
    pub version: u64,
    /// Root of the MST.
    pub data: Cid,
    /// TID revision, increasing with every commit of the repository.
    pub rev: String,
    /// Always null in version 3; kept on the wire for compatibility.
    pub prev: Option<Cid>,
}

/// A commit with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub did: String,
    pub version: u64,
    pub data: Cid,
    pub rev: String,
    pub prev: Option<Cid>,
    #[serde(with = "serde_bytes")]
    pub sig: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("commit does not decode: {0}")]
    Decode(#[from] CborError),
    #[error("unsupported commit version {0}")]
    Version(u64),
    #[error("commit signature: {0}")]
    Signature(#[from] KeyError),
}

impl UnsignedCommit {
    pub fn new(did: impl Into<String>, data: Cid, rev: impl Into<String>) -> Self {
        UnsignedCommit { did: did.into(), version: COMMIT_VERSION, data, rev: rev.into(), prev: None }
    }

    pub fn sign(self, key: &Keypair) -> Commit {
        let sig = key.sign(&crate::cbor::encode(&self).expect("commit encodes")).to_vec();
        self.with_sig(sig)
    }

    /// The commit with a signature made elsewhere (e.g. in a batch).
    pub fn with_sig(self, sig: Vec<u8>) -> Commit {
        let UnsignedCommit { did, version, data, rev, prev } = self;
        Commit { did, version, data, rev, prev, sig }
    }
}

impl Commit {
    /// Decodes a commit block; only version 3 is accepted.
    pub fn decode(bytes: &[u8]) -> Result<Self, CommitError> {
        let commit: Commit = crate::cbor::decode(bytes)?;
        if commit.version != COMMIT_VERSION {
            return Err(CommitError::Version(commit.version));
        }
        Ok(commit)
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::cbor::encode(self).expect("commit encodes")
    }

    /// The commit's block CID.
    pub fn cid(&self) -> Cid {
        crate::cid::for_cbor(&self.encode())
    }

    pub fn unsigned(&self) -> UnsignedCommit {
        UnsignedCommit { did: self.did.clone(), version: self.version, data: self.data, rev: self.rev.clone(), prev: self.prev }
    }

    /// Checks the signature against the account's signing key.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CommitError> {
        let unsigned = crate::cbor::encode(&self.unsigned())?;
        Ok(key.verify(&unsigned, &self.sig)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    #[test]
    fn sign_verify_encode() {
        let key = Keypair::generate(KeyType::K256);
        let data = crate::cid::for_cbor(&[0xa0]);
        let commit = UnsignedCommit::new("did:plc:abc", data, "3jzfcijpj2z2a").sign(&key);
        commit.verify(&key.public()).unwrap();
        let bytes = commit.encode();
        // Canonical: the strict decoder accepts it, and `prev: null` is present.
        let value = crate::cbor::decode_value(&bytes).unwrap();
        let ipld_core::ipld::Ipld::Map(map) = value else { panic!() };
        assert_eq!(map.get("prev"), Some(&ipld_core::ipld::Ipld::Null));
        assert_eq!(Commit::decode(&bytes).unwrap(), commit);
        let mut forged = commit.clone();
        forged.rev = "3jzfcijpj2z2b".into();
        assert!(forged.verify(&key.public()).is_err());
        let other = Keypair::generate(KeyType::K256);
        assert!(commit.verify(&other.public()).is_err());
    }
}
