//! DID documents as the AT Protocol uses them (`did:plc` and `did:web`): parsing (tolerant of
//! fields and shapes atproto does not use), the atproto accessors (signing key, PDS, handle),
//! rendering from PLC state, and the `did:web` resolution URL.
//!
//! Unknown members are kept in `extra` so a document read and re-served is not truncated.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::keys::{KeyError, KeyType, PublicKey};
use crate::plc::PlcState;

pub const CONTEXT_DID_V1: &str = "https://www.w3.org/ns/did/v1";
pub const CONTEXT_MULTIKEY_V1: &str = "https://w3id.org/security/multikey/v1";
pub const CONTEXT_SECP256K1_2019: &str = "https://w3id.org/security/suites/secp256k1-2019/v1";
pub const CONTEXT_ECDSA_2019: &str = "https://w3id.org/security/suites/ecdsa-2019/v1";

/// The atproto signing key's fragment and the PDS service's fragment and type.
pub const ATPROTO_KEY_ID: &str = "#atproto";
pub const PDS_SERVICE_ID: &str = "#atproto_pds";
pub const PDS_SERVICE_TYPE: &str = "AtprotoPersonalDataServer";

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DidDocError {
    #[error("no #atproto verification method")]
    NoSigningKey,
    #[error("#atproto verification method has no publicKeyMultibase")]
    NoMultibase,
    #[error("unsupported verification method type {0:?}")]
    UnsupportedKeyType(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("not a usable atproto did:web: {0}")]
    InvalidDidWeb(String),
}

/// A W3C DID document, restricted to what atproto reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidDocument {
    /// Strings in practice; W3C also allows a single string or embedded objects.
    #[serde(rename = "@context", default, deserialize_with = "one_or_many")]
    pub context: Vec<Value>,
    pub id: String,
    #[serde(default)]
    pub also_known_as: Vec<String>,
    #[serde(default)]
    pub verification_method: Vec<VerificationMethod>,
    #[serde(default)]
    pub service: Vec<DidService>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub controller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_multibase: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidService {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// A URL string for atproto; W3C also allows maps and sets.
    pub service_endpoint: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items,
        Value::Null => vec![],
        single => vec![single],
    })
}

impl DidDocument {
    /// Whether `id` names `fragment` (e.g. `#atproto`) in this document: relative or absolute.
    fn is_fragment(&self, id: &str, fragment: &str) -> bool {
        id == fragment || id.strip_prefix(self.id.as_str()) == Some(fragment)
    }

    /// The atproto signing key: the `#atproto` method, as `Multikey` (multicodec-prefixed) or
    /// a legacy `EcdsaSecp256{k,r}1VerificationKey2019` (bare key bytes).
    pub fn signing_key(&self) -> Result<PublicKey, DidDocError> {
        let vm = self.verification_method.iter().find(|vm| self.is_fragment(&vm.id, ATPROTO_KEY_ID)).ok_or(DidDocError::NoSigningKey)?;
        let mb = vm.public_key_multibase.as_deref().ok_or(DidDocError::NoMultibase)?;
        let legacy = match vm.kind.as_str() {
            "Multikey" => None,
            "EcdsaSecp256k1VerificationKey2019" => Some(KeyType::K256),
            "EcdsaSecp256r1VerificationKey2019" => Some(KeyType::P256),
            other => return Err(DidDocError::UnsupportedKeyType(other.into())),
        };
        Ok(PublicKey::from_multibase(mb, legacy)?)
    }

    /// The endpoint of service `fragment` (e.g. `#atproto_pds`, `#bsky_appview`), if it is
    /// present, of type `kind` when given, and an http(s) URL.
    pub fn service_endpoint(&self, fragment: &str, kind: Option<&str>) -> Option<&str> {
        self.service
            .iter()
            .find(|s| self.is_fragment(&s.id, fragment) && kind.is_none_or(|k| s.kind == k))
            .and_then(|s| s.service_endpoint.as_str())
            .filter(|url| is_http_url(url))
    }

