//! `loadgen world`: a synthetic ATProto network in one process.
//!
//! [`World::build`] binds N emulated PDS hosts on loopback ports ([`host`]), creates M
//! accounts spread over them with Zipf-skewed host sizes ([`account`]: real keys, real
//! `did:plc` genesis operations, repositories grown to a realistic size), and optionally
//! registers the genesis operations with a PLC directory. [`World::run`] then draws events
//! from the traffic model ([`crate::model`]), generates them ahead on every core ([`gen`]) and
//! publishes them on the hosts' `subscribeRepos` at a target rate or as fast as possible.
//! Every `#commit` carries a correct `since`/`prevData` chain and verifies.

pub mod account;
pub mod gen;
pub mod host;
pub mod records;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use atproto::did_doc::DidDocument;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::model::{self, Collection, TrafficModel};
use account::Identity;
use gen::{Accounts, Context, EmittedKind, Planner};
use host::{Host, HostAccount};

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("binding host {0}: {1}")]
    Bind(usize, std::io::Error),
    #[error("creating account {0}: {1}")]
    Account(usize, atproto::repo::RepoError),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error("generating events: {0}")]
    Gen(#[from] gen::GenError),
    #[error("registering {did} with the PLC directory: {message}")]
    Plc { did: String, message: String },
    #[error("the world needs at least one host and one account")]
    Empty,
    #[error("--frames-out needs exactly one host, not {0}: several hosts' sequence numbers would interleave")]
    TapNeedsOneHost(usize),
    #[error("writing the emitted frames: {0}")]
    Tap(#[from] crate::framefile::FrameFileError),
}

/// The shape of a world and its run.
#[derive(Debug, Clone, Serialize)]
pub struct WorldOptions {
    pub hosts: usize,
    pub accounts: usize,
    pub seed: u64,
    /// Base events per second (Poisson, shaped by the model's cycle and surge); `None` = max.
    pub rate: Option<f64>,
    /// Stop after this many events…
    pub events: Option<u64>,
    /// …or after this long.
    #[serde(with = "crate::util::opt_secs")]
    pub duration: Option<Duration>,
    /// Frames each host keeps for subscribers that reconnect with a cursor.
    pub backlog: usize,
    /// Host ports (host `i` on `ports[i]`); missing entries get an ephemeral port. Account
    /// DIDs name their host's URL, so reproducing a world needs the same ports.
    pub ports: Vec<u16>,
    /// Events per generation batch.
    pub batch: usize,
    /// Generator threads (0 = one per core).
    pub threads: usize,
    /// Accounts whose MST stays decoded between batches (the most recently written); the
    /// others are read back from their encoded nodes when next written. Bounds memory on
    /// long runs at the cost of some decoding.
    pub decoded_repos: usize,
    /// The TID clock's start in Unix microseconds (`None` = now). Fixing it with the seed makes
    /// every frame identical across runs.
    pub epoch_micros: Option<u64>,
    pub model: TrafficModel,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            hosts: 4,
            accounts: 200,
            seed: 1,
            rate: None,
            events: Some(10_000),
            duration: None,
            backlog: 10_000,
            ports: Vec::new(),
            batch: 1024,
            threads: 0,
            decoded_repos: 4096,
            epoch_micros: None,
            model: TrafficModel::default(),
        }
    }
}

/// A built world, ready to run.
pub struct World {
    pub opts: WorldOptions,
    pub hosts: Vec<Arc<Host>>,
    pub identities: Vec<Identity>,
    accounts: Option<Accounts>,
    threads: usize,
    account_host: Arc<Vec<usize>>,
    epoch_micros: u64,
    /// Where every emitted frame is also written, in emission order (see [`World::tap`]).
    tap: Option<crate::framefile::FrameWriter>,
    pub build_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SizeFigures {
    pub count: u64,
    pub p10: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorldFigures {
    pub build_s: f64,
    pub initial_records: u64,
    pub emitted: u64,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    /// Events emitted later than planned, and the worst delay (rate mode).
    pub late_events: u64,
    pub max_late_ms: u64,
    pub by_kind: BTreeMap<String, u64>,
    /// Shares of commit operations, percent.
    pub ops_pct: BTreeMap<String, f64>,
    /// Shares of created records by collection category, percent.
    pub collections_pct: BTreeMap<String, f64>,
    pub frame_bytes: SizeFigures,
    pub per_host: Vec<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
}

fn sizes(h: &Histogram<u64>) -> SizeFigures {
    if h.is_empty() {
        return SizeFigures::default();
    }
    SizeFigures {
        count: h.len(),
        p10: h.value_at_quantile(0.1),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
        mean: h.mean(),
    }
}

/// Binds 127.0.0.1:`port`, retrying briefly while a just-stopped server releases it.
async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let mut tries = 0;
    loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Err(e) if port != 0 && e.kind() == std::io::ErrorKind::AddrInUse && tries < 40 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for h in &self.hosts {
            h.stop();
        }
    }
}

