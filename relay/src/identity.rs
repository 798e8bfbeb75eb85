//! DID resolution for verification: the signing key and PDS host of an account, from the PLC
//! directory (`did:plc`) or the `/.well-known/did.json` of a `did:web`, cached with expiry.
//! `#identity` events purge the cache entry so the next event re-resolves.
//!
//! (The workspace's `plc` crate had no resolver yet when this was written, so the relay
//! resolves with its own small HTTP client.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atproto::did_doc::DidDocument;
use atproto::keys::PublicKey;

#[derive(Debug, thiserror::Error, Clone)]
pub enum ResolveError {
    #[error("unsupported DID method: {0}")]
    UnsupportedMethod(String),
    #[error("DID not found: {0}")]
    NotFound(String),
    #[error("resolution failed: {0}")]
    Http(String),
    #[error("invalid DID document: {0}")]
    Document(String),
}

/// What verification needs from a DID document.
#[derive(Debug, Clone)]
pub struct Identity {
    pub did: String,
    pub key: PublicKey,
    /// The PDS URL the document names, if any.
    pub pds: Option<String>,
    pub handle: Option<String>,
}

pub struct Resolver {
    http: reqwest::Client,
    plc_url: String,
    ttl: Duration,
    allow_http_did_web: bool,
    cache: Mutex<HashMap<String, (Instant, Arc<Identity>)>>,
}

const MAX_CACHE: usize = 1_000_000;

impl Resolver {
    pub fn new(plc_url: &str, ttl: Duration, allow_http_did_web: bool) -> Resolver {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent("sonde-relay")
            .build()
            .expect("http client");
        Resolver { http, plc_url: plc_url.trim_end_matches('/').into(), ttl, allow_http_did_web, cache: Mutex::new(HashMap::new()) }
    }

    /// The cached identity if fresh, else a new resolution.
    pub async fn resolve(&self, did: &str) -> Result<Arc<Identity>, ResolveError> {
        if let Some((at, id)) = self.cache.lock().unwrap().get(did) {
            if at.elapsed() < self.ttl {
                metrics::counter!("relay_did_cache_hits_total").increment(1);
                return Ok(id.clone());
            }
        }
        self.refresh(did).await
    }

    /// Resolves afresh and caches the result.
    pub async fn refresh(&self, did: &str) -> Result<Arc<Identity>, ResolveError> {
        metrics::counter!("relay_did_resolutions_total").increment(1);
        let doc = self.fetch(did).await?;
        if doc.id != did {
            return Err(ResolveError::Document(format!("document is for {}", doc.id)));
        }
        let key = doc.signing_key().map_err(|e| ResolveError::Document(e.to_string()))?;
        let id = Arc::new(Identity {
            did: did.into(),
            key,
            pds: doc.pds_endpoint().map(str::to_string),
            handle: doc.handle().map(str::to_string),
        });
        let mut cache = self.cache.lock().unwrap();
        if cache.len() >= MAX_CACHE {
            cache.clear();
        }
        cache.insert(did.into(), (Instant::now(), id.clone()));
        Ok(id)
    }

    pub fn purge(&self, did: &str) {
        self.cache.lock().unwrap().remove(did);
    }

    async fn fetch(&self, did: &str) -> Result<DidDocument, ResolveError> {
        let url = if did.starts_with("did:plc:") {
            format!("{}/{}", self.plc_url, did)
        } else if did.starts_with("did:web:") {
            let url = atproto::did_doc::did_web_url(did).map_err(|e| ResolveError::Document(e.to_string()))?;
            // Testbed did:web hosts on loopback serve plain HTTP.
            if self.allow_http_did_web && (url.contains("://localhost") || url.contains("://127.0.0.1")) {
                url.replacen("https://", "http://", 1)
            } else {
                url
            }
        } else {
            return Err(ResolveError::UnsupportedMethod(did.into()));
        };
        let resp = self.http.get(&url).send().await.map_err(|e| ResolveError::Http(e.to_string()))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND || resp.status() == reqwest::StatusCode::GONE {
            return Err(ResolveError::NotFound(did.into()));
        }
        if !resp.status().is_success() {
            return Err(ResolveError::Http(format!("{url}: HTTP {}", resp.status())));
        }
        let body = resp.bytes().await.map_err(|e| ResolveError::Http(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| ResolveError::Document(e.to_string()))
    }
}
