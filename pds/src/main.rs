//! `pds`: Sonde's Personal Data Server and its admin CLI.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pds::admin_cli::{AdminClient, AdminCommand};

// Under write load glibc's malloc gave each of the many threads (tokio workers, blocking
// RocksDB calls) an arena of its own and kept the freed memory: the PDS's RSS reached 1.5 GB
// for 100 members (experiments pds-members, quick scale). mimalloc returns it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sonde's Personal Data Server and its admin CLI.
///
/// Hosts ATProto accounts (repositories, blobs, identity) for a community such as a co-op,
/// and publishes their changes on com.atproto.sync.subscribeRepos. `pds serve` reads the
/// reference PDS's environment names (PDS_HOSTNAME, PDS_DATA_DIRECTORY, PDS_JWT_SECRET, ...),
/// so an existing pds.env works.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the PDS.
    ///
    /// Required: PDS_HOSTNAME, PDS_DATA_DIRECTORY, PDS_JWT_SECRET, PDS_ADMIN_PASSWORD,
    /// PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX. Optional: PDS_PORT (2583),
    /// PDS_BLOBSTORE_DISK_LOCATION (<data>/blocks), PDS_BLOB_UPLOAD_LIMIT (5 MiB),
    /// PDS_DID_PLC_URL (https://plc.directory), PDS_SERVICE_HANDLE_DOMAINS (.<hostname>),
    /// PDS_INVITE_REQUIRED (true), PDS_CRAWLERS, PDS_REPO_BACKFILL_LIMIT_MS (1 day),
    /// PDS_BSKY_APP_VIEW_URL/_DID, PDS_REPORT_SERVICE_URL/_DID, PDS_DEV_MODE,
    /// PDS_RATE_LIMIT_CREATE_SESSION (30 per 5 min per IP), PDS_RATE_LIMIT_CREATE_ACCOUNT (100),
    /// PDS_DISK_MIN_FREE_BYTES (256 MiB: below it, writes are refused until space is freed).
    Serve {
        /// Read settings from this file first (KEY=VALUE lines); the environment overrides it.
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// Listen address (the port comes from PDS_PORT unless given here).
        #[arg(long, default_value = "0.0.0.0")]
        bind: std::net::IpAddr,
    },
    /// The PLC directory service.
    Plc {
        #[command(subcommand)]
        command: PlcCommand,
    },
    /// Operator commands against a running PDS (what `pdsadmin` does).
    Admin {
        /// The PDS URL (default: http://localhost:PDS_PORT).
        #[arg(long, env = "PDS_URL")]
        url: Option<String>,
        /// The admin password (PDS_ADMIN_PASSWORD); every command but `restore` needs it.
        #[arg(long, env = "PDS_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum PlcCommand {
    /// Serve a did:plc directory (GET /{did}, /{did}/log, /log/audit, /log/last, /data, POST /{did}, /_health).
    Serve {
        /// TCP port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 2582)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Directory holding the directory's RocksDB database (created if missing).
        #[arg(long)]
        data: PathBuf,
        /// Free space (bytes) to keep on the data directory's disk; below it operations are
        /// refused with 503, and accepted again once space is freed.
        #[arg(long, default_value_t = plc::server::DEFAULT_MIN_FREE_BYTES)]
        min_free_bytes: u64,
    },
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { env_file, bind } => {
            init_logs();
            let config = pds::Config::load(env_file.as_deref())?;
            let addr = SocketAddr::new(bind, config.port);
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            let server = pds::spawn(config, listener).await?;
            shutdown_signal().await;
            tracing::info!("shutting down");
            server.shutdown().await;
        }
        Command::Plc { command: PlcCommand::Serve { port, bind, data, min_free_bytes } } => {
            init_logs();
            let addr = SocketAddr::new(bind, port);
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            plc::serve(listener, data, min_free_bytes).await?;
        }
        Command::Admin { url, admin_password, command } => {
            let url = url.unwrap_or_else(|| format!("http://localhost:{}", std::env::var("PDS_PORT").unwrap_or_else(|_| "2583".into())));
            let password = match (&command, admin_password) {
                (AdminCommand::Restore { .. }, password) => password.unwrap_or_default(),
                (_, Some(password)) => password,
                (_, None) => anyhow::bail!("the admin password is needed: --admin-password or PDS_ADMIN_PASSWORD"),
            };
            AdminClient::new(&url, &password).run(command).await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
