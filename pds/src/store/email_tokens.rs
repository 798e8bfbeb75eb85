//! One-time tokens sent by email (`auth` column family, `emailtoken:<token>` → [`EmailToken`]).
//!
//! A token is bound to one account and one purpose, expires after [`TOKEN_TTL_MS`], and is
//! deleted when used. The token itself is the key so `resetPassword`, which names no
//! account, can find it.

use rand::Rng;
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use super::events::now_ms;
use super::{Store, StoreError, CF_AUTH};

/// Tokens are valid for 15 minutes, as in the reference PDS.
pub const TOKEN_TTL_MS: u64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    DeleteAccount,
    ResetPassword,
    ConfirmEmail,
    UpdateEmail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailToken {
    pub did: String,
    pub purpose: Purpose,
    pub expires_at_ms: u64,
}

/// Why a presented token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Invalid,
    Expired,
}

fn key(token: &str) -> String {
    format!("emailtoken:{}", token.trim().to_ascii_lowercase())
}

/// `xxxxx-xxxxx` in lowercase base32 letters and digits, easy to type from an email.
fn new_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    let mut part = || -> String { (0..5).map(|_| ALPHABET[rng.gen_range(0..32)] as char).collect() };
    format!("{}-{}", part(), part())
}

impl Store {
    /// Adds a new token for `did` and `purpose` to `batch` and returns it.
    pub fn issue_email_token(&self, batch: &mut WriteBatch, did: &str, purpose: Purpose) -> String {
        let token = new_token();
        let record = EmailToken { did: did.into(), purpose, expires_at_ms: now_ms() + TOKEN_TTL_MS };
        self.put_json(batch, CF_AUTH, key(&token), &record);
        token
    }

    /// The account a token was issued to, if it is for `purpose` and unexpired; adds its
    /// deletion to `batch` (a token works once).
    pub fn take_email_token(&self, batch: &mut WriteBatch, token: &str, purpose: Purpose) -> Result<Result<String, TokenProblem>, StoreError> {
        let Some(record) = self.get_json::<EmailToken>(CF_AUTH, key(token))? else {
            return Ok(Err(TokenProblem::Invalid));
        };
        if record.purpose != purpose {
            return Ok(Err(TokenProblem::Invalid));
        }
        if record.expires_at_ms < now_ms() {
            return Ok(Err(TokenProblem::Expired));
        }
        batch.delete_cf(self.cf(CF_AUTH), key(token));
        Ok(Ok(record.did))
    }

    /// Deletes expired tokens; returns how many.
    pub fn sweep_email_tokens(&self) -> Result<usize, StoreError> {
        let prefix = b"emailtoken:";
        let mut batch = WriteBatch::default();
        let now = now_ms();
        let mut n = 0;
        for item in self.db.prefix_iterator_cf(self.cf(CF_AUTH), prefix) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            let expired = serde_json::from_slice::<EmailToken>(&v).map_or(true, |t| t.expires_at_ms < now);
            if expired {
                batch.delete_cf(self.cf(CF_AUTH), k);
                n += 1;
            }
        }
        self.db.write(batch)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_typed_shape() {
        let t = new_token();
        assert_eq!(t.len(), 11);
        assert_eq!(&t[5..6], "-");
        assert!(t.chars().all(|c| c == '-' || c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
        assert_ne!(new_token(), t);
    }

    #[test]
    fn a_token_works_once_for_its_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 0).unwrap();
        let mut batch = WriteBatch::default();
        let token = store.issue_email_token(&mut batch, "did:plc:a", Purpose::DeleteAccount);
        store.db.write(batch).unwrap();
        let mut b = WriteBatch::default();
        assert_eq!(store.take_email_token(&mut b, &token, Purpose::ResetPassword).unwrap(), Err(TokenProblem::Invalid));
        assert_eq!(store.take_email_token(&mut b, "aaaaa-aaaaa", Purpose::DeleteAccount).unwrap(), Err(TokenProblem::Invalid));
        let mut b = WriteBatch::default();
        assert_eq!(store.take_email_token(&mut b, &token.to_uppercase(), Purpose::DeleteAccount).unwrap(), Ok("did:plc:a".to_string()));
        store.db.write(b).unwrap();
        let mut b = WriteBatch::default();
        assert_eq!(store.take_email_token(&mut b, &token, Purpose::DeleteAccount).unwrap(), Err(TokenProblem::Invalid));
    }
}
