//! Authentication as the reference PDS does it: HS256 access/refresh JWTs signed with
//! `PDS_JWT_SECRET` (scopes `com.atproto.access`, `com.atproto.refresh`,
//! `com.atproto.appPass`, `com.atproto.appPassPrivileged`), argon2id passwords, HTTP basic
//! auth (`admin:PDS_ADMIN_PASSWORD`) for operator endpoints, and ES256K service-auth tokens
//! signed with an account's repository key.

use atproto::keys::Keypair;
use atproto::xrpc::XrpcError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const SCOPE_ACCESS: &str = "com.atproto.access";
pub const SCOPE_REFRESH: &str = "com.atproto.refresh";
pub const SCOPE_APP_PASS: &str = "com.atproto.appPass";
pub const SCOPE_APP_PASS_PRIVILEGED: &str = "com.atproto.appPassPrivileged";

const ACCESS_TTL_SECS: u64 = 2 * 60 * 60;
const REFRESH_TTL_SECS: u64 = 90 * 24 * 60 * 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub scope: String,
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// A verified access token.
#[derive(Debug, Clone)]
pub struct Access {
    pub did: String,
    pub scope: String,
}

impl Access {
    pub fn is_app_password(&self) -> bool {
        self.scope == SCOPE_APP_PASS || self.scope == SCOPE_APP_PASS_PRIVILEGED
    }
}

/// A verified refresh token.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub did: String,
    pub jti: String,
}

/// Issued tokens.
pub struct Session {
    pub access_jwt: String,
    pub refresh_jwt: String,
    pub jti: String,
    pub refresh_expires_at: u64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    service_did: String,
    admin_password: String,
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn random_id(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(buf)
}

impl Auth {
    pub fn new(secret: &str, service_did: &str, admin_password: &str) -> Auth {
        Auth {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            service_did: service_did.into(),
            admin_password: admin_password.into(),
        }
    }

    /// Access and refresh tokens for `did`; `app_password` is `Some(privileged)` for sessions
    /// opened with an app password.
    pub fn issue(&self, did: &str, app_password: Option<bool>) -> Session {
        let now = now_secs();
        let scope = match app_password {
            None => SCOPE_ACCESS,
            Some(false) => SCOPE_APP_PASS,
            Some(true) => SCOPE_APP_PASS_PRIVILEGED,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let access = Claims { scope: scope.into(), sub: did.into(), aud: self.service_did.clone(), iat: now, exp: now + ACCESS_TTL_SECS, jti: None };
        let access_jwt = jsonwebtoken::encode(&header, &access, &self.encoding).expect("HS256 encodes");
        let jti = random_id(24);
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("refresh+jwt".into());
        let refresh = Claims {
            scope: SCOPE_REFRESH.into(),
            sub: did.into(),
            aud: self.service_did.clone(),
            iat: now,
            exp: now + REFRESH_TTL_SECS,
            jti: Some(jti.clone()),
        };
        let refresh_jwt = jsonwebtoken::encode(&header, &refresh, &self.encoding).expect("HS256 encodes");
        Session { access_jwt, refresh_jwt, jti, refresh_expires_at: now + REFRESH_TTL_SECS }
    }

    fn verify(&self, headers: &HeaderMap, scopes: &[&str]) -> Result<Claims, XrpcError> {
        let token = bearer(headers).ok_or_else(|| XrpcError::auth_required_named("AuthMissing", "Authentication Required"))?;
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[&self.service_did]);
        v.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => XrpcError::expired_token("Token has expired"),
            _ => XrpcError::invalid_token("Token could not be verified"),
        })?;
        if !claims.claims.sub.starts_with("did:") {
            return Err(XrpcError::invalid_token("Malformed token"));
        }
        if !scopes.contains(&claims.claims.scope.as_str()) {
            return Err(XrpcError::invalid_token("Bad token scope"));
        }
        Ok(claims.claims)
    }

    /// An access token (full or app password).
    pub fn access(&self, headers: &HeaderMap) -> Result<Access, XrpcError> {
        let c = self.verify(headers, &[SCOPE_ACCESS, SCOPE_APP_PASS, SCOPE_APP_PASS_PRIVILEGED])?;
        Ok(Access { did: c.sub, scope: c.scope })
    }

    /// A full-access token (not an app password): account settings, app passwords.
    pub fn access_full(&self, headers: &HeaderMap) -> Result<Access, XrpcError> {
        let c = self.verify(headers, &[SCOPE_ACCESS])?;
        Ok(Access { did: c.sub, scope: c.scope })
    }

    pub fn refresh(&self, headers: &HeaderMap) -> Result<Refresh, XrpcError> {
        let c = self.verify(headers, &[SCOPE_REFRESH])?;
        let jti = c.jti.ok_or_else(|| XrpcError::auth_required_named("MissingTokenId", "Unexpected missing refresh token id"))?;
        Ok(Refresh { did: c.sub, jti })
    }

    /// Basic auth `admin:<PDS_ADMIN_PASSWORD>`.
    pub fn admin(&self, headers: &HeaderMap) -> Result<(), XrpcError> {
        let given = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if atproto::xrpc::is_admin_basic_auth(given, &self.admin_password) {
            Ok(())
        } else {
            Err(XrpcError::auth_required("Authentication Required"))
        }
    }

    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        self.admin(headers).is_ok()
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// argon2id hash (PHC string). CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashes").to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// An app password in the reference's shape: `xxxx-xxxx-xxxx-xxxx`.
pub fn new_app_password() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..4).map(|_| (0..4).map(|_| CHARS[rand::random::<usize>() % CHARS.len()] as char).collect::<String>()).collect::<Vec<_>>().join("-")
}