impl World {
    /// Binds the hosts and creates the accounts (on all cores).
    pub async fn build(opts: WorldOptions, progress: &ProgressBar) -> Result<World, WorldError> {
        if opts.hosts == 0 || opts.accounts == 0 {
            return Err(WorldError::Empty);
        }
        opts.model.validate()?;
        let started = std::time::Instant::now();
        let mut hosts = Vec::new();
        for i in 0..opts.hosts {
            let port = opts.ports.get(i).copied().unwrap_or(0);
            let listener = bind(port).await.map_err(|e| WorldError::Bind(i, e))?;
            hosts.push(Host::start(i, listener, opts.backlog).map_err(|e| WorldError::Bind(i, e))?);
        }
        let account_host = Arc::new(model::assign_hosts(opts.accounts, opts.hosts, opts.model.host_zipf, opts.seed));
        let sizes = model::initial_sizes(&opts.model, opts.accounts, opts.seed);
        let epoch_micros = opts.epoch_micros.unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64);
        let threads = if opts.threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { opts.threads };
        let urls: Vec<String> = hosts.iter().map(|h| h.url()).collect();
        let model = Arc::new(opts.model.clone());
        let origin = move |index: usize| account::Origin { index, records: sizes[index], seed: opts.seed, epoch_micros, model: model.clone() };
        progress.set_length(opts.accounts as u64);
        let (identities, states) = {
            let (opts, account_host, progress, origin) = (opts.clone(), account_host.clone(), progress.clone(), origin.clone());
            tokio::task::spawn_blocking(move || {
                let next = std::sync::atomic::AtomicUsize::new(0);
                let made: Vec<Vec<(usize, Result<_, _>)>> = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                let mut out = Vec::new();
                                loop {
                                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    if i >= opts.accounts {
                                        return out;
                                    }
                                    let h = account_host[i];
                                    out.push((i, account::create(&origin(i), h, &urls[h])));
                                    progress.inc(1);
                                }
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().expect("builder thread does not panic")).collect()
                });
                let mut all: Vec<_> = made.into_iter().flatten().collect();
                all.sort_by_key(|(i, _)| *i);
                let mut identities = Vec::with_capacity(all.len());
                let mut states = Vec::with_capacity(all.len());
                for (i, r) in all {
                    let (id, st) = r.map_err(|e| WorldError::Account(i, e))?;
                    identities.push(id);
                    states.push(st);
                }
                Ok::<_, WorldError>((identities, states))
            })
            .await
            .expect("account builder does not panic")?
        };
        for (i, (id, st)) in identities.iter().zip(&states).enumerate() {
            hosts[id.host].add_account(HostAccount { did: id.did.clone(), repo: st.shared.clone(), origin: origin(i) });
        }
        let accounts = Some(Accounts::new(states, opts.decoded_repos));
        let build_s = started.elapsed().as_secs_f64();
        Ok(World { opts, hosts, identities, accounts, threads, account_host, epoch_micros, tap: None, build_s })
    }

    /// Also writes every frame [`run`](Self::run) emits to `writer`, in emission order, and
    /// finishes the file when the run ends: the recording a subscriber connected from the
    /// first event would make, without the socket (an ingest benchmark's input). One host
    /// only, so the file is one stream whose sequence numbers ascend.
    pub fn tap(&mut self, writer: crate::framefile::FrameWriter) -> Result<(), WorldError> {
        if self.hosts.len() != 1 {
            return Err(WorldError::TapNeedsOneHost(self.hosts.len()));
        }
        self.tap = Some(writer);
        Ok(())
    }

    /// Every account's DID, handle and signing key, in account order: what a read driver
    /// needs to sign service-auth tokens as these (synthetic) accounts.
    pub fn account_keys(&mut self) -> Vec<(String, String, atproto::keys::Keypair)> {
        let accounts = self.accounts.as_mut().expect("keys are read between runs");
        self.identities.iter().enumerate().map(|(i, id)| (id.did.clone(), id.handle.clone(), accounts.get(i).key.clone())).collect()
    }

    /// DID → DID document for every account.
    pub fn did_docs(&self) -> HashMap<String, DidDocument> {
        self.identities.iter().map(|i| (i.did.clone(), i.doc.clone())).collect()
    }

    /// Posts every account's genesis operation to a PLC directory (`POST {plc}/{did}`).
    pub async fn register_plc(&self, plc: &url::Url) -> Result<(), WorldError> {
        let client = reqwest::Client::new();
        let mut pending = futures::stream::iter(self.identities.iter().map(|id| {
            let client = client.clone();
            async move {
                let fail = |message: String| WorldError::Plc { did: id.did.clone(), message };
                let url = crate::util::join_segment(plc, &id.did);
                let resp = client.post(url).json(&id.genesis).send().await.map_err(|e| fail(e.to_string()))?;
                if !resp.status().is_success() {
                    let status = resp.status();
                    return Err(fail(format!("HTTP {status}: {}", resp.text().await.unwrap_or_default())));
                }
                Ok(())
            }
        }))
        .buffer_unordered(16);
        use futures::StreamExt;
        while let Some(r) = pending.next().await {
            r?;
        }
        Ok(())
    }

    /// Generates and publishes events until `events` or `duration` is reached.
    pub async fn run(mut self, progress: &ProgressBar) -> Result<(WorldFigures, World), WorldError> {
        let opts = self.opts.clone();
        let mut accounts = self.accounts.take().expect("a world runs once at a time");
        let initial_records: u64 = (0..accounts.len()).map(|a| accounts.get(a).shared.head().records).sum();
        let ctx = Context {
            dids: Arc::new(self.identities.iter().map(|i| i.did.clone()).collect()),
            handles: Arc::new(self.identities.iter().map(|i| i.handle.clone()).collect()),
            seed: opts.seed,
            epoch_micros: self.epoch_micros,
        };
        let mut planner = Planner::new(&opts.model, self.account_host.clone(), opts.hosts, opts.seed, opts.rate);
        let start = tokio::time::Instant::now();
        planner.set_start(chrono::Utc::now().timestamp_millis());
        let limit = opts.events.unwrap_or(u64::MAX);
        let horizon = opts.duration.map(|d| d.as_secs_f64());
        progress.set_length(opts.events.unwrap_or(0));
        progress.set_position(0);

        // Generator thread: plans and builds batches ahead, bounded by the channel.
        let (tx, mut rx) = mpsc::channel::<Vec<gen::Emitted>>(4);
        let (batch, threads) = (opts.batch.max(1), self.threads);
        let generator = tokio::task::spawn_blocking(move || -> Result<Accounts, WorldError> {
            let next_batch = || {
                let mut plans = Vec::with_capacity(batch);
                while plans.len() < batch && planner.planned() < limit {
                    let plan = planner.next_plan();
                    if let (Some(h), Some(due)) = (horizon, plan.due_s) {
                        if due > h {
                            break;
                        }
                    }
                    plans.push(plan);
                }
                (!plans.is_empty()).then_some(plans)
            };
            accounts.stream(&ctx, threads, next_batch, |emitted| tx.blocking_send(emitted).is_ok())?;
            Ok(accounts)
        });

        let deadline = opts.duration.map(|d| start + d);
        let mut sizes_h = Histogram::<u64>::new(3).expect("histogram");
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        let mut ops: BTreeMap<String, u64> = BTreeMap::new();
        let mut cols: BTreeMap<String, u64> = BTreeMap::new();
        let mut per_host = vec![0u64; opts.hosts];
        let (mut emitted, mut late, mut max_late_ms) = (0u64, 0u64, 0u64);
        'outer: while let Some(batch) = rx.recv().await {
            for e in batch {
                if let Some(due) = e.due_s {
                    let at = start + Duration::from_secs_f64(due);
                    let now = tokio::time::Instant::now();
                    if at > now {
                        tokio::time::sleep_until(at).await;
                    } else if now - at > Duration::from_millis(10) {
                        late += 1;
                        max_late_ms = max_late_ms.max((now - at).as_millis() as u64);
                    }
                }
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    break 'outer;
                }
                sizes_h.record(e.frame.len() as u64).expect("auto-resizing histogram");
                match e.kind {
                    EmittedKind::Commit { op, collection } => {
                        *by_kind.entry("#commit".into()).or_default() += 1;
                        *ops.entry(format!("{op:?}").to_lowercase()).or_default() += 1;
                        if op == model::OpKind::Create {
                            *cols.entry(Collection::category(collection.nsid()).into()).or_default() += 1;
                        }
                    }
                    EmittedKind::Identity => *by_kind.entry("#identity".into()).or_default() += 1,
                    EmittedKind::Account => *by_kind.entry("#account".into()).or_default() += 1,
                }
                per_host[e.host] += 1;
                if let Some(tap) = self.tap.as_mut() {
                    tap.write(&e.frame)?;
                }
                self.hosts[e.host].publish(e.seq, e.frame);
                emitted += 1;
                if emitted % 256 == 0 {
                    progress.set_position(emitted);
                }
            }
        }
        progress.set_position(emitted);
        let elapsed_s = start.elapsed().as_secs_f64();
        drop(rx);
        self.accounts = Some(generator.await.expect("generator does not panic")?);
        if let Some(tap) = self.tap.take() {
            tap.finish()?;
        }
        let (peak, rss) = crate::report::rss_bytes();
        let figures = WorldFigures {
            build_s: self.build_s,
            initial_records,
            emitted,
            elapsed_s,
            events_per_s: emitted as f64 / elapsed_s.max(1e-9),
            late_events: late,
            max_late_ms,
            by_kind,
            ops_pct: model::shares(&ops),
            collections_pct: model::shares(&cols),
            frame_bytes: sizes(&sizes_h),
            per_host,
            peak_rss_bytes: peak,
            rss_bytes: rss,
        };
        Ok((figures, self))
    }
}
