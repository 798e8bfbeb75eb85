//! `loadgen drive`: the traffic model as XRPC writes against any PDS.
//!
//! Accounts are created (`com.atproto.server.createAccount`) or given and logged in
//! (`createSession`). Writes follow [`crate::model`]: Zipf authors, ≈95.5% creates (with the
//! collection mix), 3.9% deletes of the author's earlier records, 0.6% profile updates
//! (`putRecord`); a share of posts first upload an image (`uploadBlob`) and embed it. Load is
//! open loop (Poisson arrivals at a target rate, requests in flight capped) or closed loop
//! (a fixed number of workers, each sending its next write when the last one returns).
//! Latencies go into per-operation hdrhistograms; errors are counted by kind. With `check`,
//! every record the run left behind is read back with `getRecord`, and every deleted one
//! must be gone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;
use xrpc_client::methods as m;

use crate::model::{Collection, Draw, OpKind, Sampler, TrafficModel};

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Xrpc(#[from] xrpc_client::Error),
    #[error("no accounts: give --accounts N or --account handle:password")]
    NoAccounts,
    #[error("{0}")]
    Options(String),
}

/// How load is offered.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loop {
    /// Poisson arrivals at this many writes per second, at most `max_in_flight` outstanding.
    Open { rate: f64, max_in_flight: usize },
    /// This many workers, each waiting for its previous write.
    Closed { concurrency: usize },
}

#[derive(Debug, Clone, Serialize)]
pub struct DriveOptions {
    pub pds: Url,
    /// Accounts to create.
    pub create_accounts: usize,
    /// Existing accounts as (identifier, password).
    #[serde(skip)]
    pub existing: Vec<(String, String)>,
    pub invite_code: Option<String>,
    pub load: Loop,
    pub writes: Option<u64>,
    #[serde(with = "crate::util::opt_secs")]
    pub duration: Option<Duration>,
    /// Share of posts that upload and embed an image.
    pub image_fraction: f64,
    pub images: ImageSizes,
    /// Accounts created at a time during setup.
    pub create_concurrency: usize,
    pub seed: u64,
    pub check: bool,
    pub model: TrafficModel,
}

/// Sizes of uploaded images: log-normal around a median, capped.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ImageSizes {
    pub median_bytes: usize,
    /// σ of the log of the size (0: every image is the median).
    pub sigma: f64,
    pub max_bytes: usize,
}

impl ImageSizes {
    pub fn new(median_bytes: usize, sigma: f64, max_bytes: usize) -> Result<Self, DriveError> {
        if median_bytes == 0 || median_bytes > max_bytes || !(sigma.is_finite() && sigma >= 0.0) {
            return Err(DriveError::Options(format!("image sizes: median {median_bytes} B, σ {sigma}, max {max_bytes} B (need 0 < median ≤ max, σ ≥ 0)")));
        }
        Ok(ImageSizes { median_bytes, sigma, max_bytes })
    }

    /// Every image the same size.
    pub fn fixed(bytes: usize) -> Self {
        ImageSizes { median_bytes: bytes, sigma: 0.0, max_bytes: bytes }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        if self.sigma == 0.0 {
            return self.median_bytes;
        }
        // Box–Muller: one standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(f64::MIN_POSITIVE), rng.gen());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        ((self.median_bytes as f64) * (self.sigma * z).exp()).round().clamp(1.0, self.max_bytes as f64) as usize
    }
}