    /// The PDS URL (`#atproto_pds` of type `AtprotoPersonalDataServer`).
    pub fn pds_endpoint(&self) -> Option<&str> {
        self.service_endpoint(PDS_SERVICE_ID, Some(PDS_SERVICE_TYPE))
    }

    /// The claimed handle: the first `at://` alias without its prefix. Unverified: confirm it
    /// by resolving the handle back to this DID.
    pub fn handle(&self) -> Option<&str> {
        self.also_known_as.iter().find_map(|a| a.strip_prefix("at://"))
    }

    /// The document the PLC directory serves for `state`.
    pub fn from_plc_state(did: &str, state: &PlcState) -> Self {
        let mut context: Vec<Value> = vec![CONTEXT_DID_V1.into(), CONTEXT_MULTIKEY_V1.into()];
        let mut verification_method = Vec::new();
        for (name, did_key) in &state.verification_methods {
            // Unknown key types are still listed, without a suite context.
            let suite = match PublicKey::from_did_key(did_key).map(|k| k.key_type()) {
                Ok(KeyType::K256) => Some(CONTEXT_SECP256K1_2019),
                Ok(KeyType::P256) => Some(CONTEXT_ECDSA_2019),
                Err(_) => None,
            };
            if let Some(suite) = suite.filter(|s| !context.iter().any(|c| c == s)) {
                context.push(suite.into());
            }
            verification_method.push(VerificationMethod {
                id: format!("{did}#{name}"),
                kind: "Multikey".into(),
                controller: did.into(),
                public_key_multibase: Some(did_key.strip_prefix("did:key:").unwrap_or(did_key).into()),
                extra: Map::new(),
            });
        }
        let service = state
            .services
            .iter()
            .map(|(name, s)| DidService { id: format!("#{name}"), kind: s.kind.clone(), service_endpoint: s.endpoint.clone().into(), extra: Map::new() })
            .collect();
        DidDocument { context, id: did.into(), also_known_as: state.also_known_as.clone(), verification_method, service, extra: Map::new() }
    }

    /// A `did:plc` document with the usual atproto contents.
    pub fn new_plc(did: &str, handle: &str, signing_key: &PublicKey, pds: &str) -> Self {
        let state = PlcState::atproto(vec![], &signing_key.to_did_key(), handle, pds);
        Self::from_plc_state(did, &state)
    }

