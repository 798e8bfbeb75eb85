//! The accounts file: every account of a synthetic world with its signing key, one JSON object
//! per line, as `world --accounts-out` writes it and `read` loads it.
//!
//! It holds private keys, so it exists only for `loadgen world`'s synthetic accounts, whose
//! keys follow from the seed anyway: a read driver signs service-auth tokens as those accounts
//! (the viewer of a timeline) with it.

use std::io::{BufRead, Write};
use std::path::Path;

use atproto::keys::{KeyType, Keypair};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AccountsFileError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}, line {line}: {message}")]
    Invalid { path: String, line: usize, message: String },
}

/// One line of the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLine {
    pub did: String,
    pub handle: String,
    /// `k256` or `p256`.
    pub key_type: String,
    /// The 32-byte private key, hex.
    pub private_key_hex: String,
}

/// An account read back, its key parsed.
pub struct AccountKey {
    pub did: String,
    pub handle: String,
    pub key: Keypair,
}

fn key_type_name(k: KeyType) -> &'static str {
    match k {
        KeyType::K256 => "k256",
        KeyType::P256 => "p256",
    }
}

/// Writes `accounts` (DID, handle, key) to `path`.
pub fn write(path: &Path, accounts: &[(String, String, Keypair)]) -> Result<(), AccountsFileError> {
    let io = |source| AccountsFileError::Io { path: path.display().to_string(), source };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for (did, handle, key) in accounts {
        let private_key_hex = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let line = AccountLine { did: did.clone(), handle: handle.clone(), key_type: key_type_name(key.key_type()).into(), private_key_hex };
        serde_json::to_writer(&mut out, &line).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Reads an accounts file.
pub fn read(path: &Path) -> Result<Vec<AccountKey>, AccountsFileError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| AccountsFileError::Io { path: shown.clone(), source })?;
    let mut accounts = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| AccountsFileError::Io { path: shown.clone(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |message: String| AccountsFileError::Invalid { path: shown.clone(), line: i + 1, message };
        let a: AccountLine = serde_json::from_str(&line).map_err(|e| invalid(e.to_string()))?;
        let kind = match a.key_type.as_str() {
            "k256" => KeyType::K256,
            "p256" => KeyType::P256,
            other => return Err(invalid(format!("key_type {other:?} is neither k256 nor p256"))),
        };
        let key = Keypair::from_hex(kind, &a.private_key_hex).map_err(|e| invalid(e.to_string()))?;
        accounts.push(AccountKey { did: a.did, handle: a.handle, key });
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_and_sign_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.jsonl");
        let keys = vec![
            ("did:plc:aaaa".to_string(), "a.test".to_string(), Keypair::generate(KeyType::K256)),
            ("did:plc:bbbb".to_string(), "b.test".to_string(), Keypair::generate(KeyType::P256)),
        ];
        write(&path, &keys).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        for ((did, handle, key), got) in keys.iter().zip(&back) {
            assert_eq!((&got.did, &got.handle), (did, handle));
            assert_eq!(got.key.did_key(), key.did_key());
        }
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.jsonl");
        std::fs::write(&path, "{\"did\":\"did:plc:a\",\"handle\":\"a\",\"key_type\":\"ed25519\",\"private_key_hex\":\"00\"}\n").unwrap();
        let err = read(&path).err().unwrap().to_string();
        assert!(err.contains("line 1") && err.contains("ed25519"), "{err}");
    }
}
