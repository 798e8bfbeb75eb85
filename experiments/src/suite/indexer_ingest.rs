//! `indexer-ingest`: what the indexer needs per record, on a ladder of store sizes, and how
//! fast it answers reads at each size.
//!
//! Each step: `loadgen world` (one host, registered with the run's PLC directory) emits
//! `events` events as fast as it can and writes them, in order, to a frame file, with its
//! accounts' keys beside it. Then `indexer ingest` reads the file at full speed into a fresh
//! data folder (RocksDB and Tantivy both written), sampled from outside for its mean RSS, with
//! its own figures: records, seconds to the last write and to the last post searchable, and
//! its CPU seconds and peak RSS by getrusage at exit (a 250 ms sampler misses a short run's end).
//! `indexer stats --compact` gives the bytes at rest, by column family, per record and per
//! edge. Finally `indexer serve` opens the folder and `loadgen read` loads it with
//! `read_clients` concurrent clients, each method in turn: `getProfile`, `getAuthorFeed`,
//! `getTimeline` (as the accounts that follow the most, with their own service-auth
//! tokens) and `searchPosts`, for the latency percentiles and the server's RSS under reads.
//!
//! The reads run on the same two cores as the server, so the client's own work is in the
//! latencies; the figures are an upper bound on what a client elsewhere would see.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::Context;
use crate::collect::{dir_bytes, Sampler};
use crate::defs::{NonEmpty, Positive, Spec};
use crate::suite::pds_members::UsageFigures;

pub const KIND: &str = "indexer-ingest";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Median starting repository size in records: it sets the MST depth, so the size of
    /// each commit frame's proof, which the indexer decodes and skips.
    pub initial_records: u32,
    /// Concurrent read clients.
    pub read_clients: usize,
    /// Timeline viewers: the accounts that follow the most.
    pub viewers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Events world emits (about 92% of them create a record).
    pub events: u64,
    pub accounts: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    pub steps: NonEmpty<StepSpec>,
    /// Seconds each read method runs.
    pub read_seconds: Positive,
    pub estimate_s: Positive,
}

/// `indexer ingest --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestFigures {
    pub frames: u64,
    pub records: i64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub searchable_seconds: f64,
    /// The process's own getrusage at the end.
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionFigures {
    pub collection: String,
    pub records: i64,
    pub invalid: i64,
}

/// `indexer stats --compact --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreFigures {
    pub collections: Vec<CollectionFigures>,
    pub records: i64,
    pub edges: i64,
    pub column_families: Vec<(String, u64)>,
    pub store_bytes: u64,
    pub search_bytes: u64,
    pub edge_bytes: u64,
    pub bytes_per_edge: Option<f64>,
    pub bytes_per_record: Option<f64>,
}

