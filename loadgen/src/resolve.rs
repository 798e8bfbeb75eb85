//! Signing keys for verifying commits: from a file of DID documents (a JSON object
//! `DID → document`, optionally zstd, as in the shared corpus), or through the workspace's
//! `plc::Resolver` from a PLC directory and, for `did:web`, `/.well-known/did.json` (loopback
//! hosts allowed: loadgen is a testbed tool). Results, including failures, are cached, so each
//! DID is looked up once.

use std::collections::HashMap;
use std::path::Path;

use atproto::did_doc::DidDocument;
use atproto::keys::PublicKey;
use url::Url;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: no DID document source covers this DID")]
    NoSource(String),
    #[error("{did}: {message}")]
    Lookup { did: String, message: String },
    #[error("{did}: document has no usable signing key: {message}")]
    Key { did: String, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("DID resolver: {0}")]
    Resolver(String),
}

pub struct Resolver {
    docs: HashMap<String, DidDocument>,
    plc: Option<Url>,
    web: bool,
    net: plc::Resolver,
    /// Every answer, errors too: a compare run asks again for each of an account's events.
    cache: moka::sync::Cache<String, Result<PublicKey, ResolveError>>,
}

impl Resolver {
    /// `plc`: a PLC directory base URL for `did:plc`; `web`: whether to fetch `did:web` documents.
    pub fn new(plc: Option<Url>, web: bool) -> Result<Self, LoadError> {
        let net = plc::Resolver::new(plc::ResolverConfig {
            plc_url: plc.as_ref().map_or("https://plc.directory".into(), |u| u.as_str().trim_end_matches('/').into()),
            allow_insecure_loopback: true,
            ..Default::default()
        })
        .map_err(|e| LoadError::Resolver(e.to_string()))?;
        Ok(Resolver { docs: HashMap::new(), plc, web, net, cache: moka::sync::Cache::new(1_000_000) })
    }

    /// Adds the documents of a JSON file (`.zst` is decompressed).
    pub fn load_file(&mut self, path: &Path) -> Result<usize, LoadError> {
        let err = |message: String| LoadError::File { path: path.display().to_string(), message };
        let raw = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let raw = if path.extension().is_some_and(|e| e == "zst") { zstd::decode_all(raw.as_slice()).map_err(|e| err(e.to_string()))? } else { raw };
        let docs: HashMap<String, DidDocument> = serde_json::from_slice(&raw).map_err(|e| err(e.to_string()))?;
        let n = docs.len();
        self.docs.extend(docs);
        Ok(n)
    }

    /// Adds one document.
    pub fn insert(&mut self, did: String, doc: DidDocument) {
        self.docs.insert(did, doc);
    }

    /// Whether any source is configured.
    pub fn is_configured(&self) -> bool {
        !self.docs.is_empty() || self.plc.is_some() || self.web
    }

    /// The `#atproto` signing key of `did`.
    pub async fn signing_key(&self, did: &str) -> Result<PublicKey, ResolveError> {
        if let Some(hit) = self.cache.get(did) {
            return hit;
        }
        let result = self.lookup(did).await.and_then(|doc| doc.signing_key().map_err(|e| ResolveError::Key { did: did.into(), message: e.to_string() }));
        self.cache.insert(did.into(), result.clone());
        result
    }

    async fn lookup(&self, did: &str) -> Result<DidDocument, ResolveError> {
        if let Some(doc) = self.docs.get(did) {
            return Ok(doc.clone());
        }
        let covered = (did.starts_with("did:plc:") && self.plc.is_some()) || (did.starts_with("did:web:") && self.web);
        if !covered {
            return Err(ResolveError::NoSource(did.into()));
        }
        self.net.resolve(did).await.map_err(|e| ResolveError::Lookup { did: did.into(), message: e.to_string() })
    }
}
