//! `indexer serve`: the pipeline and the XRPC server in one process, stopped cleanly on
//! SIGTERM or Ctrl-C (the writer drains what it has, search commits, then the process exits).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::api::{self, AppState, ServiceAuth};
use crate::backfill::Backfiller;
use crate::consume::{self, Source, Verifier};
use crate::ingest::{self, Input};
use crate::query::Query;
use crate::search::Search;
use crate::store::write::Writer;
use crate::store::Store;

/// Everything `serve` needs, from the command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub sources: Vec<String>,
    pub verify: bool,
    pub plc_url: String,
    /// This service's DID, the audience of service-auth tokens.
    pub service_did: String,
    pub public_url: String,
    /// Testbed switch: let the resolver reach loopback over plain http.
    pub insecure_loopback: bool,
    pub host_overrides: HashMap<String, SocketAddr>,
    /// Hosts whose `listRepos` are backfilled (`getRepo` of each) while the firehoses run.
    pub backfill_from: Vec<String>,
    /// `indexer backfill`: show progress and stop once every listed repository is in.
    pub until_backfilled: bool,
}

/// The opened store and search index under a data folder.
pub fn open(data: &std::path::Path) -> anyhow::Result<(Arc<Store>, Arc<Search>)> {
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let store = Store::open(&data.join("store")).with_context(|| format!("opening the store in {}", data.display()))?;
    let search = Arc::new(Search::open(&data.join("search")).context("opening the search index")?);
    Ok((store, search))
}

pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let sources: Vec<Source> = config.sources.iter().map(|s| Source::parse(s).map_err(anyhow::Error::msg)).collect::<Result<_, _>>()?;
    let (store, search) = open(&config.data)?;
    let mut resolver_config = plc::ResolverConfig::with_plc_url(&config.plc_url);
    resolver_config.allow_insecure_loopback = config.insecure_loopback;
    resolver_config.host_overrides = config.host_overrides.clone();
    let resolver = Arc::new(plc::Resolver::new(resolver_config).context("building the identity resolver")?);

    let (tx, rx) = mpsc::channel::<Input>(ingest::CHANNEL);
    let (search_tx, search_rx) = std::sync::mpsc::sync_channel(64);
    let (identity_tx, identity_rx) = mpsc::channel(10_000);

    let (backfill_tx, backfill_rx) = mpsc::channel::<String>(100_000);
    let writer = Writer::new(store.clone()).context("loading the writer's counters")?;
    if sources.is_empty() {
        tracing::warn!("no --firehose: serving the store as it is, with nothing new coming in");
    }
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let outlets = ingest::Outlets { search: search_tx, identity: identity_tx, backfill: Some(backfill_tx.clone()) };
    let writer_thread = std::thread::Builder::new().name("writer".into()).spawn(move || ingest::write_loop(writer, rx, names, outlets))?;
    let search_thread = {
        let (search, store) = (search.clone(), store.clone());
        std::thread::Builder::new().name("search".into()).spawn(move || ingest::search_loop(search, store, search_rx))?
    };
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(ingest::identity_loop(store.clone(), resolver.clone(), identity_rx, tx.clone())));
    let http = plc::resolver::guard::guarded_client(config.insecure_loopback, std::time::Duration::from_secs(120)).context("building the HTTP client")?;
    let backfiller = Arc::new(Backfiller { http, resolver: resolver.clone(), tx: tx.clone() });
    tasks.push(tokio::spawn(backfiller.clone().run(backfill_rx, store.backfill_backlog()?)));
    let listing_done = Arc::new(tokio::sync::Semaphore::new(0));
    let listed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for host in config.backfill_from.clone() {
        let (store, backfiller, backfill_tx) = (store.clone(), backfiller.clone(), backfill_tx.clone());
        let (listing_done, listed) = (listing_done.clone(), listed.clone());
        tasks.push(tokio::spawn(async move {
            match backfiller.list_repos(&host).await {
                Ok(dids) => {
                    tracing::info!(host, repos = dids.len(), "backfilling");
                    metrics::gauge!("indexer_backfill_listed").increment(dids.len() as f64);
                    listed.fetch_add(dids.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    match store.enqueue_backfill(&dids) {
                        Ok(()) => {
                            for did in dids {
                                if backfill_tx.send(did).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "queueing the backfill failed"),
                    }
                }
                Err(e) => tracing::error!(error = %e, "listing repositories failed"),
            }
            listing_done.add_permits(1);
        }));
    }
    drop(backfill_tx);
    // Only the tasks may hold the ingest channel's senders: the writer stops when they go.
    drop(backfiller);
    let hosts = config.backfill_from.len() as u32;
    let done = {
        let store = store.clone();
        let until = config.until_backfilled;
        async move {
            if !until {
                return std::future::pending().await;
            }
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("backfill {bar:40} {pos}/{len} repositories {per_sec} eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let listing = listing_done.acquire_many(hosts);
            tokio::pin!(listing);
            let mut listed_all = false;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                if !listed_all {
                    listed_all = futures::poll!(&mut listing).is_ready();
                }
                let total = listed.load(std::sync::atomic::Ordering::Relaxed);
                let left = store.backfill_backlog().map(|b| b.len() as u64).unwrap_or(total);
                bar.set_length(total);
                bar.set_position(total.saturating_sub(left));
                if listed_all && left == 0 {
                    bar.finish_and_clear();
                    eprintln!("backfilled {total} repositories");
                    return;
                }
            }
        }
    };
    let verifier = config.verify.then(|| Arc::new(Verifier { resolver: resolver.clone() }));
    for (i, source) in sources.into_iter().enumerate() {
        let cursor = store.cursor(&source.name)?;
        tracing::info!(source = %source.name, cursor, "starting source");
        tasks.push(tokio::spawn(consume::run(i, source, cursor, tx.clone(), verifier.clone())));
    }
    drop(tx);

    let state = Arc::new(AppState {
        query: Query { store: store.clone(), search: search.clone() },
        auth: ServiceAuth { service_did: config.service_did.clone(), resolver },
        public_url: config.public_url.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, did = %config.service_did, "indexer listening");
    let app = api::router(state).into_make_service_with_connect_info::<telemetry::net::PeerAddr>();
    let stop = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = done => {}
        }
    };
    axum::serve(telemetry::net::CountingListener::new(listener, "indexer"), app).with_graceful_shutdown(stop).await?;

    tracing::info!("stopping: draining the writer and committing search");
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::task::spawn_blocking(move || {
        let _ = writer_thread.join();
        let _ = search_thread.join();
    })
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// What `indexer ingest` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub frames: u64,
    pub records: i64,
    pub seconds: f64,
    pub records_per_second: f64,
    /// Until the last post was searchable (the search thread committed everything).
    pub searchable_seconds: f64,
    /// The process's CPU seconds (user + system, every thread) and peak RSS at the end, from
    /// `getrusage`: exact where a sampler outside would miss the end of a short run.
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
}