/// `loadgen read`'s figures, the part read here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadFigures {
    pub clients: usize,
    pub viewer_follows: Vec<u64>,
    pub methods: Vec<MethodFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodFigures {
    pub method: String,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    pub requests_per_s: f64,
    pub latency: Option<Latency>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// `loadgen world`'s figures, the part read here.
#[derive(Debug, Deserialize)]
struct WorldFigures {
    emitted: u64,
    elapsed_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub events: u64,
    pub accounts: usize,
    pub raw: Raw,
    pub derived: Derived,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Raw {
    pub emitted: u64,
    pub world_seconds: f64,
    pub frame_file_bytes: u64,
    pub ingest: IngestFigures,
    pub ingest_usage: UsageFigures,
    /// The data folder right after ingest, before compaction.
    pub disk_bytes_after_ingest: u64,
    pub store: StoreFigures,
    /// The server while the reads ran.
    pub serve_usage: UsageFigures,
    pub reads: ReadFigures,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Derived {
    pub records: i64,
    pub records_per_s: f64,
    pub cpu_s_per_1000_records: f64,
    /// Store and search index, compacted, over every record.
    pub bytes_per_record: Option<f64>,
    pub bytes_per_edge: Option<f64>,
    /// Each column family's bytes (and the search index's) over every record.
    pub bytes_per_record_by_family: BTreeMap<String, f64>,
    /// Bytes per record of the collections with families of their own (the edge and list-item
    /// indexes); everything else is shared across collections.
    pub bytes_per_record_by_collection: BTreeMap<String, f64>,
    /// From the last write to the last post searchable.
    pub search_lag_s: f64,
    pub ingest_rss_peak_bytes: u64,
    pub serve_rss_peak_bytes: u64,
    /// p99 per method (`app.bsky.feed.getTimeline` → ms).
    pub read_p99_ms: BTreeMap<String, f64>,
    /// Requests that failed, over all methods.
    pub read_errors: u64,
}

/// The column families each collection owns outright.
const OWN_FAMILIES: &[(&str, &[&str])] = &[
    ("app.bsky.feed.like", &["like_fwd", "like_rev"]),
    ("app.bsky.feed.repost", &["repost_fwd", "repost_rev"]),
    ("app.bsky.graph.follow", &["follow_fwd", "follow_rev"]),
    ("app.bsky.graph.block", &["block_fwd", "block_rev"]),
    ("app.bsky.graph.listitem", &["listitem_fwd", "listitem_rev"]),
];

/// The derived figures of one step's raw ones.
pub fn derive(raw: &Raw) -> Derived {
    let s = &raw.store;
    let records = s.records.max(1) as f64;
    let mut by_family: BTreeMap<String, f64> = s.column_families.iter().filter(|(_, b)| *b > 0).map(|(n, b)| (n.clone(), *b as f64 / records)).collect();
    by_family.insert("search index".into(), s.search_bytes as f64 / records);
    let cf = |name: &str| s.column_families.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
    let by_collection = OWN_FAMILIES
        .iter()
        .filter_map(|(collection, families)| {
            let n = s.collections.iter().find(|c| c.collection == *collection)?.records;
            (n > 0).then(|| (collection.to_string(), families.iter().map(|f| cf(f)).sum::<u64>() as f64 / n as f64))
        })
        .collect();
    Derived {
        records: s.records,
        records_per_s: raw.ingest.records_per_second,
        cpu_s_per_1000_records: raw.ingest_usage.cpu_s / raw.ingest.records.max(1) as f64 * 1000.0,
        bytes_per_record: s.bytes_per_record,
        bytes_per_edge: s.bytes_per_edge,
        bytes_per_record_by_family: by_family,
        bytes_per_record_by_collection: by_collection,
        search_lag_s: (raw.ingest.searchable_seconds - raw.ingest.seconds).max(0.0),
        ingest_rss_peak_bytes: raw.ingest_usage.rss_peak_bytes,
        serve_rss_peak_bytes: raw.serve_usage.rss_peak_bytes,
        read_p99_ms: raw.reads.methods.iter().filter_map(|m| Some((m.method.clone(), m.latency.as_ref()?.p99_ms))).collect(),
        read_errors: raw.reads.methods.iter().map(|m| m.errors.values().sum::<u64>()).sum(),
    }
}

pub async fn run(spec: &Spec<Workload, ScaleSpec>, ctx: &Context) -> Result<()> {
    let w = &spec.workload;
    let scale = spec.scales.get(ctx.scale);
    ctx.set_workload(&serde_json::json!({ "workload": w, "scale": scale }));
    let plc = ctx.harness.plc("plc").await?;
    let bar = ctx.bar(scale.steps.0.len() as u64 * 4, &spec.name);
    for (i, s) in scale.steps.0.iter().enumerate() {
        let step = measure(w, scale, s, i, &plc.url(), ctx, &bar)
            .await
            .with_context(|| format!("{} at {} events over {} accounts", spec.name, s.events, s.accounts))?;
        ctx.push_step(&step);
    }
    bar.finish_and_clear();
    Ok(())
}

async fn measure(w: &Workload, scale: &ScaleSpec, s: &StepSpec, index: usize, plc_url: &str, ctx: &Context, bar: &indicatif::ProgressBar) -> Result<Step> {
    let h = &ctx.harness;
    let (frames, accounts) = (h.work().join(format!("world-{index}.frames.zst")), h.work().join(format!("world-{index}.accounts.jsonl")));
    let path = |p: &std::path::Path| p.display().to_string();

    bar.set_message(format!("{} events: world", s.events));
    let args: Vec<String> = [
        "world",
        "--hosts",
        "1",
        "--accounts",
        &s.accounts.to_string(),
        "--initial-records",
        &w.initial_records.to_string(),
        "--events",
        &s.events.to_string(),
        "--rate",
        "max",
        "--seed",
        &(ctx.seed + index as u64).to_string(),
        "--plc",
        plc_url,
        "--frames-out",
        &path(&frames),
        "--accounts-out",
        &path(&accounts),
    ]
    .map(String::from)
    .into();
    // World emits at full speed; building the accounts dominates small worlds.
    let timeout = Duration::from_secs(300 + s.events / 2000 + s.accounts as u64 / 20);
    let world: WorldFigures = h.loadgen(&format!("world-{index}"), &args)?.finish(timeout).await.context("loadgen world")?;
    bar.inc(1);

    bar.set_message(format!("{} events: ingest", s.events));
    let data = h.data_dir(&format!("indexer-{index}"));
    let ingest = h.command_json(&format!("ingest-{index}"), "indexer", &["ingest".into(), "--json".into(), "--data".into(), path(&data), path(&frames)])?;
    let sampler = Sampler::start(ingest.process.pid());
    let began = sampler.mark();
    let figures: IngestFigures = ingest.finish(Duration::from_secs(600 + s.events / 1000)).await.context("indexer ingest")?;
    let sampled = sampler.usage(began, sampler.mark());
    drop(sampler);
    // The sampler sees the process every 250 ms and so misses the end of a short run: CPU and
    // peak RSS come from the process's own getrusage at exit, the mean from the samples.
    let ingest_usage = UsageFigures { cpu_s: figures.cpu_s, rss_peak_bytes: sampled.rss_peak_bytes.max(figures.peak_rss_bytes), ..sampled.into() };
    if figures.records <= 0 {
        bail!("indexer ingest indexed no record of {} frames", figures.frames);
    }
    let disk_bytes_after_ingest = dir_bytes(&data);
    bar.inc(1);

    bar.set_message(format!("{} events: compact", s.events));
    let store: StoreFigures = h
        .command_json(&format!("stats-{index}"), "indexer", &["stats".into(), "--compact".into(), "--json".into(), "--data".into(), path(&data)])?
        .finish(Duration::from_secs(600 + s.events / 1000))
        .await
        .context("indexer stats")?;
    bar.inc(1);

    bar.set_message(format!("{} events: reads", s.events));
    let mut server = h.indexer(&testbed::services::IndexerOptions { data: data.clone(), ..h.indexer_options(&format!("serve-{index}"), plc_url) }).await?;
    let sampler = Sampler::start(server.process.pid());
    let began = sampler.mark();
    let read_args: Vec<String> = [
        "read",
        &server.url(),
        "--accounts",
        &path(&accounts),
        "--clients",
        &w.read_clients.to_string(),
        "--viewers",
        &w.viewers.to_string(),
        "--duration",
        &format!("{}s", scale.read_seconds.0),
        "--seed",
        &ctx.seed.to_string(),
    ]
    .map(String::from)
    .into();
    let read_timeout = Duration::from_secs_f64(120.0 + 4.0 * scale.read_seconds.0 * 2.0);
    let reads: ReadFigures =
        h.loadgen(&format!("read-{index}"), &read_args)?.finish_watching(read_timeout, &mut server, "while loadgen read it").await.context("loadgen read")?;
    let serve_usage: UsageFigures = sampler.usage(began, sampler.mark()).into();
    drop(sampler);
    server.stop(Duration::from_secs(10)).await;
    bar.inc(1);

    let raw = Raw {
        emitted: world.emitted,
        world_seconds: world.elapsed_s,
        frame_file_bytes: std::fs::metadata(&frames).map(|m| m.len()).unwrap_or(0),
        ingest: figures,
        ingest_usage,
        disk_bytes_after_ingest,
        store,
        serve_usage,
        reads,
    };
    // The frame file has served its purpose; a 10M-event one is gigabytes.
    let _ = std::fs::remove_file(&frames);
    Ok(Step { events: s.events, accounts: s.accounts, derived: derive(&raw), raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> Raw {
        let usage = UsageFigures { seconds: 2.0, cpu_s: 3.0, rss_peak_bytes: 100, rss_mean_bytes: 50 };
        Raw {
            emitted: 1200,
            world_seconds: 1.0,
            frame_file_bytes: 1,
            ingest: IngestFigures {
                frames: 1200,
                records: 1000,
                seconds: 2.0,
                records_per_second: 500.0,
                searchable_seconds: 2.5,
                cpu_s: 3.0,
                peak_rss_bytes: 100,
            },
            ingest_usage: usage.clone(),
            disk_bytes_after_ingest: 1,
            store: StoreFigures {
                collections: vec![
                    CollectionFigures { collection: "app.bsky.feed.like".into(), records: 800, invalid: 0 },
                    CollectionFigures { collection: "app.bsky.feed.post".into(), records: 200, invalid: 0 },
                ],
                records: 1000,
                edges: 800,
                column_families: vec![("like_fwd".into(), 8000), ("like_rev".into(), 8000), ("doc".into(), 20_000), ("seen".into(), 0)],
                store_bytes: 36_000,
                search_bytes: 4000,
                edge_bytes: 16_000,
                bytes_per_edge: Some(20.0),
                bytes_per_record: Some(40.0),
            },
            serve_usage: usage,
            reads: ReadFigures {
                clients: 2,
                viewer_follows: vec![3],
                methods: vec![MethodFigures {
                    method: "app.bsky.actor.getProfile".into(),
                    requests: 10,
                    errors: BTreeMap::from([("500".into(), 2)]),
                    requests_per_s: 5.0,
                    latency: Some(Latency { p50_ms: 1.0, p90_ms: 2.0, p99_ms: 3.0, max_ms: 4.0, mean_ms: 1.5 }),
                }],
            },
        }
    }

    #[test]
    fn derived_figures_split_bytes_by_family_and_own_collection() {
        let d = derive(&raw());
        assert_eq!(d.cpu_s_per_1000_records, 3.0);
        assert_eq!(d.bytes_per_record_by_collection.get("app.bsky.feed.like"), Some(&20.0));
        assert!(!d.bytes_per_record_by_collection.contains_key("app.bsky.feed.post"), "posts share their families");
        assert_eq!(d.bytes_per_record_by_family.get("doc"), Some(&20.0));
        assert_eq!(d.bytes_per_record_by_family.get("search index"), Some(&4.0));
        assert!(!d.bytes_per_record_by_family.contains_key("seen"), "empty families are left out");
        assert_eq!(d.search_lag_s, 0.5);
        assert_eq!(d.read_p99_ms.get("app.bsky.actor.getProfile"), Some(&3.0));
        assert_eq!(d.read_errors, 2);
    }
}
