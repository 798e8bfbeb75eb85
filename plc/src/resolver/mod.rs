//! [`Resolver`]: DID and handle resolution for Sonde's services, with a TTL cache.
//!
//! - `did:plc` through a [`PlcClient`] (any directory URL).
//! - `did:web` from `https://host/.well-known/did.json`.
//! - handles from `https://<handle>/.well-known/atproto-did`. DNS TXT (`_atproto.<handle>`)
//!   is not implemented: handles resolve over HTTPS only.
//!
//! Fetches of `did:web` documents and handle well-knowns are SSRF-guarded ([`guard`]): only
//! public addresses, https only, no redirects, bodies capped (64 KiB by default), timeouts.
//! The testbed switch [`ResolverConfig::allow_insecure_loopback`] lifts the address checks and
//! uses plain `http://` for loopback hosts (`127.0.0.1:port`, `localhost`, `*.localhost`);
//! [`ResolverConfig::host_overrides`] maps names (e.g. a test handle) to local sockets.

mod fetch;
pub mod guard;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use atproto::did_doc::{did_web_url, DidDocError, DidDocument, ATPROTO_KEY_ID};
use atproto::keys::{KeyCache, PublicKey};
use atproto::syntax::{Did, Handle};

use crate::client::{ClientError, PlcClient};
use fetch::GuardedFetch;

/// Why a DID or handle did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("invalid DID {0:?}")]
    InvalidDid(String),
    #[error("invalid handle {0:?}")]
    InvalidHandle(String),
    #[error("unsupported DID method in {0}")]
    UnsupportedMethod(String),
    #[error("DID not found: {0}")]
    NotFound(String),
    #[error("DID is deactivated (tombstoned): {0}")]
    Deactivated(String),
    #[error("handle did not resolve: {0}")]
    HandleNotFound(String),
    #[error(transparent)]
    Plc(ClientError),
    #[error(transparent)]
    DidDoc(#[from] DidDocError),
    #[error("invalid URL {0}")]
    BadUrl(String),
    #[error("refusing to fetch from {0}: not a public address (testbed switch is off)")]
    Forbidden(String),
    #[error("HTTP request failed: {0}")]
    Http(reqwest::Error),
    #[error("server answered HTTP {0}")]
    Status(u16),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("unreadable DID document: {0}")]
    BadDocument(String),
    #[error("document id {found} does not match the DID {expected}")]
    IdMismatch { expected: String, found: String },
}

impl ResolveError {
    /// Whether this is the identity's own answer (no such DID, a tombstone, an invalid
    /// document or handle) rather than an outage (a timeout, a refused connection, a 5xx, 408
    /// or 429), which is worth retrying.
    pub fn is_definitive(&self) -> bool {
        let transient_status = |s: u16| s >= 500 || s == 429 || s == 408;
        match self {
            ResolveError::Http(_) | ResolveError::Plc(ClientError::Http(_) | ClientError::Body(_) | ClientError::TooLarge) => false,
            ResolveError::Status(s) | ResolveError::Plc(ClientError::Status { status: s, .. }) => !transient_status(*s),
            _ => true,
        }
    }
}

/// Settings of a [`Resolver`].
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// The PLC directory for `did:plc` (default `https://plc.directory`).
    pub plc_url: String,
    /// Testbed switch: allow private/loopback addresses and plain http to loopback hosts.
    pub allow_insecure_loopback: bool,
    /// Testbed DNS: host name → socket to dial instead (with the original `Host` header).
    /// A name starting with `.` covers every name under it (`.test`). Overridden addresses
    /// are still subject to the address checks.
    pub host_overrides: HashMap<String, SocketAddr>,
    /// How long a resolved document or handle is reused.
    pub cache_ttl: Duration,
    /// Maximum cached documents (and, separately, handles).
    pub cache_capacity: usize,
    /// Connect and whole-request timeout for did:web and handle fetches.
    pub timeout: Duration,
    /// Body cap for did:web documents and handle well-knowns.
    pub max_body_bytes: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            plc_url: "https://plc.directory".into(),
            allow_insecure_loopback: false,
            host_overrides: HashMap::new(),
            cache_ttl: Duration::from_secs(600),
            cache_capacity: 100_000,
            timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl ResolverConfig {
    /// Defaults with the given PLC directory.
    pub fn with_plc_url(plc_url: &str) -> Self {
        ResolverConfig { plc_url: plc_url.into(), ..Self::default() }
    }
}

fn ttl_cache<V: Clone + Send + Sync + 'static>(ttl: Duration, capacity: usize) -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder().time_to_live(ttl).max_capacity(capacity as u64).build()
}

/// Resolves DIDs to documents and handles to DIDs. Share it behind an `Arc`.
pub struct Resolver {
    plc: PlcClient,
    web: GuardedFetch,
    /// Documents and handle resolutions for `cache_ttl`, at most `cache_capacity` of each.
    docs: moka::sync::Cache<String, DidDocument>,
    handles: moka::sync::Cache<String, Did>,
    keys: KeyCache,
}

impl Resolver {
    pub fn new(config: ResolverConfig) -> Result<Self, ResolveError> {
        let plc = PlcClient::new(&config.plc_url).map_err(ResolveError::Plc)?;
        let web = GuardedFetch::new(config.allow_insecure_loopback, config.host_overrides, config.timeout, config.max_body_bytes)?;
        Ok(Resolver {
            plc,
            web,
            docs: ttl_cache(config.cache_ttl, config.cache_capacity),
            handles: ttl_cache(config.cache_ttl, config.cache_capacity),
            keys: KeyCache::new(config.cache_capacity.clamp(1, 100_000)),
        })
    }