/// CPU seconds and peak RSS of this process so far.
fn own_usage() -> (f64, u64) {
    // SAFETY: getrusage writes into the struct it is given and has no other precondition.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    // Linux reports ru_maxrss in kilobytes.
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss.max(0) as u64 * 1024)
}

/// Ingests a frame file (`[u32 length][frame]`…, zstd or plain, as `loadgen record` writes
/// and the shared corpus holds) at full speed through the same writer and search threads as
/// `serve`, and reports the rate.
pub fn ingest_file(data: &std::path::Path, file: &std::path::Path) -> anyhow::Result<IngestReport> {
    let frames = FrameReader::open(file)?;
    let (store, search) = open(data)?;
    let before: i64 = store.collection_counts()?.iter().map(|(_, n, _)| n).sum();
    let (tx, rx) = mpsc::channel::<Input>(ingest::CHANNEL);
    let (search_tx, search_rx) = std::sync::mpsc::sync_channel(64);
    let (identity_tx, _identity_rx) = mpsc::channel(1);
    let writer = Writer::new(store.clone())?;
    let source = format!("file:{}", file.display());
    let started = std::time::Instant::now();
    let outlets = ingest::Outlets { search: search_tx, identity: identity_tx, backfill: None };
    let writer_thread = std::thread::spawn(move || ingest::write_loop(writer, rx, vec![source], outlets));
    let search_thread = {
        let (search, store) = (search.clone(), store.clone());
        std::thread::spawn(move || ingest::search_loop(search, store, search_rx))
    };
    let progress = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} frames {per_sec}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let mut n = 0u64;
    for f in frames {
        let f = f?;
        match atproto::firehose::SubscribeReposFrame::decode(&f) {
            Ok(frame) => {
                if tx.blocking_send(Input::Frame { source: 0, frame: Box::new(frame) }).is_err() {
                    break;
                }
            }
            Err(e) => tracing::warn!(error = %e, "undecodable frame skipped"),
        }
        n += 1;
        progress.inc(1);
    }
    drop(tx);
    writer_thread.join().map_err(|_| anyhow::anyhow!("the writer panicked"))?;
    let seconds = started.elapsed().as_secs_f64();
    search_thread.join().map_err(|_| anyhow::anyhow!("the search thread panicked"))?;
    let searchable_seconds = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let records: i64 = store.collection_counts()?.iter().map(|(_, n, _)| n).sum::<i64>() - before;
    let (cpu_s, peak_rss_bytes) = own_usage();
    Ok(IngestReport { frames: n, records, seconds, records_per_second: records as f64 / seconds.max(1e-9), searchable_seconds, cpu_s, peak_rss_bytes })
}

/// The frames of a frame file, one at a time (so memory stays flat however long the file).
struct FrameReader {
    inner: Box<dyn std::io::Read>,
    path: std::path::PathBuf,
}

impl FrameReader {
    fn open(path: &std::path::Path) -> anyhow::Result<FrameReader> {
        use std::io::{BufRead, BufReader};
        let mut file = BufReader::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?);
        let zstd = file.fill_buf()?.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let inner: Box<dyn std::io::Read> = if zstd { Box::new(zstd::stream::read::Decoder::with_buffer(file)?) } else { Box::new(file) };
        Ok(FrameReader { inner, path: path.to_owned() })
    }
}

impl Iterator for FrameReader {
    type Item = anyhow::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::io::Read;
        let mut len = [0u8; 4];
        match self.inner.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => return Some(Err(anyhow::anyhow!("{}: {e}", self.path.display()))),
        }
        let len = u32::from_le_bytes(len) as usize;
        // The relay's largest frame is about 5 MB; a length beyond this is a broken file.
        if len > 16 << 20 {
            return Some(Err(anyhow::anyhow!("{}: a frame claims {len} bytes", self.path.display())));
        }
        let mut frame = vec![0; len];
        Some(self.inner.read_exact(&mut frame).map(|()| frame).map_err(|e| anyhow::anyhow!("{}: truncated frame: {e}", self.path.display())))
    }
}
