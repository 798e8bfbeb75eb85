//! `loadgen`: Sonde's load generator. Each subcommand lives in a library module; this file
//! only parses arguments, shows progress and writes the JSON result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use loadgen::compare::{self, CompareOptions, Source, SourceKind};
use loadgen::consume::{self, ConsumeOptions};
use loadgen::drive::{self, DriveOptions, Loop};
use loadgen::model::{Surge, TrafficModel};
use loadgen::record::{self, RecordOptions};
use loadgen::replay::{ReplayOptions, ReplayServer, Speed};
use loadgen::report::{report, write};
use loadgen::resolve::Resolver;
use loadgen::subscribe::{stream_url, SUBSCRIBE_REPOS};
use loadgen::util::parse_duration;
use loadgen::world::{World, WorldOptions};

// Generating a world is allocation-heavy on several threads (encoders on the workers, frames
// freed on the runtime): glibc's malloc spent a fifth of the time in its own bookkeeping.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde::Serialize;

/// Sonde's load generator: synthetic networks, write drivers, firehose record/replay, hose comparison.
///
/// Every command writes a JSON result (command, workload, seed, machine, versions, figures)
/// to --json PATH, or to ./loadgen-<command>-<time>.json; `--json -` prints it instead.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Output {
    /// Where to write the JSON result (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Record a subscribeRepos stream to a frame file.
    ///
    /// The file is zstd of `[u32 little-endian length][frame]` repeated, frames byte for byte
    /// as received (the shared corpus layout). Stops at --duration, --max-events, --idle, or when the
    /// server closes the stream, whichever comes first.
    Record {
        /// A PDS, relay or replay host: `wss://host`, `http://127.0.0.1:2470`, or a full
        /// `.../xrpc/com.atproto.sync.subscribeRepos` URL.
        url: String,
        /// The frame file to write.
        #[arg(short, long)]
        out: PathBuf,
        /// Start after this sequence number instead of live.
        #[arg(long)]
        cursor: Option<i64>,
        /// Stop after this long (e.g. 30s, 5m).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Stop after this many frames.
        #[arg(long)]
        max_events: Option<u64>,
        /// Stop once the stream has been quiet this long (after its first frame).
        #[arg(long, value_parser = parse_duration)]
        idle: Option<Duration>,
        /// The stream is Jetstream JSON (`/subscribe`): store each text message as an entry.
        #[arg(long)]
        jetstream: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Hold many subscriptions to one stream and count what each receives.
    ///
    /// Opens --connections WebSockets to a subscribeRepos (or, with --jetstream, Jetstream)
    /// URL and reads every message, counting messages and bytes per connection; the first
    /// connection also measures delivery lag (receipt time minus the event's `time`). This is
    /// the load of a relay's consumers, without the cost of storing anything.
    Consume {
        /// A PDS, relay or replay host, or a full stream URL.
        url: String,
        /// Simultaneous subscriptions.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Start after this sequence number instead of live.
        #[arg(long)]
        cursor: Option<i64>,
        /// Stop after this long.
        #[arg(long, value_parser = parse_duration, default_value = "60s")]
        duration: Duration,
        /// Stop once every connection has been quiet this long (after its first message).
        #[arg(long, value_parser = parse_duration)]
        idle: Option<Duration>,
        /// The stream is Jetstream JSON (`/subscribe`).
        #[arg(long)]
        jetstream: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Load an AppView with concurrent app.bsky reads and measure their latency.
    ///
    /// Reads getProfile and getAuthorFeed of random accounts the AppView knows (all are asked
    /// with getProfiles first; the unknown ones are counted, not read), getTimeline as the accounts that
    /// follow the most (each with a service-auth token signed by its own key, audience --aud),
    /// and searchPosts with queries from world's post vocabulary (a word, two words, a quoted
    /// phrase, a word from: an author). The accounts are a `world --accounts-out` file. Each
    /// method runs for --duration with --clients closed-loop clients; the result has requests,
    /// errors by status, requests/s and latency p50/p90/p99/max per method.
    Read(Box<ReadArgs>),
    /// Serve a frame file as an emulated host's subscribeRepos.
    ///
    /// Each connection gets the frames after its `cursor`, byte for byte, paced by the frames'
    /// `time` fields (--speed 1x, 10x, max). After the last frame connections stay open and
    /// idle. Serves until --duration passes or Ctrl-C.
    Replay {
        /// The frame file to serve.
        file: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Pace: `1x` (as recorded), `Nx` (N times faster) or `max`.
        #[arg(long, default_value = "1x")]
        speed: Speed,
        /// Fault injection: drop every Nth frame of the file (counting from 1).
        #[arg(long)]
        drop_every: Option<u64>,
        /// Stop serving after this long.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        #[command(flatten)]
        output: Output,
    },
    /// Subscribe to several relays at once and compare what each delivers.
    ///
    /// Per source: events/s, coverage against the union of all sources (matched by DID and
    /// rev), delivery lag p50/p99 (event time to receipt), seq gaps, commits failing
    /// verification (with --did-docs, --plc or --did-web), reconnects. Prints a table.
    Compare {
        /// A subscribeRepos firehose, as URL or NAME=URL. Repeatable.
        #[arg(long = "relay")]
        relays: Vec<String>,
        /// A Jetstream endpoint (JSON), as URL or NAME=URL. Repeatable.
        #[arg(long = "jetstream")]
        jetstreams: Vec<String>,
        /// How long to listen.
        #[arg(long, value_parser = parse_duration, default_value = "60s")]
        duration: Duration,
        /// Start every source at this cursor instead of live.
        #[arg(long)]
        cursor: Option<i64>,
        /// JSON file (optionally .zst) of DID → DID document, for verifying commits.
        #[arg(long)]
        did_docs: Vec<PathBuf>,
        /// PLC directory base URL for resolving did:plc signing keys.
        #[arg(long)]
        plc: Option<url::Url>,
        /// Resolve did:web documents over HTTPS.
        #[arg(long)]
        did_web: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Run a synthetic network: N emulated PDS hosts, M accounts, production-shaped traffic.
    ///
    /// Each host listens on its own 127.0.0.1 port and serves subscribeRepos, describeServer,
    /// getRepo, getLatestCommit and listRepos. Accounts get real k256 (some p256) keys,
    /// did:plc genesis operations and repositories of realistic size; every #commit verifies.
    /// Traffic: Zipf authors and hosts, Poisson arrivals at --rate (or max), ≈95.5% creates,
    /// 3.9% deletes, 0.6% updates; 71% likes, 12% posts, 10% reposts, 6% follows, 1% other;
    /// a trickle of #identity/#account. Model parameters come from --workload FILE (TOML, the
    /// fields of the traffic model: author_zipf, host_zipf, p256_fraction, initial_records,
    /// [ops], [collections], identity_per_10k, account_per_10k, daily_amplitude,
    /// daily_period_s, [surge]) and the flags below, which override the file.
    World(Box<WorldArgs>),
    /// Drive the traffic model as XRPC writes against any PDS.
    ///
    /// Creates --accounts N accounts (or logs in --account handle:password), then performs
    /// createRecord / deleteRecord / putRecord / uploadBlob following the model (Zipf authors,
    /// ≈95.5% creates, 3.9% deletes, 0.6% profile updates, the collection mix), open loop at
    /// --rate writes/s or closed loop with --concurrency workers, until --writes or
    /// --duration. Reports latency percentiles per call (hdrhistogram), throughput and errors
    /// by kind; --check reads every surviving record back and confirms deletes.
    Drive(Box<DriveArgs>),
}

#[derive(Args)]
struct DriveArgs {
    /// The PDS base URL, e.g. http://127.0.0.1:2583.
    pds: url::Url,
    /// Accounts to create.
    #[arg(long, default_value_t = 0)]
    accounts: usize,
    /// An existing account as IDENTIFIER:PASSWORD. Repeatable.
    #[arg(long = "account")]
    existing: Vec<String>,
    /// Invite code for createAccount.
    #[arg(long)]
    invite_code: Option<String>,
    /// Open loop: writes per second (Poisson).
    #[arg(long, conflicts_with = "concurrency")]
    rate: Option<f64>,
    /// Open loop: cap on requests in flight.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Closed loop: number of workers (the default mode, with 8 workers).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Stop after this many writes.
    #[arg(long)]
    writes: Option<u64>,
    /// Stop after this long. Without --writes or --duration: 1,000 writes.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Share of posts that upload and embed an image.
    #[arg(long, default_value_t = 0.1)]
    image_fraction: f64,
    /// Median size of an uploaded image in bytes.
    #[arg(long, default_value_t = 50_000)]
    image_bytes: usize,
    /// Spread of image sizes: σ of the log of a log-normal around --image-bytes (0: all the same).
    #[arg(long, default_value_t = 0.0)]
    image_bytes_sigma: f64,
    /// Largest image in bytes (the app.bsky.embed.images limit is 1,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    image_bytes_max: usize,
    /// Accounts created at a time.
    #[arg(long, default_value_t = 8)]
    create_concurrency: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// TOML workload file with traffic model parameters (as for `world`).
    #[arg(long)]
    workload: Option<PathBuf>,
    /// Afterwards, read back every record left and confirm every delete.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    output: Output,
}

async fn run_drive(a: DriveArgs, started: chrono::DateTime<chrono::Utc>) -> Result<()> {
    let model: TrafficModel = match &a.workload {
        Some(path) => toml::from_str(&std::fs::read_to_string(path)?).with_context(|| format!("parsing {}", path.display()))?,
        None => TrafficModel::default(),
    };
    model.validate()?;
    let existing = a
        .existing
        .iter()
        .map(|s| s.split_once(':').map(|(i, p)| (i.to_string(), p.to_string())).context("--account is IDENTIFIER:PASSWORD"))
        .collect::<Result<Vec<_>>>()?;
    let load = match (a.rate, a.concurrency) {
        (Some(rate), _) if rate > 0.0 && rate.is_finite() => Loop::Open { rate, max_in_flight: a.max_in_flight },
        (Some(_), _) => bail!("--rate must be positive"),
        (None, c) => Loop::Closed { concurrency: c.unwrap_or(8) },
    };
    let writes = match (a.writes, a.duration) {
        (None, None) => Some(1_000),
        (w, _) => w,
    };
    let opts = DriveOptions {
        pds: a.pds,
        create_accounts: a.accounts,
        existing,
        invite_code: a.invite_code,
        load,
        writes,
        duration: a.duration,
        image_fraction: a.image_fraction,
        images: drive::ImageSizes::new(a.image_bytes, a.image_bytes_sigma, a.image_bytes_max)?,
        create_concurrency: a.create_concurrency.max(1),
        seed: a.seed,
        check: a.check,
        model,
    };
    let bar = progress_bar(a.output.quiet, writes, "{elapsed} {pos} writes {per_sec} {wide_bar}");
    let figures = drive::drive(opts.clone(), &bar).await?;
    bar.finish_and_clear();
    eprintln!("{} writes ok, {} failed in {:.1}s ({:.0}/s)", figures.writes_ok, figures.writes_failed, figures.elapsed_s, figures.writes_per_s);
    for (op, f) in &figures.by_op {
        eprintln!("  {op:<14} n={:<7} p50 {:.1}ms p99 {:.1}ms errors {}", f.count, f.p50_ms, f.p99_ms, f.errors);
    }
    for (kind, n) in &figures.errors {
        eprintln!("  error {kind}: {n}");
    }
    if let Some(c) = &figures.check {
        eprintln!("check: {} live records, {} missing; {} deleted, {} still present", c.live_records, c.missing, c.deleted_records, c.still_present);
    }
    let path = write(&report("drive", started, Some(opts.seed), &opts, &figures), a.output.json.as_deref())?;
    eprintln!("result: {path}");
    Ok(())
}

#[derive(Args)]
struct ReadArgs {
    /// The AppView's base URL (e.g. http://127.0.0.1:2584).
    target: url::Url,
    /// The accounts file `world --accounts-out` wrote (DIDs, handles and signing keys).
    #[arg(long)]
    accounts: PathBuf,
    /// The AppView's DID, the audience of the timeline viewers' service-auth tokens
    /// (default: did:web of the target's host and port, as the indexer names itself).
    #[arg(long)]
    aud: Option<String>,
    /// Methods to read, in order (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "getProfile,getAuthorFeed,getTimeline,searchPosts")]
    methods: Vec<loadgen::read::Method>,
    /// Concurrent clients per method.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How long each method is read.
    #[arg(long, value_parser = parse_duration, default_value = "20s")]
    duration: Duration,
    /// Timeline viewers: this many of the accounts that follow the most.
    #[arg(long, default_value_t = 10)]
    viewers: usize,
    /// Seed for the choice of actors, viewers' order and queries.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
struct WorldArgs {
    /// Number of emulated PDS hosts.
    #[arg(long, default_value_t = 4)]
    hosts: usize,
    /// Number of accounts, spread over the hosts with Zipf-skewed host sizes.
    #[arg(long, default_value_t = 200)]
    accounts: usize,
    /// Seed for every random choice (keys, repositories, traffic).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Target events per second (Poisson), or `max`.
    #[arg(long, default_value = "max")]
    rate: String,
    /// Stop after this many events.
    #[arg(long)]
    events: Option<u64>,
    /// Stop after this long (e.g. 60s). Without --events or --duration: 10,000 events.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// TOML workload file with traffic model parameters.
    #[arg(long)]
    workload: Option<PathBuf>,
    /// Zipf exponent of authors over accounts.
    #[arg(long)]
    author_zipf: Option<f64>,
    /// Zipf exponent of accounts over hosts.
    #[arg(long)]
    host_zipf: Option<f64>,
    /// Fraction of accounts with p256 keys.
    #[arg(long)]
    p256_fraction: Option<f64>,
    /// Median starting repository size in records (drives frame size via MST depth).
    #[arg(long)]
    initial_records: Option<u32>,
    /// Daily cycle amplitude (0..1) of the arrival rate.
    #[arg(long)]
    daily_amplitude: Option<f64>,
    /// Daily cycle period (e.g. 24h, or 60s to compress a day).
    #[arg(long, value_parser = parse_duration)]
    daily_period: Option<Duration>,
    /// Surge: MULTIPLIER@START+LENGTH, e.g. 10@30s+10s.
    #[arg(long)]
    surge: Option<String>,
    /// #identity events per 10,000 events.
    #[arg(long)]
    identity_per_10k: Option<f64>,
    /// #account events per 10,000 events.
    #[arg(long)]
    account_per_10k: Option<f64>,
    /// Generator threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Accounts whose repository tree stays decoded in memory between batches (the most
    /// recently written); fewer saves memory on long runs, more saves decoding work
    #[arg(long, default_value_t = 4096)]
    decoded_repos: usize,
    /// Frames each host keeps for cursor reconnects.
    #[arg(long, default_value_t = 10_000)]
    backlog: usize,
    /// Put host i on port BASE+i (default: ephemeral ports). DIDs name host URLs, so
    /// reproducing a world exactly needs the same ports, seed and --epoch-micros.
    #[arg(long)]
    base_port: Option<u16>,
    /// Fix the TID clock (Unix microseconds) to make frames identical across runs.
    #[arg(long)]
    epoch_micros: Option<u64>,
    /// Register the hosts with this relay via com.atproto.sync.requestCrawl before emitting.
    /// Repeatable (several relays crawling one world).
    #[arg(long = "relay")]
    relays: Vec<url::Url>,
    /// Post every account's genesis operation to this PLC directory before emitting. Without
    /// it, world runs the project's own PLC directory in process (on 127.0.0.1:--plc-port,
    /// data in a temporary directory) and registers every account there.
    #[arg(long)]
    plc: Option<url::Url>,
    /// Port of the in-process PLC directory (0: any free port).
    #[arg(long, default_value_t = 0, conflicts_with = "plc")]
    plc_port: u16,
    /// Write DID → DID document for every account here (JSON; .zst compresses), for
    /// `compare --did-docs`.
    #[arg(long)]
    did_docs_out: Option<PathBuf>,
    /// Also write every emitted frame here, in emission order, as a frame file (zstd; the
    /// layout `record` writes): the recording a subscriber from the first event would make.
    /// Needs --hosts 1.
    #[arg(long)]
    frames_out: Option<PathBuf>,
    /// Write every account's DID, handle and private signing key here (JSON lines), for
    /// `read`. The keys are the synthetic accounts' own; keep the file with the run.
    #[arg(long)]
    accounts_out: Option<PathBuf>,
    /// Wait this long after building before emitting (time for subscribers to connect).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Keep serving this long after the last event (for crawlers and getRepo).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    linger: Duration,
    #[command(flatten)]
    output: Output,
}

fn parse_surge(text: &str) -> Result<Surge> {
    let (mult, rest) = text.split_once('@').context("surge is MULTIPLIER@START+LENGTH")?;
    let (start, len) = rest.split_once('+').context("surge is MULTIPLIER@START+LENGTH")?;
    Ok(Surge {
        multiplier: mult.trim_end_matches('x').parse().context("surge multiplier")?,
        start_s: parse_duration(start).map_err(anyhow::Error::msg)?.as_secs_f64(),
        length_s: parse_duration(len).map_err(anyhow::Error::msg)?.as_secs_f64(),
    })
}

fn world_options(a: &WorldArgs) -> Result<WorldOptions> {
    let mut model: TrafficModel = match &a.workload {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => TrafficModel::default(),
    };
    if let Some(v) = a.author_zipf {
        model.author_zipf = v;
    }
    if let Some(v) = a.host_zipf {
        model.host_zipf = v;
    }
    if let Some(v) = a.p256_fraction {
        model.p256_fraction = v;
    }
    if let Some(v) = a.initial_records {
        model.initial_records = v;
    }
    if let Some(v) = a.daily_amplitude {
        model.daily_amplitude = v;
    }
    if let Some(v) = a.daily_period {
        model.daily_period_s = v.as_secs_f64();
    }
    if let Some(v) = &a.surge {
        model.surge = Some(parse_surge(v)?);
    }
    if let Some(v) = a.identity_per_10k {
        model.identity_per_10k = v;
    }
    if let Some(v) = a.account_per_10k {
        model.account_per_10k = v;
    }
    model.validate()?;
    let rate = if a.rate.eq_ignore_ascii_case("max") {
        None
    } else {
        let r: f64 = a.rate.parse().context("--rate is a number of events per second or `max`")?;
        if !(r.is_finite() && r > 0.0) {
            bail!("--rate must be positive");
        }
        Some(r)
    };
    let events = match (a.events, a.duration) {
        (None, None) => Some(10_000),
        (e, _) => e,
    };
    Ok(WorldOptions {
        hosts: a.hosts,
        accounts: a.accounts,
        seed: a.seed,
        rate,
        events,
        duration: a.duration,
        backlog: a.backlog,
        ports: match a.base_port {
            Some(base) => (0..a.hosts).map(|i| u16::try_from(base as usize + i).context("--base-port + hosts exceeds 65535")).collect::<Result<_>>()?,
            None => Vec::new(),
        },
        batch: 1024,
        threads: a.threads,
        decoded_repos: a.decoded_repos,
        epoch_micros: a.epoch_micros,
        model,
    })
}

async fn run_read(a: ReadArgs, started: chrono::DateTime<chrono::Utc>) -> Result<()> {
    let accounts = loadgen::accounts_file::read(&a.accounts)?;
    let audience = match a.aud {
        Some(aud) => aud,
        None => atproto::did_doc::did_web_for(a.target.host_str().context("the target names no host")?, a.target.port()),
    };
    let opts = loadgen::read::ReadOptions {
        target: a.target,
        audience,
        methods: a.methods,
        clients: a.clients,
        duration: a.duration,
        viewers: a.viewers,
        seed: a.seed,
    };
    let bar = progress_bar(a.output.quiet, None, "{spinner} {pos} requests {per_sec} {elapsed}");
    let tick = bar.clone();
    let figures = tokio::select! {
        f = loadgen::read::run(&opts, &accounts, move || tick.inc(1)) => f?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    };
    bar.finish_and_clear();
    for m in &figures.methods {
        let l = m.latency.as_ref();
        eprintln!(
            "{:<28} {:>8} requests {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:?}",
            m.method.nsid(),
            m.requests,
            m.requests_per_s,
            l.map_or(f64::NAN, |l| l.p50_ms),
            l.map_or(f64::NAN, |l| l.p99_ms),
            m.errors
        );
    }
    let path = write(&report("read", started, Some(opts.seed), &opts, &figures), a.output.json.as_deref())?;
    eprintln!("result: {path}");
    Ok(())
}

async fn run_world(a: WorldArgs, started: chrono::DateTime<chrono::Utc>) -> Result<()> {
    let opts = world_options(&a)?;
    let bar = progress_bar(a.output.quiet, Some(opts.accounts as u64), "building {pos}/{len} accounts {wide_bar} {elapsed}");
    let mut world = World::build(opts.clone(), &bar).await?;
    bar.finish_and_clear();
    if let Some(path) = &a.frames_out {
        world.tap(loadgen::framefile::FrameWriter::create(path)?)?;
    }
    if let Some(path) = &a.accounts_out {
        loadgen::accounts_file::write(path, &world.account_keys())?;
    }
    eprintln!("built {} accounts on {} hosts in {:.1}s:", opts.accounts, opts.hosts, world.build_s);
    for h in &world.hosts {
        eprintln!("  host {} {}", h.index, h.url());
    }
    if let Some(path) = &a.did_docs_out {
        let json = serde_json::to_vec(&world.did_docs())?;
        let bytes = if path.extension().is_some_and(|e| e == "zst") { zstd::encode_all(json.as_slice(), 3)? } else { json };
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    // The PLC directory the accounts' DIDs resolve through: the given one, or our own.
    let (plc_url, _embedded_plc) = match &a.plc {
        Some(url) => (url.clone(), None),
        None => {
            let dir = tempfile::tempdir()?;
            let server = plc::ServerBuilder::new(dir.path().join("plc")).bind(std::net::SocketAddr::from(([127, 0, 0, 1], a.plc_port))).await?;
            (server.url().parse()?, Some((server, dir)))
        }
    };
    world.register_plc(&plc_url).await?;
    eprintln!("PLC directory {plc_url}: {} DIDs registered", world.identities.len());
    let mut crawl = Vec::new();
    for relay in &a.relays {
        let client = xrpc_client::Client::new(relay.as_str());
        for h in &world.hosts {
            let hostname = h.addr.to_string();
            let input = xrpc_client::methods::RequestCrawl { hostname: hostname.clone() };
            let status = match client.procedure::<_, xrpc_client::methods::Empty>("com.atproto.sync.requestCrawl", &input).await {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            };
            eprintln!("requestCrawl {hostname} at {relay}: {status}");
            crawl.push(serde_json::json!({ "relay": relay.to_string(), "hostname": hostname, "result": status }));
        }
    }
    tokio::time::sleep(a.warmup).await;
    let bar = progress_bar(a.output.quiet, opts.events, "{elapsed} {pos} events {per_sec} {wide_bar}");
    let (figures, world) = world.run(&bar).await?;
    bar.finish_and_clear();
    eprintln!(
        "emitted {} events in {:.1}s ({:.0}/s); frame median {} B; peak RSS {} MB",
        figures.emitted,
        figures.elapsed_s,
        figures.events_per_s,
        figures.frame_bytes.p50,
        figures.peak_rss_bytes.unwrap_or(0) / 1_000_000
    );
    tokio::time::sleep(a.linger).await;
    #[derive(Serialize)]
    struct Workload<'a> {
        options: &'a WorldOptions,
        workload_file: &'a Option<PathBuf>,
        hosts: Vec<String>,
        relays: Vec<String>,
        request_crawl: Vec<serde_json::Value>,
        plc: Option<String>,
    }
    let workload = Workload {
        options: &opts,
        workload_file: &a.workload,
        hosts: world.hosts.iter().map(|h| h.url()).collect(),
        relays: a.relays.iter().map(|u| u.to_string()).collect(),
        request_crawl: crawl,
        plc: Some(plc_url.to_string()),
    };
    let path = write(&report("world", started, Some(opts.seed), workload, &figures), a.output.json.as_deref())?;
    eprintln!("result: {path}");
    // Freeing a large world's millions of blocks one by one takes seconds, and the process is
    // about to exit: stop serving and leave the memory to the operating system.
    for h in &world.hosts {
        h.stop();
    }
    std::mem::forget(world);
    Ok(())
}

fn progress_bar(quiet: bool, len: Option<u64>, template: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn parse_source(text: &str, kind: SourceKind, index: usize) -> Result<Source> {
    let (name, url) = match text.split_once('=') {
        Some((name, url)) if !name.contains('/') && !name.contains(':') => (name.to_string(), url),
        _ => (format!("{}{}", if kind == SourceKind::Firehose { "relay" } else { "jetstream" }, index + 1), text),
    };
    let path = if kind == SourceKind::Firehose { SUBSCRIBE_REPOS } else { "/subscribe" };
    Ok(Source { name, url: stream_url(url, path)?, kind })
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let started = chrono::Utc::now();
    match Cli::parse().command {
        Command::Record { url, out, cursor, duration, max_events, idle, jetstream, output } => {
            if duration.is_none() && max_events.is_none() && idle.is_none() {
                eprintln!("note: no --duration, --max-events or --idle: recording until the server closes or Ctrl-C");
            }
            let path = if jetstream { "/subscribe" } else { SUBSCRIBE_REPOS };
            let opts = RecordOptions { url: stream_url(&url, path)?, cursor, duration, max_events, idle, out, jetstream };
            let bar = progress_bar(output.quiet, max_events, "{spinner} {elapsed} {pos} frames {per_sec} {wide_bar}");
            let figures = tokio::select! {
                r = record::record(&opts, &bar) => r.context("recording")?,
                _ = tokio::signal::ctrl_c() => bail!("interrupted; the frame file is incomplete"),
            };
            bar.finish_and_clear();
            eprintln!(
                "recorded {} frames ({} bytes) to {} in {:.1}s, ended by {}",
                figures.frames,
                figures.frame_bytes,
                opts.out.display(),
                figures.elapsed_s,
                figures.ended_by
            );
            let path = write(&report("record", started, None, &opts, &figures), output.json.as_deref())?;
            eprintln!("result: {path}");
        }
        Command::Consume { url, connections, cursor, duration, idle, jetstream, output } => {
            let path = if jetstream { "/subscribe" } else { SUBSCRIBE_REPOS };
            let opts = ConsumeOptions { url: stream_url(&url, path)?, connections, cursor, duration, idle, jetstream };
            let bar = progress_bar(output.quiet, Some(duration.as_secs().max(1)), "{elapsed}/{len}s {wide_bar}");
            let ticker = {
                let bar = bar.clone();
                tokio::spawn(async move {
                    let start = tokio::time::Instant::now();
                    loop {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        bar.set_position(start.elapsed().as_secs());
                    }
                })
            };
            let figures = tokio::select! {
                f = consume::consume(&opts) => f,
                _ = tokio::signal::ctrl_c() => bail!("interrupted"),
            };
            ticker.abort();
            bar.finish_and_clear();
            eprintln!(
                "{} connections received {} messages ({} bytes) in {:.1}s; fewest {}, most {}; lag p50 {:?} ms, p99 {:?} ms",
                figures.connections,
                figures.messages,
                figures.bytes,
                figures.elapsed_s,
                figures.min_messages,
                figures.max_messages,
                figures.lag.p50_ms,
                figures.lag.p99_ms
            );
            let path = write(&report("consume", started, None, &opts, &figures), output.json.as_deref())?;
            eprintln!("result: {path}");
        }
        Command::Replay { file, listen, speed, drop_every, duration, output } => {
            let frames = loadgen::framefile::read_frames(&file)?;
            let n = frames.len();
            let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listening on {listen}"))?;
            let opts = ReplayOptions { speed, drop_every };
            let server = ReplayServer::start(listener, frames, opts.clone())?;
            eprintln!("serving {n} frames from {} at {}{SUBSCRIBE_REPOS}", file.display(), server.url());
            match duration {
                Some(d) => tokio::select! {
                    _ = tokio::time::sleep(d) => {},
                    _ = tokio::signal::ctrl_c() => {},
                },
                None => tokio::signal::ctrl_c().await?,
            }
            let addr = server.addr.to_string();
            server.shutdown().await;
            #[derive(Serialize)]
            struct Workload<'a> {
                file: &'a PathBuf,
                listen: String,
                options: &'a ReplayOptions,
            }
            #[derive(Serialize)]
            struct Figures {
                frames_in_file: usize,
                served_s: f64,
            }
            let figures = Figures { frames_in_file: n, served_s: (chrono::Utc::now() - started).num_milliseconds() as f64 / 1000.0 };
            let path = write(&report("replay", started, None, Workload { file: &file, listen: addr, options: &opts }, figures), output.json.as_deref())?;
            eprintln!("result: {path}");
        }
        Command::Compare { relays, jetstreams, duration, cursor, did_docs, plc, did_web, output } => {
            let mut sources = Vec::new();
            for (i, r) in relays.iter().enumerate() {
                sources.push(parse_source(r, SourceKind::Firehose, i)?);
            }
            for (i, j) in jetstreams.iter().enumerate() {
                sources.push(parse_source(j, SourceKind::Jetstream, i)?);
            }
            if sources.is_empty() {
                bail!("give at least one --relay or --jetstream");
            }
            let mut resolver = Resolver::new(plc.clone(), did_web)?;
            for f in &did_docs {
                resolver.load_file(f)?;
            }
            let opts = CompareOptions { sources, duration, cursor };
            let counter = Arc::new(AtomicU64::new(0));
            let bar = progress_bar(output.quiet, Some(duration.as_secs().max(1)), "{elapsed}/{len}s {wide_bar} {msg}");
            let ticker = {
                let (bar, counter) = (bar.clone(), counter.clone());
                tokio::spawn(async move {
                    let start = tokio::time::Instant::now();
                    loop {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        bar.set_position(start.elapsed().as_secs());
                        bar.set_message(format!("{} messages", counter.load(Ordering::Relaxed)));
                    }
                })
            };
            let figures = compare::compare(&opts, Some(Arc::new(resolver)), counter).await;
            ticker.abort();
            bar.finish_and_clear();
            print!("{}", compare::table(&figures));
            #[derive(Serialize)]
            struct Workload<'a> {
                options: &'a CompareOptions,
                did_docs: &'a [PathBuf],
                plc: Option<String>,
                did_web: bool,
            }
            let workload = Workload { options: &opts, did_docs: &did_docs, plc: plc.map(|u| u.to_string()), did_web };
            let path = write(&report("compare", started, None, workload, &figures), output.json.as_deref())?;
            eprintln!("result: {path}");
        }
        Command::World(args) => run_world(*args, started).await?,
        Command::Read(args) => run_read(*args, started).await?,
        Command::Drive(args) => run_drive(*args, started).await?,
    }
    Ok(())
}