    /// A `did:web` document with the usual atproto contents, shaped like a PLC one.
    pub fn new_web(did: &str, handle: &str, signing_key: &PublicKey, pds: &str) -> Self {
        Self::new_plc(did, handle, signing_key, pds)
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// The `did:web` of a service at `host` and, unless it is the default, `port`
/// (`did:web:host%3Aport`): the inverse of [`did_web_url`].
pub fn did_web_for(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("did:web:{host}%3A{p}"),
        None => format!("did:web:{host}"),
    }
}

/// Where a `did:web` document lives: `did:web:host[%3Aport]` →
/// `https://host[:port]/.well-known/did.json`. atproto allows no path segments. `localhost`
/// is fetched over plain http, as the reference resolver does for development.
pub fn did_web_url(did: &str) -> Result<String, DidDocError> {
    let bad = |why: &str| DidDocError::InvalidDidWeb(format!("{did}: {why}"));
    let id = did.strip_prefix("did:web:").ok_or_else(|| bad("not did:web"))?;
    if id.contains(':') {
        return Err(bad("paths are not allowed in atproto"));
    }
    let (host, port) = match id.split_once('%') {
        None => (id, None),
        Some((host, rest)) => {
            let port = rest.strip_prefix("3A").or_else(|| rest.strip_prefix("3a")).ok_or_else(|| bad("only %3A (port) may be percent-encoded"))?;
            (host, Some(port))
        }
    };
    let host_ok = !host.is_empty() && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !host_ok {
        return Err(bad("invalid hostname"));
    }
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return Err(bad("invalid port"));
        }
    }
    let scheme = if host == "localhost" { "http" } else { "https" };
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}/.well-known/did.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[test]
    fn did_web_urls() {
        assert_eq!(did_web_for("pds.test", Some(2583)), "did:web:pds.test%3A2583");
        assert_eq!(did_web_for("example.com", None), "did:web:example.com");
        assert_eq!(did_web_url("did:web:example.com").unwrap(), "https://example.com/.well-known/did.json");
        assert_eq!(did_web_url("did:web:pds.test%3A2583").unwrap(), "https://pds.test:2583/.well-known/did.json");
        assert_eq!(did_web_url("did:web:localhost%3a8080").unwrap(), "http://localhost:8080/.well-known/did.json");
        for bad in [
            "did:plc:abc",
            "did:web:",
            "did:web:example.com:user:alice",
            "did:web:exa%20mple.com",
            "did:web:example.com%3A",
            "did:web:example.com%3A99999",
            "did:web:exa_mple.com",
            "did:web:example..com",
        ] {
            assert!(did_web_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_verification_method_types() {
        // The legacy suites carry bare compressed key bytes under multibase.
        for (kind, ty) in [(KeyType::K256, "EcdsaSecp256k1VerificationKey2019"), (KeyType::P256, "EcdsaSecp256r1VerificationKey2019")] {
            let key = Keypair::generate(kind).public();
            let bare = format!("z{}", bs58::encode(key.compressed()).into_string());
            let doc: DidDocument = serde_json::from_value(serde_json::json!({
                "@context": "https://www.w3.org/ns/did/v1",
                "id": "did:web:example.com",
                "verificationMethod": [{"id": "#atproto", "type": ty, "controller": "did:web:example.com", "publicKeyMultibase": bare}],
                "service": [{"id": "did:web:example.com#atproto_pds", "type": PDS_SERVICE_TYPE, "serviceEndpoint": "https://pds.example.com"}],
            }))
            .unwrap();
            assert_eq!(doc.signing_key().unwrap(), key);
            assert_eq!(doc.pds_endpoint(), Some("https://pds.example.com"));
            assert_eq!(doc.handle(), None);
        }
    }

    #[test]
    fn tolerant_parsing_and_missing_parts() {
        let doc: DidDocument = serde_json::from_value(serde_json::json!({
            "id": "did:web:example.com",
            "alsoKnownAs": ["https://example.com", "at://alice.example.com"],
            "authentication": ["#atproto"],
            "verificationMethod": [{"id": "#other", "type": "JsonWebKey2020", "publicKeyJwk": {"kty": "EC"}}],
            "service": [
                {"id": "#atproto_pds", "type": "SomethingElse", "serviceEndpoint": "https://a.example"},
                {"id": "#bsky_appview", "type": "BskyAppView", "serviceEndpoint": {"origins": ["x"]}}
            ],
        }))
        .unwrap();
        assert_eq!(doc.handle(), Some("alice.example.com"));
        assert_eq!(doc.signing_key(), Err(DidDocError::NoSigningKey));
        assert_eq!(doc.pds_endpoint(), None, "wrong service type");
        assert_eq!(doc.service_endpoint("#bsky_appview", None), None, "not a URL string");
        assert!(doc.extra.contains_key("authentication"));
        let back: DidDocument = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn new_web_document() {
        let key = Keypair::generate(KeyType::P256).public();
        let doc = DidDocument::new_web("did:web:alice.test", "alice.test", &key, "pds.test");
        assert_eq!(doc.signing_key().unwrap(), key);
        assert_eq!(doc.pds_endpoint(), Some("https://pds.test"));
        assert_eq!(doc.handle(), Some("alice.test"));
        assert!(doc.context.iter().any(|c| c == CONTEXT_ECDSA_2019));
    }
}
