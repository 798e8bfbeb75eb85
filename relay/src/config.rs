//! Relay configuration: retention, limits, testbed switches and host aliases.

use std::time::Duration;

/// Per-host limits; `enabled: false` switches them all off (load tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub enabled: bool,
    /// Sustained events per second read from one host (excess is back-pressured, not dropped).
    pub events_per_sec: u32,
    /// Accounts one host may carry; further accounts get status `throttled`.
    pub accounts_per_host: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { enabled: true, events_per_sec: 50, accounts_per_host: 1000 }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP basic-auth password for `/admin/*` (user `admin`); admin routes are off without it.
    pub admin_password: Option<String>,
    pub retention: Duration,
    pub max_log_bytes: u64,
    pub limits: Limits,
    /// Accept plain-HTTP loopback hosts and host aliases (never for a public relay).
    pub testbed: bool,
    /// Testbed only: the PDS host a DID document names → the host the relay actually crawls
    /// under (`*` matches every name). Lets a test host play real-network data whose DID
    /// documents name the real PDS hosts.
    pub host_aliases: Vec<(String, String)>,
    /// Base URL of the PLC directory.
    pub plc_url: String,
    /// How long a resolved DID document is trusted.
    pub did_cache_ttl: Duration,
    /// How far in the future a commit's rev (TID timestamp) may be.
    pub max_rev_skew: Duration,
    /// A consumer further behind the head than this many events is disconnected.
    pub max_consumer_lag: u64,
    /// A consumer whose socket does not take a frame within this time is disconnected.
    pub consumer_send_timeout: Duration,
    /// Hosts to crawl at start-up (in addition to those stored).
    pub initial_hosts: Vec<String>,
    /// Writes are refused (and ingest waits) while less than this is free on the data
    /// directory's disk; see [`telemetry::disk`].
    pub disk_min_free_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_password: None,
            retention: Duration::from_secs(72 * 3600),
            max_log_bytes: 100 << 30,
            limits: Limits::default(),
            testbed: false,
            host_aliases: vec![],
            plc_url: "https://plc.directory".into(),
            did_cache_ttl: Duration::from_secs(3600),
            max_rev_skew: Duration::from_secs(300),
            max_consumer_lag: 100_000,
            disk_min_free_bytes: 256 << 20,
            consumer_send_timeout: Duration::from_secs(10),
            initial_hosts: vec![],
        }
    }
}

impl Config {
    /// The host a DID document's PDS URL stands for, after testbed aliases.
    pub fn host_for_pds_url(&self, url: &str) -> Option<String> {
        let parsed = url::Url::parse(url).ok()?;
        let host = parsed.host_str()?.to_ascii_lowercase();
        let name = match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        if self.testbed {
            for (from, to) in &self.host_aliases {
                if from == "*" || *from == name {
                    return Some(to.clone());
                }
            }
        }
        Some(name)
    }
}
