//! `pds-members`: one PDS with N members living through a compressed week.
//!
//! For each member count the run starts a fresh PLC directory and a fresh PDS, subscribes
//! `relays` firehose consumers to it (as the relays that crawl a real PDS would), and has
//! `loadgen drive` create the members and then write what they would write in `days` days,
//! open loop at the rate that fits those days into `days × seconds_per_day`. The member-day
//! profile (posts, likes, reposts, follows, blocks; deletes and updates; images and their
//! sizes) comes from the definition, where each figure names its source.
//!
//! Measured per member count: the PDS's CPU seconds during the activity (account creation
//! excluded) and so per member-day; its RSS (peak and mean); bytes on disk after it stopped,
//! split by part; bytes in and out on its sockets; write latency p50/p99 and errors by reason
//! from loadgen.
//!
//! Each scale names its targets: `sonde`, this project's PDS, and `reference`, the TypeScript
//! PDS (`@atproto/pds` from npm, installed by `scripts/refpds.sh`), run on the same PLC
//! directory, workload and seed. Their figures come from outside where the two differ inside:
//! Sonde's PDS counts its socket bytes and store sizes on `/metrics`, and is reopened before
//! its disk is measured (the write-ahead log replayed into table files); the reference PDS has
//! no such counters, so a [`CountingProxy`] in front of it counts its bytes, and its disk is
//! split by its files (one SQLite database per member, holding repo blocks and records
//! together; the sequencer; the account database).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use testbed::services::ReferencePds;
use testbed::{free_port, Service};

use super::Context;
use crate::collect::{dir_bytes, Metrics, Sampler, Usage};
use crate::defs::{Fraction, NonEmpty, NonNegative, Positive, Spec};
use crate::proxy::CountingProxy;

pub const KIND: &str = "pds-members";

/// Records one member creates per day, by kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub posts: NonNegative,
    pub likes: NonNegative,
    pub reposts: NonNegative,
    pub follows: NonNegative,
    pub blocks: NonNegative,
}

impl Activity {
    pub fn creates(&self) -> f64 {
        self.posts.0 + self.likes.0 + self.reposts.0 + self.follows.0 + self.blocks.0
    }
}

/// Relative weights of creates, deletes and updates among a member's writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpWeights {
    pub create: Positive,
    pub delete: NonNegative,
    pub update: NonNegative,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub per_member_day: Activity,
    pub ops: OpWeights,
    /// Share of posts with an image.
    pub image_fraction: Fraction,
    pub image_bytes_median: Positive,
    /// σ of the log of image sizes (log-normal).
    pub image_bytes_sigma: NonNegative,
    pub image_bytes_max: Positive,
    /// Firehose subscribers standing in for the relays that crawl the PDS.
    pub relays: usize,
    /// Requests in flight at most (loadgen's open loop).
    pub max_in_flight: usize,
}

/// A PDS the experiment can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// This project's PDS.
    Sonde,
    /// `@atproto/pds` from npm, the reference implementation.
    Reference,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Sonde => "sonde",
            Target::Reference => "reference",
        }
    }
}

fn only_sonde() -> NonEmpty<Target> {
    NonEmpty(vec![Target::Sonde])
}