/// A service-auth JWT from `iss`, signed with its repository key.
pub fn service_jwt(key: &Keypair, iss: &str, aud: &str, lxm: Option<&str>, exp: u64) -> String {
    let claims =
        atproto::service_auth::Claims { iss: iss.into(), aud: aud.into(), exp, iat: Some(now_secs()), lxm: lxm.map(Into::into), jti: Some(random_id(16)) };
    atproto::service_auth::sign(key, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_with_scopes() {
        let auth = Auth::new("secret", "did:web:pds.test", "pw");
        let s = auth.issue("did:plc:abc", None);
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {}", s.access_jwt).parse().unwrap());
        assert_eq!(auth.access(&h).unwrap().did, "did:plc:abc");
        assert_eq!(auth.refresh(&h).unwrap_err().error, "InvalidToken");
        h.insert("authorization", format!("Bearer {}", s.refresh_jwt).parse().unwrap());
        assert_eq!(auth.refresh(&h).unwrap().jti, s.jti);
        assert_eq!(auth.access(&h).unwrap_err().error, "InvalidToken");
        let other = Auth::new("other", "did:web:pds.test", "pw");
        assert_eq!(other.refresh(&h).unwrap_err().error, "InvalidToken");
        assert_eq!(auth.access(&HeaderMap::new()).unwrap_err().error, "AuthMissing");
        let s = auth.issue("did:plc:abc", Some(false));
        h.insert("authorization", format!("Bearer {}", s.access_jwt).parse().unwrap());
        assert!(auth.access(&h).unwrap().is_app_password());
        assert_eq!(auth.access_full(&h).unwrap_err().error, "InvalidToken");
    }

    #[test]
    fn admin_basic_auth_and_passwords() {
        let auth = Auth::new("s", "did:web:x", "hunter2");
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:hunter2")).parse().unwrap());
        assert!(auth.is_admin(&h));
        h.insert("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:nope")).parse().unwrap());
        assert!(!auth.is_admin(&h));
        let hash = hash_password("pw");
        assert!(verify_password("pw", &hash) && !verify_password("pw2", &hash));
        assert_eq!(new_app_password().len(), 19);
    }
}
