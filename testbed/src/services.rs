//! Launchers for the services, each on a free (or given) port of 127.0.0.1.
//!
//! Every launcher returns once the service answers its health check. Configuration is the
//! testbed's: open sign-up under `.test`, development mode (plain HTTP on loopback), limits
//! off where a load test would trip them, and logs at `warn`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::{free_port, Binaries, Process, Service, TestbedError};

/// How long a service may take to answer its first health check.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The PLC directory (`plc serve`), its data under `data`.
pub async fn plc(bins: &Binaries, data: &Path, log: &Path) -> Result<Service, TestbedError> {
    let port = free_port();
    let mut cmd = Command::new(bins.get("plc")?);
    cmd.args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string(), "--data"]).arg(data).env("RUST_LOG", "warn");
    Service::wait_ready(Process::spawn("plc", cmd, log)?, port, "/_health", START_TIMEOUT).await
}

/// How to run Sonde's PDS.
#[derive(Debug, Clone)]
pub struct PdsOptions {
    /// Data directory; blobs go to `data/blobs`.
    pub data: PathBuf,
    pub plc_url: String,
    pub log: PathBuf,
    /// The port to serve on (the same one on a restart: DID documents name it); `None` picks one.
    pub port: Option<u16>,
    /// A relay to announce the PDS to (`PDS_CRAWLERS`).
    pub crawlers: Option<String>,
    /// More `PDS_*` settings, which override the defaults.
    pub env: Vec<(String, String)>,
}

impl PdsOptions {
    pub fn new(data: impl Into<PathBuf>, plc_url: impl Into<String>, log: impl Into<PathBuf>) -> Self {
        PdsOptions { data: data.into(), plc_url: plc_url.into(), log: log.into(), port: None, crawlers: None, env: Vec::new() }
    }
}

/// The fixed testbed rotation key (the PLC directory is the testbed's own).
const ROTATION_KEY_HEX: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

/// `pds serve` in development mode with open sign-up under `.test` and no rate limits.
pub async fn pds(bins: &Binaries, opts: &PdsOptions) -> Result<Service, TestbedError> {
    let port = opts.port.unwrap_or_else(free_port);
    let mut cmd = Command::new(bins.get("pds")?);
    cmd.args(["serve", "--bind", "127.0.0.1"]).env_clear().envs([
        ("PDS_HOSTNAME", format!("127.0.0.1:{port}")),
        ("PDS_PORT", port.to_string()),
        ("PDS_DATA_DIRECTORY", opts.data.display().to_string()),
        ("PDS_BLOBSTORE_DISK_LOCATION", opts.data.join("blobs").display().to_string()),
        ("PDS_JWT_SECRET", "testbed-jwt-secret-of-32-bytes-!".into()),
        ("PDS_ADMIN_PASSWORD", "testbed-admin".into()),
        ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", ROTATION_KEY_HEX.into()),
        ("PDS_DID_PLC_URL", opts.plc_url.clone()),
        ("PDS_SERVICE_HANDLE_DOMAINS", ".test".into()),
        ("PDS_INVITE_REQUIRED", "false".into()),
        ("PDS_DEV_MODE", "true".into()),
        ("PDS_RATE_LIMIT_CREATE_ACCOUNT", "0".into()),
        ("PDS_RATE_LIMIT_CREATE_SESSION", "0".into()),
        ("RUST_LOG", "warn".into()),
    ]);
    if let Some(crawlers) = &opts.crawlers {
        cmd.env("PDS_CRAWLERS", crawlers);
    }
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    Service::wait_ready(Process::spawn("pds", cmd, &opts.log)?, port, "/_health", START_TIMEOUT).await
}

/// How to run the relay.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub data: PathBuf,
    pub plc_url: String,
    pub log: PathBuf,
    pub port: Option<u16>,
    /// Enables the admin routes with this password.
    pub admin_password: Option<String>,
    /// More `relay serve` arguments.
    pub args: Vec<String>,
}

impl RelayOptions {
    pub fn new(data: impl Into<PathBuf>, plc_url: impl Into<String>, log: impl Into<PathBuf>) -> Self {
        RelayOptions { data: data.into(), plc_url: plc_url.into(), log: log.into(), port: None, admin_password: None, args: Vec::new() }
    }
}

/// `relay serve` in testbed mode (plain-HTTP loopback hosts) with per-host limits off.
pub async fn relay(bins: &Binaries, opts: &RelayOptions) -> Result<Service, TestbedError> {
    let port = opts.port.unwrap_or_else(free_port);
    let mut cmd = Command::new(bins.get("relay")?);
    cmd.args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string(), "--testbed", "--no-limits", "--plc-url", &opts.plc_url, "--data"])
        .arg(&opts.data)
        .args(&opts.args)
        .env("RUST_LOG", "warn");
    if let Some(pw) = &opts.admin_password {
        cmd.env("RELAY_ADMIN_PASSWORD", pw);
    }
    Service::wait_ready(Process::spawn("relay", cmd, &opts.log)?, port, "/_health", START_TIMEOUT).await
}

/// How to run the indexer.
#[derive(Debug, Clone)]
pub struct IndexerOptions {
    pub data: PathBuf,
    pub plc_url: String,
    pub log: PathBuf,
    pub port: Option<u16>,
    /// `--firehose` sources.
    pub firehoses: Vec<String>,
    /// Extra command-line arguments.
    pub args: Vec<String>,
}

