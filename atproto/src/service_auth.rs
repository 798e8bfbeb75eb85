//! Inter-service authentication: the short-lived JWT a PDS signs with an account's repository
//! key when it calls another service on the account's behalf (the AppView through
//! `atproto-proxy`, a new PDS during migration). Claims: `iss` the account's DID (optionally
//! with a `#fragment` naming the service), `aud` the receiving service's DID, `lxm` the XRPC
//! method the token is good for, `exp` (and `iat`, `jti`).
//!
//! This module only signs and checks; finding the issuer's key (its DID document's
//! `#atproto` verification method) is the caller's job, because that needs the network.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys::{Keypair, PublicKey};

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServiceAuthError {
    #[error("not a JWT (three base64url parts)")]
    Malformed,
    #[error("JWT header or claims are not valid JSON: {0}")]
    Json(String),
    #[error("JWT algorithm {got} does not match the issuer's {want} key")]
    Algorithm { got: String, want: &'static str },
    #[error("JWT signature does not verify against the issuer's key")]
    BadSignature,
    #[error("JWT expired")]
    Expired,
    #[error("JWT audience {got:?} is not this service ({want})")]
    WrongAudience { got: String, want: String },
    #[error("JWT is for method {got:?}, not {want}")]
    WrongMethod { got: Option<String>, want: String },
}

/// The claims of a service-auth token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lxm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Claims {
    /// The issuing account's DID, without a service fragment.
    pub fn issuer_did(&self) -> &str {
        self.iss.split('#').next().unwrap_or(&self.iss)
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(default)]
    typ: Option<String>,
    alg: String,
}

/// Signs `claims` with the issuer's repository key (`ES256K` or `ES256`, by the key's type).
pub fn sign(key: &Keypair, claims: &Claims) -> String {
    let header = Header { typ: Some("JWT".into()), alg: key.key_type().jwt_alg().into() };
    // Serializing these plain structs cannot fail.
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header")),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims"))
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Reads the claims without checking anything, to learn whose key to fetch.
pub fn peek(token: &str) -> Result<Claims, ServiceAuthError> {
    let (_, claims, _) = parts(token)?;
    json(&claims)
}

/// Checks `token` against the issuer's key: algorithm, signature, expiry (against `now`, Unix
/// seconds), audience and, when `method` is given, `lxm`. A token without `lxm` is refused
/// for a method, as the reference implementation does.
pub fn verify(token: &str, key: &PublicKey, audience: &str, method: Option<&str>, now: u64) -> Result<Claims, ServiceAuthError> {
    let (header, claims_bytes, sig) = parts(token)?;
    let header: Header = json(&header)?;
    let want = key.key_type().jwt_alg();
    if header.alg != want {
        return Err(ServiceAuthError::Algorithm { got: header.alg, want });
    }
    let signing_input = &token[..token.rfind('.').ok_or(ServiceAuthError::Malformed)?];
    key.verify(signing_input.as_bytes(), &sig).map_err(|_| ServiceAuthError::BadSignature)?;
    let claims: Claims = json(&claims_bytes)?;
    if claims.exp <= now {
        return Err(ServiceAuthError::Expired);
    }
    if claims.aud != audience {
        return Err(ServiceAuthError::WrongAudience { got: claims.aud, want: audience.into() });
    }
    if let Some(method) = method {
        if claims.lxm.as_deref() != Some(method) {
            return Err(ServiceAuthError::WrongMethod { got: claims.lxm, want: method.into() });
        }
    }
    Ok(claims)
}

/// A JWT's header, claims and signature, decoded from base64url.
type Parts = (Vec<u8>, Vec<u8>, Vec<u8>);

fn parts(token: &str) -> Result<Parts, ServiceAuthError> {
    let mut it = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(ServiceAuthError::Malformed);
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| ServiceAuthError::Malformed);
    Ok((decode(h)?, decode(c)?, decode(s)?))
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ServiceAuthError> {
    serde_json::from_slice(bytes).map_err(|e| ServiceAuthError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    fn claims(exp: u64, lxm: Option<&str>) -> Claims {
        Claims { iss: "did:plc:alice#atproto_pds".into(), aud: "did:web:appview".into(), exp, iat: Some(1), lxm: lxm.map(Into::into), jti: None }
    }

    #[test]
    fn a_signed_token_verifies_and_every_claim_is_checked() {
        for kind in [KeyType::K256, KeyType::P256] {
            let key = Keypair::generate(kind);
            let token = sign(&key, &claims(100, Some("app.bsky.feed.getTimeline")));
            let got = verify(&token, &key.public(), "did:web:appview", Some("app.bsky.feed.getTimeline"), 50).unwrap();
            assert_eq!(got.issuer_did(), "did:plc:alice");
            assert_eq!(peek(&token).unwrap(), got);
            assert_eq!(verify(&token, &key.public(), "did:web:appview", None, 100), Err(ServiceAuthError::Expired));
            assert!(matches!(verify(&token, &key.public(), "did:web:other", None, 50), Err(ServiceAuthError::WrongAudience { .. })));
            assert!(matches!(
                verify(&token, &key.public(), "did:web:appview", Some("app.bsky.actor.getProfile"), 50),
                Err(ServiceAuthError::WrongMethod { .. })
            ));
            let other = Keypair::generate(kind);
            assert_eq!(verify(&token, &other.public(), "did:web:appview", None, 50), Err(ServiceAuthError::BadSignature));
        }
    }

    #[test]
    fn tampered_or_malformed_tokens_are_refused() {
        let key = Keypair::generate(KeyType::K256);
        let token = sign(&key, &claims(100, None));
        assert!(matches!(verify(&token, &key.public(), "did:web:appview", Some("x.y.z"), 50), Err(ServiceAuthError::WrongMethod { got: None, .. })));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(1_000_000, None)).unwrap());
        parts[1] = &forged;
        assert_eq!(verify(&parts.join("."), &key.public(), "did:web:appview", None, 50), Err(ServiceAuthError::BadSignature));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(verify(bad, &key.public(), "did:web:appview", None, 50).is_err(), "{bad}");
        }
        let p256 = Keypair::generate(KeyType::P256);
        assert!(matches!(verify(&token, &p256.public(), "did:web:appview", None, 50), Err(ServiceAuthError::Algorithm { .. })));
    }
}