impl ScaleSpec {
    /// The member counts measured on `target`.
    pub fn members(&self, target: Target) -> &[usize] {
        &self.members_of.get(&target).unwrap_or(&self.members).0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    /// The PDSes measured, each at every member count (default: Sonde's only).
    #[serde(default = "only_sonde")]
    pub targets: NonEmpty<Target>,
    pub members: NonEmpty<usize>,
    /// Other member counts for a target (the reference PDS writes far slower than ours, so it
    /// is measured over a shorter ladder); `members` for the others.
    #[serde(default)]
    pub members_of: BTreeMap<Target, NonEmpty<usize>>,
    /// Simulated days of activity.
    pub days: Positive,
    /// Wall-clock seconds each simulated day is compressed into.
    pub seconds_per_day: Positive,
    /// About how long the scale takes, in seconds (for `experiments list`).
    pub estimate_s: Positive,
}

fn sonde() -> String {
    "sonde".into()
}

/// The figures of one member count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Which PDS was measured: `sonde`, or `reference` for `@atproto/pds`.
    #[serde(default = "sonde")]
    pub target: String,
    pub members: usize,
    pub raw: Raw,
    pub derived: Derived,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Raw {
    /// Writes asked of loadgen and the rate it offered them at.
    pub writes_planned: u64,
    pub rate_per_s: f64,
    pub writes_ok: u64,
    pub writes_failed: u64,
    pub errors: BTreeMap<String, u64>,
    pub setup_s: f64,
    /// The PDS during account creation, and during the activity that followed.
    pub setup_usage: UsageFigures,
    pub activity_usage: UsageFigures,
    pub latency_ms: BTreeMap<String, Latency>,
    pub network_in_bytes: f64,
    pub network_out_bytes: f64,
    pub firehose_messages: u64,
    pub firehose_bytes: u64,
    /// Bytes on disk after a restart, by part.
    pub disk_bytes: BTreeMap<String, u64>,
    pub disk_total_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageFigures {
    pub seconds: f64,
    pub cpu_s: f64,
    pub rss_peak_bytes: u64,
    pub rss_mean_bytes: u64,
}

impl From<Usage> for UsageFigures {
    fn from(u: Usage) -> Self {
        UsageFigures { seconds: u.seconds, cpu_s: u.cpu_s, rss_peak_bytes: u.rss_peak_bytes, rss_mean_bytes: u.rss_mean_bytes }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Derived {
    pub member_days: f64,
    pub cpu_s_per_member_day: f64,
    pub disk_bytes_per_member: f64,
    pub disk_bytes_per_member_day: f64,
    pub network_out_bytes_per_member_day: f64,
    pub rss_peak_bytes: u64,
    pub write_p50_ms: f64,
    pub write_p99_ms: f64,
    /// Share of planned writes that succeeded.
    pub success: f64,
}

/// The subset of `loadgen drive`'s figures the experiment reads.
#[derive(Debug, Deserialize)]
struct DriveFigures {
    setup_s: f64,
    writes_ok: u64,
    writes_failed: u64,
    by_op: BTreeMap<String, DriveOp>,
    errors: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct DriveOp {
    count: u64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The subset of `loadgen consume`'s figures the experiment reads.
#[derive(Debug, Deserialize)]
struct ConsumeFigures {
    min_messages: u64,
    bytes: u64,
}

/// The disk parts of Sonde's PDS: column families of its RocksDB database.
const SONDE_PARTS: &[(&str, &[&str])] =
    &[("repo_blocks", &["blocks"]), ("record_index", &["records", "repos"]), ("event_log", &["events"]), ("accounts", &["accounts", "auth", "blobs"])];

/// loadgen's traffic model for this profile (its TOML workload file).
fn traffic_model(w: &Workload) -> String {
    let a = &w.per_member_day;
    format!(
        "ops = {{ create = {:?}, delete = {:?}, update = {:?} }}\n\
         collections = {{ like = {:?}, post = {:?}, repost = {:?}, follow = {:?}, block = {:?}, other = 0.0 }}\n",
        w.ops.create.0, w.ops.delete.0, w.ops.update.0, a.likes.0, a.posts.0, a.reposts.0, a.follows.0, a.blocks.0
    )
}

pub async fn run(spec: &Spec<Workload, ScaleSpec>, ctx: &Context) -> Result<()> {
    let w = &spec.workload;
    let scale = spec.scales.get(ctx.scale);
    ctx.set_workload(&serde_json::json!({ "workload": w, "scale": scale }));
    if w.per_member_day.creates() <= 0.0 {
        bail!("{}: the member-day profile creates nothing", spec.name);
    }
    let model = ctx.harness.work().join("traffic-model.toml");
    std::fs::write(&model, traffic_model(w)).with_context(|| format!("writing {}", model.display()))?;
    // Fail before measuring anything when a target cannot be started.
    let reference = scale.targets.0.contains(&Target::Reference).then(ReferencePds::installed).transpose()?;
    if let Some(refpds) = &reference {
        ctx.add_component("reference-pds", &refpds.version);
    }
    let bar = ctx.bar(scale.targets.0.iter().map(|&t| scale.members(t).len() as u64).sum(), &spec.name);
    for &target in &scale.targets.0 {
        for &members in scale.members(target) {
            bar.set_message(format!("{}, {members} members", target.name()));
            let step = measure(w, scale, members, target, reference.as_ref(), &model, ctx)
                .await
                .with_context(|| format!("{} with {members} members on {}", spec.name, target.name()))?;
            ctx.push_step(&step);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Stops `pds`, waiting up to 10 s for a clean exit.
async fn stop(pds: &mut Service) {
    pds.stop(Duration::from_secs(10)).await;
}

async fn measure(
    w: &Workload,
    scale: &ScaleSpec,
    members: usize,
    target: Target,
    reference: Option<&ReferencePds>,
    model: &std::path::Path,
    ctx: &Context,
) -> Result<Step> {
    let h = &ctx.harness;
    let name = target.name();
    let plc = h.plc(&format!("plc-{name}-{members}")).await?;
    let mut opts = h.pds_options(&format!("pds-{name}-{members}"), &plc.url());
    opts.port = Some(free_port());
    let (mut pds, proxy) = match target {
        Target::Sonde => (h.pds(&opts).await?, None),
        Target::Reference => {
            let pds = h.reference_pds(reference.context("the reference PDS is not installed")?, &opts).await?;
            // Its clients go through the proxy that counts its bytes.
            let proxy = CountingProxy::start(pds.port).await?;
            (pds, Some(proxy))
        }
    };
    let url = proxy.as_ref().map_or_else(|| pds.url(), |p| p.url());
    let sampler = Sampler::start(pds.process.pid());

    let member_days = members as f64 * scale.days.0;
    let total_weight = w.ops.create.0 + w.ops.delete.0 + w.ops.update.0;
    let writes = (member_days * w.per_member_day.creates() * total_weight / w.ops.create.0).round().max(1.0) as u64;
    let activity_s = scale.days.0 * scale.seconds_per_day.0;
    let rate = writes as f64 / activity_s;

    let consumer = h.loadgen(
        &format!("firehose-{name}-{members}"),
        &["consume".into(), url.clone(), "--connections".into(), w.relays.max(1).to_string(), "--duration".into(), "24h".into(), "--idle".into(), "5s".into()],
    )?;
    let args: Vec<String> = vec![
        "drive".into(),
        url.clone(),
        "--accounts".into(),
        members.to_string(),
        "--rate".into(),
        format!("{rate:.3}"),
        "--max-in-flight".into(),
        w.max_in_flight.to_string(),
        "--writes".into(),
        writes.to_string(),
        "--workload".into(),
        model.display().to_string(),
        "--image-fraction".into(),
        w.image_fraction.0.to_string(),
        "--image-bytes".into(),
        (w.image_bytes_median.0 as u64).to_string(),
        "--image-bytes-sigma".into(),
        w.image_bytes_sigma.0.to_string(),
        "--image-bytes-max".into(),
        (w.image_bytes_max.0 as u64).to_string(),
        "--seed".into(),
        ctx.seed.to_string(),
    ];
    let started = sampler.mark();
    let drive = h.loadgen(&format!("drive-{name}-{members}"), &args)?;
    // Generous: account creation plus three times the planned activity.
    let timeout = Duration::from_secs_f64(120.0 + members as f64 * 0.2 + activity_s * 3.0);
    let drive_figures: DriveFigures = drive.finish_watching(timeout, &mut pds, "while loadgen drove it").await?;
    let ended = sampler.mark();
    if drive_figures.writes_ok == 0 {
        bail!("no write succeeded; errors: {:?}", drive_figures.errors);
    }
    let activity_from = started + Duration::from_secs_f64(drive_figures.setup_s);
    let setup_usage = sampler.usage(started, activity_from);
    let activity_usage = sampler.usage(activity_from, ended);
    let consumed: ConsumeFigures = consumer.finish(Duration::from_secs(60)).await.context("the firehose consumer")?;
    drop(sampler);
    let (network_in_bytes, network_out_bytes, disk_bytes) = match &proxy {
        None => {
            let net = Metrics::scrape(&pds.url()).await?;
            stop(&mut pds).await;
            let disk = sonde_disk(h, &opts).await?;
            (net.sum("pds_network_bytes_total", &[("direction", "in")]), net.sum("pds_network_bytes_total", &[("direction", "out")]), disk)
        }
        Some(proxy) => {
            stop(&mut pds).await;
            (proxy.bytes_in() as f64, proxy.bytes_out() as f64, reference_disk(&opts.data))
        }
    };
    let (mut disk_bytes, disk_total_bytes) = (disk_bytes, dir_bytes(&opts.data));
    let accounted: u64 = disk_bytes.values().sum();
    disk_bytes.insert("other".into(), disk_total_bytes.saturating_sub(accounted));

    let latency_ms: BTreeMap<String, Latency> =
        drive_figures.by_op.iter().map(|(op, f)| (op.clone(), Latency { count: f.count, p50_ms: f.p50_ms, p99_ms: f.p99_ms })).collect();
    let create = latency_ms.get("createRecord");
    let derived = Derived {
        member_days,
        cpu_s_per_member_day: activity_usage.cpu_s / member_days,
        disk_bytes_per_member: disk_total_bytes as f64 / members as f64,
        disk_bytes_per_member_day: disk_total_bytes as f64 / member_days,
        network_out_bytes_per_member_day: network_out_bytes / member_days,
        rss_peak_bytes: activity_usage.rss_peak_bytes.max(setup_usage.rss_peak_bytes),
        write_p50_ms: create.map(|l| l.p50_ms).unwrap_or(f64::NAN),
        write_p99_ms: create.map(|l| l.p99_ms).unwrap_or(f64::NAN),
        success: drive_figures.writes_ok as f64 / writes as f64,
    };
    drop(plc);
    Ok(Step {
        target: name.into(),
        members,
        raw: Raw {
            writes_planned: writes,
            rate_per_s: rate,
            writes_ok: drive_figures.writes_ok,
            writes_failed: drive_figures.writes_failed,
            errors: drive_figures.errors,
            setup_s: drive_figures.setup_s,
            setup_usage: setup_usage.into(),
            activity_usage: activity_usage.into(),
            latency_ms,
            network_in_bytes,
            network_out_bytes,
            firehose_messages: consumed.min_messages,
            firehose_bytes: consumed.bytes,
            disk_bytes,
            disk_total_bytes,
        },
        derived,
    })
}

/// Sonde's disk by part, from its own store sizes: it is reopened first, so that the write-ahead
/// log is replayed into table files whose sizes are then exact.
async fn sonde_disk(h: &crate::harness::Harness, opts: &testbed::services::PdsOptions) -> Result<BTreeMap<String, u64>> {
    let mut pds = h.pds(opts).await?;
    let store = Metrics::scrape(&pds.url()).await?;
    stop(&mut pds).await;
    let mut parts = BTreeMap::new();
    for (part, cfs) in SONDE_PARTS {
        let bytes: f64 = cfs.iter().map(|cf| store.sum("pds_store_bytes", &[("cf", cf), ("kind", "sst")])).sum();
        parts.insert(part.to_string(), bytes as u64);
    }
    parts.insert("blobs".into(), dir_bytes(&opts.data.join("blobs")));
    Ok(parts)
}

/// The reference PDS's disk by part, from its files (SQLite, each with its `-wal` and `-shm`):
/// `actors/` holds one database per member with its repo blocks and records together.
fn reference_disk(data: &std::path::Path) -> BTreeMap<String, u64> {
    let files = |prefixes: &[&str]| -> u64 {
        let Ok(dir) = std::fs::read_dir(data) else { return 0 };
        dir.flatten().filter(|e| prefixes.iter().any(|p| e.file_name().to_string_lossy().starts_with(p))).map(|e| dir_bytes(&e.path())).sum()
    };
    BTreeMap::from([
        ("repos".to_string(), dir_bytes(&data.join("actors"))),
        ("event_log".to_string(), files(&["sequencer.sqlite"])),
        ("accounts".to_string(), files(&["account.sqlite", "did_cache.sqlite"])),
        ("blobs".to_string(), dir_bytes(&data.join("blobs"))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_becomes_a_loadgen_traffic_model() {
        let n = |v| NonNegative(v);
        let w = Workload {
            per_member_day: Activity { posts: n(3.0), likes: n(17.5), reposts: n(2.5), follows: n(1.5), blocks: n(0.1) },
            ops: OpWeights { create: Positive(95.5), delete: n(3.9), update: n(0.6) },
            image_fraction: Fraction(0.2),
            image_bytes_median: Positive(1.0),
            image_bytes_sigma: n(0.0),
            image_bytes_max: Positive(2.0),
            relays: 1,
            max_in_flight: 8,
        };
        let text = traffic_model(&w);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["collections"]["like"].as_float(), Some(17.5));
        assert_eq!(v["collections"]["post"].as_float(), Some(3.0));
        assert_eq!(v["ops"]["delete"].as_float(), Some(3.9));
        assert!((w.per_member_day.creates() - 24.6).abs() < 1e-9);
    }
}