impl IndexerOptions {
    pub fn new(data: impl Into<PathBuf>, plc_url: impl Into<String>, log: impl Into<PathBuf>) -> Self {
        IndexerOptions { data: data.into(), plc_url: plc_url.into(), log: log.into(), port: None, firehoses: Vec::new(), args: Vec::new() }
    }
}

/// The indexer on loopback with the testbed's PLC directory, `--insecure-loopback` (its
/// identity lookups reach the testbed's services), and the DID `did:web:127.0.0.1%3A<port>`
/// that service-auth tokens name.
pub async fn indexer(bins: &Binaries, opts: &IndexerOptions) -> Result<Service, TestbedError> {
    let port = opts.port.unwrap_or_else(free_port);
    let mut cmd = Command::new(bins.get("indexer")?);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--plc-url", &opts.plc_url, "--insecure-loopback", "--data"])
        .arg(&opts.data)
        .env("RUST_LOG", "warn");
    for f in &opts.firehoses {
        cmd.args(["--firehose", f]);
    }
    cmd.args(&opts.args);
    Service::wait_ready(Process::spawn("indexer", cmd, &opts.log)?, port, "/_health", START_TIMEOUT).await
}

/// The DID the indexer at `url` (`http://127.0.0.1:<port>`) answers to.
pub fn indexer_did(url: &str) -> String {
    format!("did:web:{}", url.trim_start_matches("http://").replace(':', "%3A"))
}

/// The launcher that starts the reference PDS from its `PDS_*` variables. It is compiled into
/// the binary and handed to `node --eval`, so a run never depends on where the source tree that
/// installed the package lives (the install cache outlives any one checkout).
const LAUNCHER: &str = include_str!("../refpds/run.mjs");

/// The reference TypeScript PDS (`@atproto/pds` from npm) as `scripts/refpds.sh` installed it:
/// the Node it runs on and its packages.
#[derive(Debug, Clone)]
pub struct ReferencePds {
    pub node: PathBuf,
    pub node_path: String,
    /// What is installed, as `@atproto/pds@<version> node-<version>`.
    pub version: String,
}

impl ReferencePds {
    /// The install folder: `$SONDE_REFPDS_DIR`, or `~/.cache/sonde-refpds`.
    pub fn dir() -> PathBuf {
        match std::env::var_os("SONDE_REFPDS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/sonde-refpds"),
        }
    }

    /// Reads the `env` file that `scripts/refpds.sh` writes into [`dir`](Self::dir).
    pub fn installed() -> Result<ReferencePds, TestbedError> {
        let file = Self::dir().join("env");
        let setup = |why: String| TestbedError::Setup(format!("the reference PDS is not installed ({}: {why}); run scripts/refpds.sh", file.display()));
        let mut vars = std::collections::HashMap::new();
        for item in dotenvy::from_path_iter(&file).map_err(|e| setup(e.to_string()))? {
            let (key, value) = item.map_err(|e| setup(e.to_string()))?;
            vars.insert(key, value);
        }
        let mut get = |key: &str| vars.remove(key).ok_or_else(|| setup(format!("no {key}= line")));
        let refpds = ReferencePds { node: get("NODE")?.into(), node_path: get("NODE_PATH")?, version: get("REFPDS_VERSION")? };
        if !refpds.node.exists() {
            return Err(setup(format!("{} is missing", refpds.node.display())));
        }
        Ok(refpds)
    }
}

/// The reference PDS on the same footing as [`pds`]: development mode, open sign-up under
/// `.test`, no invite codes, the testbed's PLC directory and rotation key, blobs on disk in
/// `data/blobs`, logs at `warn`. Its hostname is `localhost` (the one name it serves over plain
/// HTTP), so its DID documents name `http://localhost:<port>`. `opts.env` adds `PDS_*` settings.
pub async fn reference_pds(refpds: &ReferencePds, opts: &PdsOptions) -> Result<Service, TestbedError> {
    let port = opts.port.unwrap_or_else(free_port);
    let mut cmd = Command::new(&refpds.node);
    cmd.args(["--input-type=module", "--eval", LAUNCHER]).env_clear().envs([
        ("NODE_PATH", refpds.node_path.clone()),
        ("PDS_BIND", "127.0.0.1".into()),
        ("PDS_PORT", port.to_string()),
        ("PDS_HOSTNAME", "localhost".into()),
        ("PDS_DATA_DIRECTORY", opts.data.display().to_string()),
        ("PDS_BLOBSTORE_DISK_LOCATION", opts.data.join("blobs").display().to_string()),
        ("PDS_JWT_SECRET", "testbed-jwt-secret-of-32-bytes-!".into()),
        ("PDS_ADMIN_PASSWORD", "testbed-admin".into()),
        ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", ROTATION_KEY_HEX.into()),
        // Its DID resolver refuses URLs whose host is an IP address, even in development mode.
        ("PDS_DID_PLC_URL", opts.plc_url.replace("//127.0.0.1:", "//localhost:")),
        ("PDS_SERVICE_HANDLE_DOMAINS", ".test".into()),
        ("PDS_INVITE_REQUIRED", "false".into()),
        ("PDS_DEV_MODE", "true".into()),
        ("LOG_ENABLED", "true".into()),
        ("LOG_LEVEL", "warn".into()),
    ]);
    std::fs::create_dir_all(&opts.data).map_err(|source| TestbedError::Io { what: format!("creating {}", opts.data.display()), source })?;
    if let Some(crawlers) = &opts.crawlers {
        cmd.env("PDS_CRAWLERS", crawlers);
    }
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    Service::wait_ready(Process::spawn("reference-pds", cmd, &opts.log)?, port, "/xrpc/_health", START_TIMEOUT).await
}
