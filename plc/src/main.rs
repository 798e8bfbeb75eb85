//! The `plc` binary: runs a did:plc directory (the plc.directory HTTP API) on RocksDB.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "plc",
    version,
    about = "A did:plc directory: validates signed PLC operations and serves DID documents and logs",
    long_about = "A did:plc directory speaking the plc.directory HTTP API (GET /{did}, /{did}/data, \
                  /{did}/log, /{did}/log/audit, /{did}/log/last, POST /{did}, /export, /_health, \
                  /metrics), storing validated operation logs in RocksDB.\n\n\
                  Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=plc=debug) to change the level."
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "PLC_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the directory over HTTP until Ctrl-C or SIGTERM.
    Serve {
        /// TCP port to listen on (0 picks a free one).
        #[arg(long, env = "PLC_PORT", default_value_t = 2582)]
        port: u16,
        /// Address to bind.
        #[arg(long, env = "PLC_BIND", default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Directory holding the RocksDB database (created if missing).
        #[arg(long, env = "PLC_DATA_DIRECTORY")]
        data: PathBuf,
        /// Free space (bytes) to keep on the data directory's disk; below it operations are
        /// refused with 503, and accepted again once space is freed.
        #[arg(long, env = "PLC_MIN_FREE_BYTES", default_value_t = plc::server::DEFAULT_MIN_FREE_BYTES)]
        min_free_bytes: u64,
    },
    /// Back up a running directory: its `/export`, read while it keeps accepting operations.
    Backup {
        /// The directory's URL.
        #[arg(long, env = "PLC_URL", default_value = "http://127.0.0.1:2582")]
        url: String,
        /// A new or empty directory to write the backup into.
        directory: PathBuf,
    },
    /// Restore a backup into a fresh data directory by replaying every operation through the
    /// directory's validation; then start `plc serve` on it. Its sequence goes on above every
    /// number the old directory can have given out since the backup.
    Restore {
        /// The backup directory (`plc backup`'s DIRECTORY).
        backup: PathBuf,
        /// The data directory to restore into (as for `plc serve --data`); new or empty.
        #[arg(long, env = "PLC_DATA_DIRECTORY")]
        data: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    match cli.command {
        Command::Serve { port, bind, data, min_free_bytes } => {
            let addr = SocketAddr::new(bind, port);
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, data = %data.display(), "starting PLC directory");
            plc::serve(listener, data, min_free_bytes).await
        }
        Command::Backup { url, directory } => {
            let client = plc::PlcClient::new(&url)?;
            let manifest = plc::backups::backup(&client, &directory).await.with_context(|| format!("backing up {url}"))?;
            println!("Backup in {}: {} operations", directory.display(), manifest.high_water);
            Ok(())
        }
        Command::Restore { backup, data } => {
            let (manifest, last_seq) = tokio::task::spawn_blocking(move || plc::backups::restore(&backup, &data)).await??;
            println!("Restored {} operations; the sequence goes on after {last_seq}.", manifest.high_water);
            Ok(())
        }
    }
}
