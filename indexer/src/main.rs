//! The `indexer` binary: a thin command line over the library.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sonde's indexer: consumes firehoses into a compact RocksDB graph and a Tantivy search
/// index, and serves app.bsky reads and Constellation-style backlinks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index one or more firehoses and serve reads.
    Serve(ServeArgs),
    /// Backfill every repository the --backfill-from hosts list, with the firehoses running so
    /// the store joins the live stream without a gap, and exit when all are in (a progress
    /// bar shows how far). Takes the same flags as serve, and serves reads meanwhile.
    Backfill(ServeArgs),
    /// Records by collection, bytes per column family, bytes per edge and per record.
    Stats(StatsArgs),
    /// Ingest a frame file at full speed (RocksDB and Tantivy both written) and print the
    /// rate: the ingest benchmark. The file is what `loadgen record` writes (zstd or plain).
    Ingest(IngestArgs),
    /// Recompute every count (likes, reposts, replies, quotes, followers, follows, posts,
    /// records per collection) from the stored edges and records. Run with `serve` stopped.
    RepairCounts(DataArgs),
}

#[derive(clap::Args)]
struct DataArgs {
    /// The data folder (the store in `store/`, the search index in `search/`).
    #[arg(long, env = "INDEXER_DATA", default_value = "indexer-data")]
    data: PathBuf,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to serve XRPC, backlinks and /metrics on.
    #[arg(long, env = "INDEXER_LISTEN", default_value = "127.0.0.1:2585")]
    listen: SocketAddr,
    /// A firehose to index: a relay or a PDS (`wss://host`, `http://127.0.0.1:port`, or a
    /// full subscribeRepos URL). Repeat for several; each keeps its own cursor. Without
    /// any, the indexer serves its store as it is (one `indexer ingest` filled, say).
    #[arg(long = "firehose")]
    firehose: Vec<String>,
    /// Verify every commit (signature and operation inversion) before indexing it; commits
    /// that fail are counted in indexer_events_rejected_total and skipped.
    #[arg(long)]
    verify: bool,
    /// The PLC directory for did:plc identities.
    #[arg(long, env = "INDEXER_PLC_URL", default_value = "https://plc.directory")]
    plc_url: String,
    /// This service's DID, which service-auth tokens must name as their audience
    /// (default: did:web of --public-url's host).
    #[arg(long, env = "INDEXER_DID")]
    did: Option<String>,
    /// The URL clients and PDSes reach this service at, named in its did:web document.
    #[arg(long, env = "INDEXER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Backfill every repository this relay or PDS lists (listRepos, then getRepo of each
    /// from its own PDS) while the firehoses run; repeatable. Progress is in /metrics
    /// (indexer_backfill_repos_total) and the queue in `indexer stats`.
    #[arg(long = "backfill-from")]
    backfill_from: Vec<String>,
    /// Testbed only: let identity lookups reach loopback addresses over plain http.
    #[arg(long)]
    insecure_loopback: bool,
    /// Testbed only: resolve NAME to ADDR (NAME=ADDR, repeatable), e.g. a test handle.
    #[arg(long = "host-override", value_parser = parse_override)]
    host_overrides: Vec<(String, SocketAddr)>,
}

#[derive(clap::Args)]
struct IngestArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The frame file.
    file: PathBuf,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct StatsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Flush and compact first, so the figures are what the data costs at rest.
    #[arg(long)]
    compact: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

fn parse_override(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s.split_once('=').ok_or("expected NAME=ADDR")?;
    Ok((name.to_owned(), addr.parse().map_err(|e| format!("{addr}: {e}"))?))
}

async fn serve(a: ServeArgs, until_backfilled: bool) -> anyhow::Result<()> {
    logging();
    telemetry::metrics_handle();
    let public_url = a.public_url.unwrap_or_else(|| format!("http://{}", a.listen));
    let host = url::Url::parse(&public_url).context("--public-url")?;
    let did = match a.did {
        Some(d) => d,
        None => atproto::did_doc::did_web_for(host.host_str().unwrap_or_default(), host.port()),
    };
    indexer::serve::serve(indexer::serve::ServeConfig {
        data: a.data.data,
        listen: a.listen,
        sources: a.firehose,
        verify: a.verify,
        plc_url: a.plc_url,
        service_did: did,
        public_url,
        insecure_loopback: a.insecure_loopback,
        host_overrides: a.host_overrides.into_iter().collect::<HashMap<_, _>>(),
        backfill_from: a.backfill_from,
        until_backfilled,
    })
    .await
}

fn logging() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).json().init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => serve(a, false).await,
        Command::Backfill(a) => {
            if a.backfill_from.is_empty() {
                anyhow::bail!("backfill needs at least one --backfill-from HOST");
            }
            serve(a, true).await
        }
        Command::Stats(a) => {
            let (store, _) = indexer::serve::open(&a.data.data)?;
            let stats = indexer::stats::measure(&store, &a.data.data.join("search"), a.compact)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!("{stats}");
            }
            Ok(())
        }
        Command::Ingest(a) => {
            let data = a.data.data.clone();
            let report = tokio::task::spawn_blocking(move || indexer::serve::ingest_file(&data, &a.file)).await??;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} records from {} frames in {:.2} s: {:.0} records/s (all searchable after {:.2} s)",
                    report.records, report.frames, report.seconds, report.records_per_second, report.searchable_seconds
                );
            }
            Ok(())
        }
        Command::RepairCounts(a) => {
            let (store, _) = indexer::serve::open(&a.data)?;
            let n = store.repair_counts()?;
            println!("recomputed {n} counts");
            Ok(())
        }
    }
}
