//! `relay`: Sonde's relay: crawls PDS hosts, verifies every commit, re-sequences and fans out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use relay::{Config, Limits, Relay};

/// Sonde's relay: crawls PDS hosts, verifies every commit, re-sequences and fans out.
///
/// A non-archival Sync 1.1 relay: it keeps recent events and per-account state, not repos.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay.
    Serve(Serve),
    /// Take an online backup of a running relay (its log, account and host state).
    Backup {
        /// The relay's URL.
        #[arg(long, env = "RELAY_URL", default_value = "http://127.0.0.1:2470")]
        url: String,
        /// The relay's admin password.
        #[arg(long, env = "RELAY_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
        /// Where the relay writes it: a new or empty directory on the relay's own machine (an
        /// absolute path; the relay process writes it, not this command).
        directory: PathBuf,
    },
    /// Restore a backup into a fresh data directory; run it with the relay stopped, then start
    /// the relay on it. Its sequence goes on above every number the old relay can have
    /// published, and its hosts are read again from the backup's cursors.
    Restore {
        /// The backup directory (`relay backup`'s DIRECTORY).
        backup: PathBuf,
        /// The data directory to restore into (as for `relay serve --data`).
        #[arg(long, env = "RELAY_DATA")]
        data: PathBuf,
    },
}

#[derive(Args)]
struct Serve {
    /// Port to listen on.
    #[arg(long, env = "RELAY_PORT", default_value_t = 2470)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "RELAY_BIND", default_value = "0.0.0.0")]
    bind: String,
    /// Data directory (RocksDB lives here).
    #[arg(long, env = "RELAY_DATA")]
    data: PathBuf,
    /// Password for the admin routes (HTTP basic auth, user `admin`); admin is off without it.
    #[arg(long, env = "RELAY_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Event log retention window, in hours.
    #[arg(long, env = "RELAY_RETENTION_HOURS", default_value_t = 72.0)]
    retention_hours: f64,
    /// Event log size cap, in MiB.
    #[arg(long, env = "RELAY_MAX_LOG_MB", default_value_t = 100 * 1024)]
    max_log_mb: u64,
    /// Switch per-host limits off (load tests).
    #[arg(long, env = "RELAY_NO_LIMITS")]
    no_limits: bool,
    /// Default events per second per host.
    #[arg(long, env = "RELAY_HOST_RATE", default_value_t = Limits::default().events_per_sec)]
    host_rate: u32,
    /// Default accounts per host.
    #[arg(long, env = "RELAY_HOST_ACCOUNTS", default_value_t = Limits::default().accounts_per_host)]
    host_accounts: u64,
    /// Testbed mode: accept plain-HTTP loopback hosts and host aliases. Never in production.
    #[arg(long, env = "RELAY_TESTBED")]
    testbed: bool,
    /// Testbed only: `NAME=HOST` makes DID documents naming PDS host NAME (or `*` for any)
    /// count as naming HOST, a host this relay crawls. Repeatable.
    #[arg(long = "host-alias", env = "RELAY_HOST_ALIASES", value_delimiter = ',')]
    host_aliases: Vec<String>,
    /// PLC directory URL.
    #[arg(long, env = "RELAY_PLC_URL", default_value = "https://plc.directory")]
    plc_url: String,
    /// Hosts to crawl at start-up (e.g. `pds.example.com`, or `http://127.0.0.1:2583` in testbed).
    #[arg(long = "crawl", env = "RELAY_CRAWL", value_delimiter = ',')]
    crawl: Vec<String>,
    /// Disconnect consumers further behind than this many events.
    #[arg(long, env = "RELAY_MAX_CONSUMER_LAG", default_value_t = 100_000)]
    max_consumer_lag: u64,
    /// Free space (bytes) to keep on the data directory's disk. Below it the relay stores
    /// nothing: ingest pauses with each host's cursor kept, and resumes by itself when space
    /// is freed.
    #[arg(long, env = "RELAY_MIN_FREE_BYTES", default_value_t = Config::default().disk_min_free_bytes)]
    min_free_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).init();
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        Command::Backup { url, admin_password, directory } => return take_backup(&url, &admin_password, &directory),
        Command::Restore { backup, data } => {
            let (manifest, head) = relay::backups::restore(&backup, &data).with_context(|| format!("restoring {}", backup.display()))?;
            println!(
                "Restored into {}: the backup of {} ms since the epoch (head then {}); the log goes on after seq {head}.",
                data.display(),
                manifest.created_at_ms,
                manifest.high_water
            );
            return Ok(());
        }
    };
    let mut host_aliases = Vec::new();
    for a in &args.host_aliases {
        let (from, to) = a.split_once('=').with_context(|| format!("--host-alias {a:?} is not NAME=HOST"))?;
        host_aliases.push((from.to_ascii_lowercase(), to.to_ascii_lowercase()));
    }
    if !host_aliases.is_empty() && !args.testbed {
        anyhow::bail!("--host-alias needs --testbed");
    }
    let config = Config {
        admin_password: args.admin_password,
        retention: Duration::from_secs_f64(args.retention_hours * 3600.0),
        max_log_bytes: args.max_log_mb << 20,
        limits: Limits { enabled: !args.no_limits, events_per_sec: args.host_rate, accounts_per_host: args.host_accounts },
        testbed: args.testbed,
        host_aliases,
        plc_url: args.plc_url,
        initial_hosts: args.crawl,
        max_consumer_lag: args.max_consumer_lag,
        disk_min_free_bytes: args.min_free_bytes,
        ..Config::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let relay = Relay::open(config, &args.data).context("opening the data directory")?;
        relay.start()?;
        let addr: SocketAddr = format!("{}:{}", args.bind, args.port).parse().context("bind address")?;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        tracing::info!(%addr, head = relay.log.head(), "relay listening");
        axum::serve(telemetry::net::CountingListener::new(listener, "relay"), relay::server::router(relay)).await?;
        Ok(())
    })
}

fn take_backup(url: &str, admin_password: &str, directory: &std::path::Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let relay = xrpc_client::Client::new(url).with_auth(xrpc_client::Auth::Admin(admin_password.into()));
    let input = xrpc_client::methods::BackupInput { directory: directory.to_path_buf() };
    let manifest: backup::Manifest = runtime.block_on(relay.post("/admin/backup", &input))?;
    println!("Backup in {}: the log up to seq {}", directory.display(), manifest.high_water);
    Ok(())
}
