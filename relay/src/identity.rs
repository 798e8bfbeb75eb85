//! DID resolution for verification: the signing key and PDS host of an account, through the
//! workspace's `plc::Resolver` (PLC directory for `did:plc`, SSRF-guarded `/.well-known/did.json`
//! for `did:web`; loopback over plain HTTP only in testbed mode), kept here as parsed
//! [`Identity`] values with expiry. `#identity` events purge the entry so the next event
//! re-resolves.

use std::sync::Arc;
use std::time::Duration;

use atproto::keys::PublicKey;

/// Why an identity did not resolve. All but [`ResolveError::Unavailable`] are the identity's
/// own answer, and drop the event that needed it; an outage is retried, never a drop.
#[derive(Debug, thiserror::Error, Clone)]
pub enum ResolveError {
    #[error("unsupported DID: {0}")]
    UnsupportedMethod(String),
    /// HTTP 404 from the directory or the did:web host.
    #[error("DID not found: {0}")]
    NotFound(String),
    /// HTTP 410 from the PLC directory: the DID's log ends in a tombstone.
    #[error("DID is tombstoned: {0}")]
    Tombstoned(String),
    #[error("invalid DID document: {0}")]
    Document(String),
    /// Another definitive refusal (a non-public address, another 4xx).
    #[error("DID did not resolve: {0}")]
    Refused(String),
    /// A timeout, a refused connection, a 5xx, 408 or 429: worth retrying.
    #[error("identity service unavailable: {0}")]
    Unavailable(String),
}

impl From<plc::ResolveError> for ResolveError {
    fn from(e: plc::ResolveError) -> Self {
        use plc::ResolveError as P;
        match e {
            e if !e.is_definitive() => ResolveError::Unavailable(e.to_string()),
            P::NotFound(d) => ResolveError::NotFound(d),
            P::Deactivated(d) => ResolveError::Tombstoned(d),
            P::InvalidDid(d) | P::UnsupportedMethod(d) => ResolveError::UnsupportedMethod(d),
            e @ (P::DidDoc(_) | P::BadDocument(_) | P::IdMismatch { .. }) => ResolveError::Document(e.to_string()),
            other => ResolveError::Refused(other.to_string()),
        }
    }
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
    inner: plc::Resolver,
    /// Parsed identities for the TTL, at most [`MAX_CACHE`].
    cache: moka::sync::Cache<String, Arc<Identity>>,
}

const MAX_CACHE: u64 = 1_000_000;

impl Resolver {
    /// `testbed` lets `did:web` documents come from loopback hosts over plain HTTP.
    pub fn new(plc_url: &str, ttl: Duration, testbed: bool) -> Result<Resolver, ResolveError> {
        let inner = plc::Resolver::new(plc::ResolverConfig {
            plc_url: plc_url.trim_end_matches('/').into(),
            allow_insecure_loopback: testbed,
            cache_ttl: ttl,
            ..Default::default()
        })?;
        Ok(Resolver { inner, cache: moka::sync::Cache::builder().time_to_live(ttl).max_capacity(MAX_CACHE).build() })
    }

    /// The cached identity if fresh, else a new resolution.
    pub async fn resolve(&self, did: &str) -> Result<Arc<Identity>, ResolveError> {
        if let Some(id) = self.cache.get(did) {
            metrics::counter!("relay_did_cache_hits_total").increment(1);
            return Ok(id);
        }
        self.refresh(did).await
    }

    /// Resolves afresh and caches the result.
    pub async fn refresh(&self, did: &str) -> Result<Arc<Identity>, ResolveError> {
        metrics::counter!("relay_did_resolutions_total").increment(1);
        let doc = self.inner.refresh(did).await?;
        let key = doc.signing_key().map_err(|e| ResolveError::Document(e.to_string()))?;
        let id = Arc::new(Identity { did: did.into(), key, pds: doc.pds_endpoint().map(str::to_string), handle: doc.handle().map(str::to_string) });
        self.cache.insert(did.into(), id.clone());
        Ok(id)
    }

    pub fn purge(&self, did: &str) {
        self.cache.invalidate(did);
        self.inner.invalidate(did);
    }
}