struct Session {
    did: String,
    jwt: String,
    /// Live records this run created, by collection.
    records: BTreeMap<Collection, Vec<String>>,
    deleted: Vec<(Collection, String)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OpFigures {
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriveFigures {
    pub accounts: usize,
    pub setup_s: f64,
    pub elapsed_s: f64,
    /// Writes that succeeded (records created, updated or deleted).
    pub writes_ok: u64,
    pub writes_failed: u64,
    pub writes_per_s: f64,
    pub by_op: BTreeMap<String, OpFigures>,
    /// Errors by `call: HTTP status / XRPC error`.
    pub errors: BTreeMap<String, u64>,
    /// With `check`: records that should exist but do not, and deleted ones still present.
    pub check: Option<CheckFigures>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckFigures {
    pub live_records: u64,
    pub missing: u64,
    pub deleted_records: u64,
    pub still_present: u64,
}

struct Shared {
    pds: xrpc_client::Client,
    sessions: Vec<Mutex<Session>>,
    dids: Vec<String>,
    hist: std::sync::Mutex<BTreeMap<&'static str, (Histogram<u64>, u64)>>,
    errors: std::sync::Mutex<BTreeMap<String, u64>>,
    ok: AtomicU64,
    failed: AtomicU64,
    opts: DriveOptions,
}

impl DriveError {
    /// A short kind for error tallies: `call: status/ErrorName` or `call: transport`.
    fn kind(&self) -> String {
        match self {
            DriveError::Xrpc(xrpc_client::Error::Transport { method, .. }) => format!("{method}: transport"),
            DriveError::Xrpc(xrpc_client::Error::Xrpc { method, error }) => format!("{method}: {}/{}", error.status, error.error),
            DriveError::Xrpc(xrpc_client::Error::Decode { method, .. }) => format!("{method}: unexpected answer"),
            DriveError::NoAccounts | DriveError::Options(_) => "setup".into(),
        }
    }
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Creates or logs in the accounts.
async fn setup(opts: &DriveOptions, pds: &xrpc_client::Client) -> Result<Vec<Session>, DriveError> {
    let mut sessions = Vec::new();
    if opts.create_accounts > 0 {
        let desc: m::DescribeServerOutput = pds.query("com.atproto.server.describeServer", &()).await?;
        let domain = desc.available_user_domains.first().cloned().unwrap_or_else(|| ".test".into());
        let run = chrono::Utc::now().timestamp_millis() % 1_000_000;
        let create = |i: usize| {
            let handle = format!("lg{run}x{i}{domain}");
            let password = format!("loadgen-{}-{i}", opts.seed);
            let input = m::CreateAccountInput { handle, email: format!("lg{run}x{i}@loadgen.test"), password, invite_code: opts.invite_code.clone() };
            async move { pds.procedure::<_, m::SessionOutput>("com.atproto.server.createAccount", &input).await.map(session) }
        };
        // In order, a few at a time: account i is always the same handle's.
        let mut created = futures::stream::iter(0..opts.create_accounts).map(create).buffered(opts.create_concurrency.max(1));
        while let Some(s) = created.next().await {
            sessions.push(s?);
        }
    }
    for (id, password) in &opts.existing {
        let input = m::CreateSessionInput { identifier: id.clone(), password: password.clone() };
        sessions.push(session(pds.procedure("com.atproto.server.createSession", &input).await?));
    }
    if sessions.is_empty() {
        return Err(DriveError::NoAccounts);
    }
    Ok(sessions)
}

fn session(s: m::SessionOutput) -> Session {
    Session { did: s.did, jwt: s.access_jwt, records: BTreeMap::new(), deleted: Vec::new() }
}

/// Runs the workload.
pub async fn drive(opts: DriveOptions, progress: &indicatif::ProgressBar) -> Result<DriveFigures, DriveError> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client");
    let pds = xrpc_client::Client::with_http(opts.pds.as_str(), http);
    let setup_start = Instant::now();
    let sessions = setup(&opts, &pds).await?;
    let setup_s = setup_start.elapsed().as_secs_f64();
    let dids = sessions.iter().map(|s| s.did.clone()).collect();
    let accounts = sessions.len();
    let shared = Arc::new(Shared {
        pds,
        sessions: sessions.into_iter().map(Mutex::new).collect(),
        dids,
        hist: std::sync::Mutex::new(BTreeMap::new()),
        errors: std::sync::Mutex::new(BTreeMap::new()),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        opts: opts.clone(),
    });
    // The plan (who does what) is drawn up front from the seed, like `world`.
    let sampler = Arc::new(std::sync::Mutex::new(Sampler::new(&opts.model, accounts, opts.seed)));
    let issued = Arc::new(AtomicU64::new(0));
    let limit = opts.writes.unwrap_or(u64::MAX);
    let start = Instant::now();
    let deadline = opts.duration.map(|d| start + d);
    let next = {
        let (sampler, issued) = (sampler.clone(), issued.clone());
        move || -> Option<(u64, Draw, usize)> {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let i = issued.fetch_add(1, Ordering::Relaxed);
            if i >= limit {
                return None;
            }
            let mut s = sampler.lock().expect("sampler lock");
            // Identity and account events are not writes a client makes: redraw.
            loop {
                if let d @ Draw::Commit { .. } = s.draw() {
                    let other = s.author();
                    return Some((i, d, other));
                }
            }
        }
    };
    match opts.load {
        Loop::Closed { concurrency } => {
            let workers: Vec<_> = (0..concurrency.max(1))
                .map(|_| {
                    let (shared, next, progress) = (shared.clone(), next.clone(), progress.clone());
                    tokio::spawn(async move {
                        while let Some((i, draw, other)) = next() {
                            write(&shared, i, draw, other).await;
                            progress.inc(1);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.expect("worker does not panic");
            }
        }
        Loop::Open { rate, max_in_flight } => {
            let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x6f70_656e);
            let mut at = 0.0f64;
            let mut tasks = Vec::new();
            while let Some((i, draw, other)) = next() {
                let u: f64 = rng.gen();
                at += -(1.0 - u).ln() / (rate * opts.model.rate_factor(at)).max(1e-9);
                tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
                let permit = permits.clone().acquire_owned().await.expect("semaphore open");
                let (shared, progress) = (shared.clone(), progress.clone());
                tasks.push(tokio::spawn(async move {
                    write(&shared, i, draw, other).await;
                    progress.inc(1);
                    drop(permit);
                }));
            }
            for t in tasks {
                t.await.expect("write task does not panic");
            }
        }
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let check = if opts.check { Some(check(&shared).await) } else { None };
    let by_op = shared
        .hist
        .lock()
        .expect("hist lock")
        .iter()
        .map(|(k, (h, errors))| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            let f = OpFigures { count: h.len(), errors: *errors, p50_ms: ms(0.5), p90_ms: ms(0.9), p99_ms: ms(0.99), max_ms: h.max() as f64 / 1000.0 };
            (k.to_string(), f)
        })
        .collect();
    let ok = shared.ok.load(Ordering::Relaxed);
    let errors = shared.errors.lock().expect("errors lock").clone();
    Ok(DriveFigures {
        accounts,
        setup_s,
        elapsed_s,
        writes_ok: ok,
        writes_failed: shared.failed.load(Ordering::Relaxed),
        writes_per_s: ok as f64 / elapsed_s.max(1e-9),
        by_op,
        errors,
        check,
    })
}

fn record_latency(shared: &Shared, op: &'static str, started: Instant, failed: bool) {
    let mut hist = shared.hist.lock().expect("hist lock");
    let entry = hist.entry(op).or_insert_with(|| (Histogram::new(3).expect("histogram"), 0));
    if failed {
        entry.1 += 1;
    } else {
        entry.0.record(started.elapsed().as_micros() as u64).expect("auto-resizing histogram");
    }
}

/// Performs one write of the plan; failures are tallied, not fatal.
async fn write(shared: &Shared, index: u64, draw: Draw, other: usize) {
    let Draw::Commit { account, op, collection } = draw else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(shared.opts.seed ^ index.wrapping_mul(0x9e37_79b9));
    let mut session = shared.sessions[account].lock().await;
    let other_did = shared.dids[other].clone();
    // A delete with nothing of this run's left to delete becomes a create.
    let op = if op == OpKind::Delete && session.records.values().all(Vec::is_empty) { OpKind::Create } else { op };
    let result = match op {
        OpKind::Create => create(shared, &mut session, collection, &other_did, &mut rng).await,
        OpKind::Delete => {
            let c = if session.records.get(&collection).is_some_and(|v| !v.is_empty()) {
                collection
            } else {
                *session.records.iter().find(|(_, v)| !v.is_empty()).map(|(c, _)| c).expect("checked non-empty")
            };
            let keys = session.records.get_mut(&c).expect("present");
            let rkey = keys.swap_remove(rng.gen_range(0..keys.len()));
            let input = m::RecordKey { repo: session.did.clone(), collection: c.nsid().into(), rkey: rkey.clone() };
            let started = Instant::now();
            let r = as_member(shared, &session).procedure::<_, m::Empty>("com.atproto.repo.deleteRecord", &input).await;
            record_latency(shared, "deleteRecord", started, r.is_err());
            match r {
                Ok(_) => {
                    session.deleted.push((c, rkey));
                    Ok(())
                }
                Err(e) => {
                    session.records.entry(c).or_default().push(rkey);
                    Err(e.into())
                }
            }
        }
        OpKind::Update => {
            let record = json!({ "$type": "app.bsky.actor.profile", "displayName": format!("loadgen {index}"), "description": "driven by loadgen" });
            let input = m::WriteRecordInput { repo: session.did.clone(), collection: Collection::Profile.nsid().into(), rkey: Some("self".into()), record };
            let started = Instant::now();
            let r = as_member(shared, &session).procedure::<_, m::RecordRef>("com.atproto.repo.putRecord", &input).await;
            record_latency(shared, "putRecord", started, r.is_err());
            r.map(|_| ()).map_err(DriveError::from)
        }
    };
    match result {
        Ok(()) => shared.ok.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            *shared.errors.lock().expect("errors lock").entry(e.kind()).or_default() += 1;
            shared.failed.fetch_add(1, Ordering::Relaxed)
        }
    };
}

async fn create(shared: &Shared, session: &mut Session, collection: Collection, other_did: &str, rng: &mut ChaCha8Rng) -> Result<(), DriveError> {
    let rkey = atproto::syntax::Tid::now().to_string();
    let other_rkey = atproto::syntax::Tid::now().to_string();
    let mut record = atproto::json::to_json(&crate::world::records::record(collection, rng, &now_iso(), other_did, &other_rkey));
    if collection == Collection::Post && rng.gen_bool(shared.opts.image_fraction.clamp(0.0, 1.0)) {
        let mut bytes = vec![0u8; shared.opts.images.sample(rng)];
        rng.fill(&mut bytes[..]);
        let started = Instant::now();
        let r = as_member(shared, session).procedure_bytes::<m::UploadBlobOutput>("com.atproto.repo.uploadBlob", "image/jpeg", bytes).await;
        record_latency(shared, "uploadBlob", started, r.is_err());
        let blob = r?.blob;
        record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": [{ "alt": "", "image": blob }] });
    }
    let input = m::WriteRecordInput { repo: session.did.clone(), collection: collection.nsid().into(), rkey: Some(rkey.clone()), record };
    let started = Instant::now();
    let r = as_member(shared, session).procedure::<_, m::RecordRef>("com.atproto.repo.createRecord", &input).await;
    record_latency(shared, "createRecord", started, r.is_err());
    r?;
    session.records.entry(collection).or_default().push(rkey);
    Ok(())
}

/// The PDS, as `session`'s member.
fn as_member(shared: &Shared, session: &Session) -> xrpc_client::Client {
    shared.pds.with_auth(xrpc_client::Auth::Bearer(session.jwt.clone()))
}

/// Reads back every record the run left (must exist) and deleted (must be gone).
async fn check(shared: &Shared) -> CheckFigures {
    let mut f = CheckFigures::default();
    for s in &shared.sessions {
        let s = s.lock().await;
        let exists = |c: Collection, rkey: &str| {
            let key = m::RecordKey { repo: s.did.clone(), collection: c.nsid().into(), rkey: rkey.into() };
            async move { shared.pds.query::<_, m::Empty>("com.atproto.repo.getRecord", &key).await.is_ok() }
        };
        for (c, keys) in &s.records {
            for k in keys {
                f.live_records += 1;
                if !exists(*c, k).await {
                    f.missing += 1;
                }
            }
        }
        for (c, k) in &s.deleted {
            f.deleted_records += 1;
            if exists(*c, k).await {
                f.still_present += 1;
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_spread_around_their_median_and_respect_the_cap() {
        let sizes = ImageSizes::new(300_000, 0.8, 1_000_000).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut draws: Vec<usize> = (0..20_000).map(|_| sizes.sample(&mut rng)).collect();
        draws.sort_unstable();
        let median = draws[draws.len() / 2] as f64;
        assert!((median / 300_000.0 - 1.0).abs() < 0.05, "median {median}");
        assert!(*draws.last().unwrap() == 1_000_000, "the cap is reached and held");
        assert!(draws[0] < 100_000, "a spread, not a constant");
        assert_eq!(ImageSizes::fixed(7).sample(&mut rng), 7);
        assert!(ImageSizes::new(0, 0.0, 10).is_err() && ImageSizes::new(20, 0.0, 10).is_err() && ImageSizes::new(5, -1.0, 10).is_err());
    }
}