    /// The PLC client used for `did:plc`.
    pub fn plc(&self) -> &PlcClient {
        &self.plc
    }

    /// The DID document of `did`, from the cache when fresh.
    pub async fn resolve(&self, did: &str) -> Result<DidDocument, ResolveError> {
        if let Some(doc) = self.docs.get(did) {
            metrics::counter!("plc_resolver_cache_total", "result" => "hit").increment(1);
            return Ok(doc);
        }
        metrics::counter!("plc_resolver_cache_total", "result" => "miss").increment(1);
        self.refresh(did).await
    }

    /// Resolves `did` bypassing the cache, and caches the result.
    pub async fn refresh(&self, did: &str) -> Result<DidDocument, ResolveError> {
        let parsed: Did = did.parse().map_err(|_| ResolveError::InvalidDid(did.into()))?;
        let doc = match parsed.method() {
            "plc" => self.resolve_plc(did).await?,
            "web" => self.resolve_web(did).await?,
            _ => return Err(ResolveError::UnsupportedMethod(did.into())),
        };
        if doc.id != did {
            return Err(ResolveError::IdMismatch { expected: did.into(), found: doc.id });
        }
        tracing::debug!(did, "resolved DID");
        self.docs.insert(did.to_string(), doc.clone());
        Ok(doc)
    }

    /// Drops `did` from the cache (e.g. on a firehose `#identity` event). Returns whether it
    /// was cached.
    pub fn invalidate(&self, did: &str) -> bool {
        self.docs.remove(did).is_some()
    }

    /// Drops a cached handle resolution.
    pub fn invalidate_handle(&self, handle: &str) -> bool {
        self.handles.remove(&handle.to_ascii_lowercase()).is_some()
    }

    /// Number of cached DID documents.
    pub fn cached_documents(&self) -> usize {
        self.docs.run_pending_tasks();
        self.docs.entry_count() as usize
    }

    /// The atproto signing key (`#atproto`) of `did`'s current document.
    pub async fn signing_key(&self, did: &str) -> Result<PublicKey, ResolveError> {
        let doc = self.resolve(did).await?;
        let absolute = format!("{}{}", doc.id, ATPROTO_KEY_ID);
        let multikey = doc
            .verification_method
            .iter()
            .find(|vm| vm.id == ATPROTO_KEY_ID || vm.id == absolute)
            .filter(|vm| vm.kind == "Multikey")
            .and_then(|vm| vm.public_key_multibase.as_deref());
        match multikey {
            Some(mb) => Ok(self.keys.did_key(&format!("did:key:{mb}")).map_err(DidDocError::from)?),
            // Legacy key suites (or no key): let the document explain.
            None => Ok(doc.signing_key()?),
        }
    }

    /// The DID a handle claims through `https://<handle>/.well-known/atproto-did`. This is
    /// one direction only: callers confirm the DID document lists the handle.
    pub async fn resolve_handle(&self, handle: &str) -> Result<Did, ResolveError> {
        let parsed: Handle = handle.parse().map_err(|_| ResolveError::InvalidHandle(handle.into()))?;
        let key = parsed.normalized().as_str().to_string();
        if let Some(did) = self.handles.get(&key) {
            return Ok(did);
        }
        let url = format!("https://{key}/.well-known/atproto-did");
        let body = self.web.get(&url).await?.ok_or_else(|| ResolveError::HandleNotFound(key.clone()))?;
        let text = String::from_utf8_lossy(&body);
        let did: Did = text.trim().parse().map_err(|_| ResolveError::HandleNotFound(format!("{key}: body is not a DID")))?;
        self.handles.insert(key, did.clone());
        Ok(did)
    }

    /// The handle of `did` checked both ways, from fresh lookups: its DID document claims
    /// it, and the handle resolves back to the DID. `Ok(None)` when either direction
    /// definitively fails; `Err` for an outage (try again later).
    pub async fn verified_handle(&self, did: &str) -> Result<Option<Handle>, ResolveError> {
        self.invalidate(did);
        let doc = match self.resolve(did).await {
            Ok(d) => d,
            Err(e) if e.is_definitive() => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(handle) = doc.handle().and_then(|h| h.parse::<Handle>().ok()) else { return Ok(None) };
        self.invalidate_handle(handle.as_str());
        match self.resolve_handle(handle.as_str()).await {
            Ok(back) if back.as_str() == did => Ok(Some(handle.normalized())),
            Ok(_) => Ok(None),
            Err(e) if e.is_definitive() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn resolve_plc(&self, did: &str) -> Result<DidDocument, ResolveError> {
        match self.plc.get_document(did).await {
            Ok(Some(doc)) => Ok(doc),
            Ok(None) => Err(ResolveError::NotFound(did.into())),
            Err(ClientError::Tombstoned(_)) => Err(ResolveError::Deactivated(did.into())),
            Err(e) => Err(ResolveError::Plc(e)),
        }
    }

    async fn resolve_web(&self, did: &str) -> Result<DidDocument, ResolveError> {
        let url = did_web_url(did)?;
        let body = self.web.get(&url).await?.ok_or_else(|| ResolveError::NotFound(did.into()))?;
        serde_json::from_slice(&body).map_err(|e| ResolveError::BadDocument(e.to_string()))
    }
}
