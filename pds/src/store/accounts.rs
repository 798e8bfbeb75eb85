//! Accounts and their credentials: the `accounts` column family (account by DID, handle and
//! email indexes) and the `auth` column family (refresh tokens, app passwords, invite codes).

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, CF_ACCOUNTS, CF_AUTH};

/// An account hosted here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub did: String,
    pub handle: String,
    pub email: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The repository signing key (k256), hex.
    pub signing_key_hex: String,
    pub created_at: String,
    /// `None` when active; else `deactivated`, `takendown`, `suspended`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub invite_code: Option<String>,
    #[serde(default)]
    pub email_confirmed_at: Option<String>,
}

impl Account {
    pub fn active(&self) -> bool {
        self.status.is_none()
    }
}

/// A refresh token's server-side record (its JWT `jti`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    pub did: String,
    pub expires_at: u64,
    /// The app password the session was opened with.
    pub app_password: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPassword {
    pub name: String,
    pub password_hash: String,
    pub created_at: String,
    pub privileged: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteCode {
    pub code: String,
    pub available: u32,
    pub disabled: bool,
    pub for_account: String,
    pub created_by: String,
    pub created_at: String,
    /// `(did, at)` of each use.
    pub uses: Vec<(String, String)>,
}

fn did_k(did: &str) -> String {
    format!("did:{did}")
}
fn handle_k(handle: &str) -> String {
    format!("handle:{}", handle.to_ascii_lowercase())
}
fn email_k(email: &str) -> String {
    format!("email:{}", email.to_ascii_lowercase())
}

impl Store {
    pub fn account(&self, did: &str) -> Result<Option<Account>, StoreError> {
        self.get_json(CF_ACCOUNTS, did_k(did))
    }

    pub fn did_for_handle(&self, handle: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(CF_ACCOUNTS, handle_k(handle))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn did_for_email(&self, email: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(CF_ACCOUNTS, email_k(email))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Writes `account` and its indexes; `old` (if any) has its stale indexes removed.
    pub fn put_account(&self, batch: &mut WriteBatch, account: &Account, old: Option<&Account>) {
        let cf = self.cf(CF_ACCOUNTS);
        if let Some(old) = old {
            if old.handle != account.handle {
                batch.delete_cf(cf, handle_k(&old.handle));
            }
            if let Some(e) = &old.email {
                if account.email.as_deref() != Some(e) {
                    batch.delete_cf(cf, email_k(e));
                }
            }
        }
        self.put_json(batch, CF_ACCOUNTS, did_k(&account.did), account);
        batch.put_cf(cf, handle_k(&account.handle), account.did.as_bytes());
        if let Some(e) = &account.email {
            batch.put_cf(cf, email_k(e), account.did.as_bytes());
        }
    }

    pub fn delete_account(&self, batch: &mut WriteBatch, account: &Account) {
        let cf = self.cf(CF_ACCOUNTS);
        batch.delete_cf(cf, did_k(&account.did));
        batch.delete_cf(cf, handle_k(&account.handle));
        if let Some(e) = &account.email {
            batch.delete_cf(cf, email_k(e));
        }
        batch.delete_cf(cf, crate::api::preferences::key(&account.did));
        let auth = self.cf(CF_AUTH);
        for (name, _) in self.app_passwords(&account.did).unwrap_or_default().into_iter().map(|a| (a.name, ())) {
            batch.delete_cf(auth, app_pw_k(&account.did, &name));
        }
    }

    /// Every account, ordered by DID, after `cursor`.
    pub fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StoreError> {
        let start = did_k(after.unwrap_or(""));
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(CF_ACCOUNTS), rocksdb::IteratorMode::From(start.as_bytes(), rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(b"did:") {
                break;
            }
            let a: Account = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt { what: CF_ACCOUNTS, why: e.to_string() })?;
            if Some(a.did.as_str()) == after {
                continue;
            }
            out.push(a);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    // --- refresh tokens

    pub fn refresh_token(&self, jti: &str) -> Result<Option<RefreshToken>, StoreError> {
        self.get_json(CF_AUTH, format!("refresh:{jti}"))
    }

    pub fn put_refresh_token(&self, batch: &mut WriteBatch, jti: &str, t: &RefreshToken) {
        self.put_json(batch, CF_AUTH, format!("refresh:{jti}"), t);
    }

    pub fn delete_refresh_token(&self, batch: &mut WriteBatch, jti: &str) {
        batch.delete_cf(self.cf(CF_AUTH), format!("refresh:{jti}"));
    }

    // --- app passwords

    pub fn app_passwords(&self, did: &str) -> Result<Vec<AppPassword>, StoreError> {
        let prefix = app_pw_k(did, "");
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(CF_AUTH), rocksdb::IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt { what: CF_AUTH, why: e.to_string() })?);
        }
        Ok(out)
    }

    pub fn put_app_password(&self, batch: &mut WriteBatch, did: &str, p: &AppPassword) {
        self.put_json(batch, CF_AUTH, app_pw_k(did, &p.name), p);
    }

    pub fn delete_app_password(&self, batch: &mut WriteBatch, did: &str, name: &str) {
        batch.delete_cf(self.cf(CF_AUTH), app_pw_k(did, name));
    }

    // --- invite codes

    pub fn invite_code(&self, code: &str) -> Result<Option<InviteCode>, StoreError> {
        self.get_json(CF_AUTH, format!("invite:{code}"))
    }

    pub fn put_invite_code(&self, batch: &mut WriteBatch, c: &InviteCode) {
        self.put_json(batch, CF_AUTH, format!("invite:{}", c.code), c);
    }

    /// Invite codes created for `did` (or, with `"admin"`, by the operator).
    pub fn invite_codes_for(&self, did: &str) -> Result<Vec<InviteCode>, StoreError> {
        let prefix = b"invite:";
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_AUTH), rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            let c: InviteCode = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt { what: CF_AUTH, why: e.to_string() })?;
            if c.for_account == did {
                out.push(c);
            }
        }
        Ok(out)
    }
}

fn app_pw_k(did: &str, name: &str) -> String {
    format!("apppw:{did}\0{name}")
}
