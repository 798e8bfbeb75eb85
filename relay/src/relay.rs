//! The relay's shared state: configuration, the event log, the DID resolver and the set of
//! crawled hosts with their subscription tasks; plus host admission (`requestCrawl`) and the
//! administrative actions (bans, limits).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::{Config, Limits};
use crate::identity::Resolver;
use crate::ingest::HostCtx;
use crate::log::{EventLog, LogError, Retention};
use crate::store::{HostState, HostStatus, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("DID resolver: {0}")]
    Resolver(#[from] crate::identity::ResolveError),
}

/// Why a host was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("invalid hostname: {0}")]
    InvalidHostname(String),
    #[error("host is banned")]
    Banned,
    #[error("host is not on a public address: {0}")]
    NotPublic(String),
    #[error("host did not answer describeServer: {0}")]
    NotAPds(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct HostHandle {
    state: Arc<Mutex<HostState>>,
    task: Option<tokio::task::AbortHandle>,
}

pub struct Relay {
    pub config: Config,
    limits: RwLock<Limits>,
    pub log: Arc<EventLog>,
    pub resolver: Resolver,
    hosts: Mutex<HashMap<String, HostHandle>>,
    http: reqwest::Client,
}

impl Relay {
    /// Opens (or creates) the relay's database under `data_dir`.
    pub fn open(config: Config, data_dir: &Path) -> Result<Arc<Relay>, RelayError> {
        // Before anything counts: metrics recorded with no recorder installed are lost.
        let _ = crate::server::metrics_handle();
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Corrupt { what: "data dir", why: e.to_string() })?;
        let store = Arc::new(Store::open(&data_dir.join(crate::backups::DB_DIR), config.disk_min_free_bytes)?);
        let log = EventLog::open(store)?;
        let resolver = Resolver::new(&config.plc_url, config.did_cache_ttl, config.testbed)?;
        let http = plc::resolver::guard::guarded_client(config.testbed, Duration::from_secs(10)).expect("http client");
        Ok(Arc::new(Relay { limits: RwLock::new(config.limits), config, log, resolver, hosts: Mutex::new(HashMap::new()), http }))
    }

    /// Starts the stored and configured hosts' subscriptions and the background upkeep
    /// (retention pruning, WAL sync). Must be called inside a Tokio runtime.
    pub fn start(self: &Arc<Self>) -> Result<(), RelayError> {
        let mut after: Option<String> = None;
        loop {
            let page = self.log.store().list_hosts(after.as_deref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(last.0.clone());
            for (_, state) in page {
                self.register_host(state);
            }
        }
        for host in &self.config.initial_hosts {
            match self.normalize_host(host) {
                Ok((name, ssl)) => {
                    if let Err(e) = self.add_host(&name, ssl) {
                        tracing::warn!(%host, error = %e, "could not add configured host");
                    }
                }
                Err(e) => tracing::warn!(%host, error = %e, "invalid configured host"),
            }
        }
        let relay = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            loop {
                tick.tick().await;
                n += 1;
                if let Err(e) = relay.log.store().sync_wal() {
                    tracing::error!(error = %e, "WAL sync failed");
                }
                if n.is_multiple_of(10) {
                    relay.prune();
                }
            }
        });
        Ok(())
    }

    /// Applies the retention policy now.
    pub fn prune(&self) {
        let retention = Retention { window: self.config.retention, max_bytes: self.config.max_log_bytes };
        match self.log.prune(retention) {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned event log"),
            Err(e) => tracing::error!(error = %e, "pruning failed"),
        }
    }

    pub fn limits(&self) -> Limits {
        *self.limits.read().unwrap()
    }

    pub fn set_limits(&self, limits: Limits) {
        *self.limits.write().unwrap() = limits;
    }

    /// Parses `host`, `host:port`, `https://host` (and in testbed mode `http://` loopback)
    /// into a hostname and whether to use TLS.
    pub fn normalize_host(&self, input: &str) -> Result<(String, bool), CrawlError> {
        let bad = || CrawlError::InvalidHostname(input.into());
        let input = input.trim();
        let with_scheme = if input.contains("://") { input.to_string() } else { format!("https://{input}") };
        let url = url::Url::parse(&with_scheme).map_err(|_| bad())?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || !url.username().is_empty() {
            return Err(bad());
        }
        let host = url.host_str().ok_or_else(bad)?.to_ascii_lowercase();
        let name = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) || host == "[::1]";
        if self.config.testbed && loopback {
            return Ok((name, url.scheme() == "https" && input.starts_with("https://")));
        }
        if url.scheme() != "https" {
            return Err(CrawlError::NotPublic(format!("{input}: only https hosts are crawled")));
        }
        if host.parse::<IpAddr>().is_ok() || host.starts_with('[') || !host.contains('.') || host.ends_with(".local") || loopback {
            return Err(CrawlError::NotPublic(name));
        }
        Ok((name, true))
    }

    /// `com.atproto.sync.requestCrawl`: admits a host after checking it answers
    /// `describeServer`; banned hosts are refused, known hosts are (re)started.
    pub async fn request_crawl(self: &Arc<Self>, input: &str) -> Result<(), CrawlError> {
        let (name, ssl) = self.normalize_host(input)?;
        if let Some(state) = self.host_state(&name)? {
            if state.status == HostStatus::Banned {
                return Err(CrawlError::Banned);
            }
        }
        // `http` is plc's guarded client: the name resolves once, to public addresses only,
        // and the request dials the address that was checked.
        let scheme = if ssl { "https" } else { "http" };
        let host = xrpc_client::Client::with_http(&format!("{scheme}://{name}"), self.http.clone());
        let described = host.query::<_, xrpc_client::methods::DescribeServerOutput>("com.atproto.server.describeServer", &()).await;
        if let Err(e) = described {
            return Err(match &e {
                xrpc_client::Error::Transport { source, .. } => match plc::resolver::guard::blocked_in(source) {
                    Some(host) => CrawlError::NotPublic(format!("{host} resolves only to non-public addresses")),
                    None => CrawlError::NotAPds(e.to_string()),
                },
                _ => CrawlError::NotAPds(e.to_string()),
            });
        }
        self.add_host(&name, ssl)
    }

    /// Adds a host without the `describeServer` check (configured hosts) and starts it.
    pub fn add_host(self: &Arc<Self>, name: &str, ssl: bool) -> Result<(), CrawlError> {
        let state = match self.host_state(name)? {
            Some(s) if s.status == HostStatus::Banned => return Err(CrawlError::Banned),
            Some(s) => s,
            None => {
                let s = HostState::new(name, ssl);
                self.log.store().put_host(&s)?;
                tracing::info!(host = name, "new host");
                s
            }
        };
        self.register_host(state);
        Ok(())
    }

    /// Tracks a host and starts its subscription unless it is banned or already running.
    fn register_host(self: &Arc<Self>, state: HostState) {
        let mut hosts = self.hosts.lock().unwrap();
        let handle = hosts.entry(state.hostname.clone()).or_insert_with(|| HostHandle { state: Arc::new(Mutex::new(state.clone())), task: None });
        let running = handle.task.as_ref().is_some_and(|t| !t.is_finished());
        if running || handle.state.lock().unwrap().status == HostStatus::Banned {
            return;
        }
        let ctx = HostCtx::new(handle.state.clone(), &state.hostname);
        let task = tokio::spawn(crate::upstream::run_host(self.clone(), ctx));
        handle.task = Some(task.abort_handle());
    }

    /// The live state of a host (or the stored one if it is not loaded).
    pub fn host_state(&self, name: &str) -> Result<Option<HostState>, StoreError> {
        if let Some(h) = self.hosts.lock().unwrap().get(name) {
            return Ok(Some(h.state.lock().unwrap().clone()));
        }
        self.log.store().get_host(name)
    }

    /// Applies `f` to a host's state (live and stored). Returns false if the host is unknown.
    fn update_host(&self, name: &str, f: impl FnOnce(&mut HostState)) -> Result<bool, StoreError> {
        let hosts = self.hosts.lock().unwrap();
        if let Some(h) = hosts.get(name) {
            let mut st = h.state.lock().unwrap();
            f(&mut st);
            self.log.store().put_host(&st)?;
            return Ok(true);
        }
        drop(hosts);
        match self.log.store().get_host(name)? {
            Some(mut st) => {
                f(&mut st);
                self.log.store().put_host(&st)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Bans a host: its subscription stops and `requestCrawl` refuses it. Unknown hosts are
    /// recorded as banned.
    pub fn ban_host(&self, input: &str) -> Result<(), CrawlError> {
        let (name, ssl) = self.normalize_host(input)?;
        if !self.update_host(&name, |s| s.status = HostStatus::Banned)? {
            let mut s = HostState::new(&name, ssl);
            s.status = HostStatus::Banned;
            self.log.store().put_host(&s)?;
        }
        if let Some(h) = self.hosts.lock().unwrap().get_mut(&name) {
            if let Some(t) = h.task.take() {
                t.abort();
            }
        }
        tracing::info!(host = %name, "host banned");
        Ok(())
    }

    /// Lifts a ban and resumes the host's subscription.
    pub fn unban_host(self: &Arc<Self>, input: &str) -> Result<bool, CrawlError> {
        let (name, _) = self.normalize_host(input)?;
        if !self.update_host(&name, |s| s.status = HostStatus::Active)? {
            return Ok(false);
        }
        if let Some(state) = self.host_state(&name)? {
            self.register_host(state);
        }
        Ok(true)
    }

    /// Per-host limit overrides (`None` keeps the default).
    pub fn set_host_limits(&self, input: &str, rate: Option<u32>, accounts: Option<u64>) -> Result<bool, CrawlError> {
        let (name, _) = self.normalize_host(input)?;
        Ok(self.update_host(&name, |s| {
            s.rate_limit = rate;
            s.account_limit = accounts;
        })?)
    }

    /// Takes an account down (`banned`) or restores it. Returns false for unknown accounts.
    /// Takes an account down (or restores it). A change of status is announced downstream
    /// with an `#account` event, stored atomically with the new state.
    pub fn set_account_banned(&self, did: &str, banned: bool) -> Result<bool, LogError> {
        let store = self.log.store();
        let Some(mut acct) = store.get_account(did)? else { return Ok(false) };
        if acct.banned == banned {
            return Ok(true);
        }
        acct.banned = banned;
        let event = atproto::firehose::SubscribeReposFrame::Account(atproto::firehose::AccountEvent {
            seq: 0, // the log assigns the relay's own
            did: did.into(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            active: acct.active(),
            status: acct.status().map(str::to_string),
        });
        self.log.append(crate::store::EventKind::Account, did, &event.encode(), Some(&acct), None, None)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(testbed: bool) -> (tempfile::TempDir, Arc<Relay>) {
        let dir = tempfile::tempdir().unwrap();
        let r = Relay::open(Config { testbed, ..Config::default() }, dir.path()).unwrap();
        (dir, r)
    }

    #[test]
    fn hostnames_are_normalized_and_loopback_needs_testbed() {
        let (_d, prod) = relay(false);
        assert_eq!(prod.normalize_host("PDS.Example.com").unwrap(), ("pds.example.com".into(), true));
        assert_eq!(prod.normalize_host("https://pds.example.com/").unwrap(), ("pds.example.com".into(), true));
        for bad in ["http://pds.example.com", "127.0.0.1:2583", "localhost", "https://10.0.0.1", "pds.example.com/path", "x.local"] {
            assert!(prod.normalize_host(bad).is_err(), "{bad}");
        }
        let (_d, testbed) = relay(true);
        assert_eq!(testbed.normalize_host("http://127.0.0.1:2583").unwrap(), ("127.0.0.1:2583".into(), false));
        assert_eq!(testbed.normalize_host("localhost:80").unwrap(), ("localhost:80".into(), false));
        assert!(testbed.normalize_host("http://pds.example.com").is_err());
    }
}
