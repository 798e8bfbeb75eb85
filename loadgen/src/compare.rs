//! `loadgen compare`: subscribe to several relays at once for a duration and report what
//! each delivered.
//!
//! Sources are `subscribeRepos` firehoses (CBOR frames) or Jetstream (JSON). Events are
//! matched across sources by DID and rev for commits and `#sync`, and by DID, kind and event
//! time for `#identity` and `#account`; the union of all sources is the reference for each
//! source's coverage. Per source: events per second, coverage, delivery lag (event time to
//! receipt, p50/p99), sequence gaps, commits failing `verify_commit`, reconnects.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atproto::firehose::{verify_commit, SubscribeReposFrame};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::resolve::Resolver;
use crate::subscribe::{with_param, Received, Subscription};

/// The wire format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Firehose,
    Jetstream,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub name: String,
    pub url: Url,
    pub kind: SourceKind,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareOptions {
    pub sources: Vec<Source>,
    #[serde(with = "crate::util::secs")]
    pub duration: Duration,
    /// Start firehoses at this cursor (Jetstream: microseconds) instead of live.
    pub cursor: Option<i64>,
}

/// How an event is matched across sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    pub did: String,
    /// The rev for commits and syncs; `#identity@time` / `#account@time` otherwise.
    pub id: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LagFigures {
    pub count: u64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
    /// Events stamped later than their receipt (clock skew); counted as zero lag.
    pub negative: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyFigures {
    pub verified: u64,
    pub failed: u64,
    /// Commits whose DID had no usable signing key.
    pub unresolved: u64,
    /// Failure reasons (first 20 distinct messages) with counts.
    pub failures: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceFigures {
    pub name: String,
    pub url: String,
    pub kind: SourceKind,
    pub messages: u64,
    pub bytes: u64,
    /// Matched events (commits, syncs, identity, account), duplicates included.
    pub events: u64,
    pub events_per_s: f64,
    pub unique_events: u64,
    pub duplicates: u64,
    /// Events in the union this source never delivered.
    pub missed: u64,
    /// `unique_events / union`, 1.0 when the union is empty.
    pub coverage: f64,
    pub lag: LagFigures,
    /// Places where `seq` jumped forward by more than one, and the seqs skipped.
    pub seq_gaps: u64,
    pub seq_skipped: u64,
    /// Places where `seq` did not increase.
    pub seq_regressions: u64,
    /// `None` for Jetstream (it carries no blocks) or when no DID source was given.
    pub verify: Option<VerifyFigures>,
    pub reconnects: u64,
    pub connect_failures: u64,
    pub decode_errors: u64,
    pub error_frames: BTreeMap<String, u64>,
    pub kinds: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareFigures {
    pub elapsed_s: f64,
    pub union_events: u64,
    pub sources: Vec<SourceFigures>,
}

struct Tally {
    figures: SourceFigures,
    keys: HashSet<EventKey>,
    lag: Histogram<u64>,
    last_seq: Option<i64>,
    cursor: Option<i64>,
}

/// Runs the comparison for `opts.duration`. `resolver` enables commit verification for
/// firehose sources; `progress` receives the total message count as it grows.
pub async fn compare(opts: &CompareOptions, resolver: Option<Arc<Resolver>>, progress: Arc<AtomicU64>) -> CompareFigures {
    let start = Instant::now();
    let deadline = start + opts.duration;
    let tasks: Vec<_> = opts
        .sources
        .iter()
        .cloned()
        .map(|source| {
            let resolver = resolver.clone();
            let progress = progress.clone();
            let cursor = opts.cursor;
            tokio::spawn(async move { run_source(source, cursor, deadline, resolver, progress).await })
        })
        .collect();
    let mut tallies = Vec::new();
    for t in tasks {
        tallies.push(t.await.expect("source task does not panic"));
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let union: HashSet<&EventKey> = tallies.iter().flat_map(|t| t.keys.iter()).collect();
    let union_events = union.len() as u64;
    let sources = tallies
        .iter()
        .map(|t| {
            let mut f = t.figures.clone();
            f.unique_events = t.keys.len() as u64;
            f.duplicates = f.events - f.unique_events;
            f.missed = union_events - f.unique_events;
            f.coverage = if union_events == 0 { 1.0 } else { f.unique_events as f64 / union_events as f64 };
            f.events_per_s = f.events as f64 / elapsed_s.max(1e-9);
            if !t.lag.is_empty() {
                f.lag.count = t.lag.len();
                f.lag.p50_ms = Some(t.lag.value_at_quantile(0.5));
                f.lag.p99_ms = Some(t.lag.value_at_quantile(0.99));
                f.lag.max_ms = Some(t.lag.max());
            }
            f
        })
        .collect();
    CompareFigures { elapsed_s, union_events, sources }
}

async fn run_source(source: Source, cursor: Option<i64>, deadline: Instant, resolver: Option<Arc<Resolver>>, progress: Arc<AtomicU64>) -> Tally {
    let verify = (source.kind == SourceKind::Firehose && resolver.as_ref().is_some_and(|r| r.is_configured())).then(VerifyFigures::default);
    let mut tally = Tally {
        figures: SourceFigures {
            name: source.name.clone(),
            url: source.url.to_string(),
            kind: source.kind,
            messages: 0,
            bytes: 0,
            events: 0,
            events_per_s: 0.0,
            unique_events: 0,
            duplicates: 0,
            missed: 0,
            coverage: 0.0,
            lag: LagFigures::default(),
            seq_gaps: 0,
            seq_skipped: 0,
            seq_regressions: 0,
            verify,
            reconnects: 0,
            connect_failures: 0,
            decode_errors: 0,
            error_frames: BTreeMap::new(),
            kinds: BTreeMap::new(),
        },
        keys: HashSet::new(),
        lag: Histogram::new(3).expect("histogram"),
        last_seq: None,
        cursor,
    };
    let mut connected_before = false;
    let mut backoff = Duration::from_millis(100);
    while Instant::now() < deadline {
        let url = with_param(&source.url, "cursor", tally.cursor.map(|c| c.to_string()).as_deref());
        let sub = match tokio::time::timeout_at(deadline, Subscription::connect(&url)).await {
            Err(_) => break,
            Ok(Err(e)) => {
                tracing::warn!("{}: {e}", source.name);
                tally.figures.connect_failures += 1;
                tokio::time::sleep_until((Instant::now() + backoff).min(deadline)).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Ok(Ok(sub)) => sub,
        };
        if connected_before {
            tally.figures.reconnects += 1;
        }
        connected_before = true;
        backoff = Duration::from_millis(100);
        let mut sub = sub;
        loop {
            let msg = match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) => {
                    sub.close().await;
                    return tally;
                }
                Ok(Ok(Some(msg))) => msg,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::warn!("{}: {e}", source.name);
                    break;
                }
            };
            let received_ms = chrono::Utc::now().timestamp_millis();
            progress.fetch_add(1, Ordering::Relaxed);
            tally.figures.messages += 1;
            match (source.kind, msg) {
                (SourceKind::Firehose, Received::Binary(b)) => {
                    tally.figures.bytes += b.len() as u64;
                    firehose_message(&mut tally, &b, received_ms, resolver.as_deref()).await;
                }
                (SourceKind::Jetstream, Received::Text(t)) => {
                    tally.figures.bytes += t.len() as u64;
                    jetstream_message(&mut tally, &t, received_ms);
                }
                (_, Received::Binary(b)) => {
                    tally.figures.bytes += b.len() as u64;
                    tally.figures.decode_errors += 1;
                }
                (_, Received::Text(t)) => {
                    tally.figures.bytes += t.len() as u64;
                    tally.figures.decode_errors += 1;
                }
            }
        }
        tokio::time::sleep_until((Instant::now() + backoff).min(deadline)).await;
    }
    tally
}

fn record_event(tally: &mut Tally, kind: &str, key: EventKey, event_ms: Option<i64>, received_ms: i64) {
    tally.figures.events += 1;
    *tally.figures.kinds.entry(kind.to_string()).or_insert(0) += 1;
    tally.keys.insert(key);
    if let Some(t) = event_ms {
        let lag = received_ms - t;
        if lag < 0 {
            tally.figures.lag.negative += 1;
        }
        tally.lag.record(lag.max(0) as u64).expect("auto-resizing histogram");
    }
}

async fn firehose_message(tally: &mut Tally, bytes: &[u8], received_ms: i64, resolver: Option<&Resolver>) {
    let frame = match SubscribeReposFrame::decode(bytes) {
        Ok(f) => f,
        Err(_) => {
            tally.figures.decode_errors += 1;
            return;
        }
    };
    if let Some(seq) = frame.seq() {
        if let Some(last) = tally.last_seq {
            if seq > last + 1 {
                tally.figures.seq_gaps += 1;
                tally.figures.seq_skipped += (seq - last - 1) as u64;
            } else if seq <= last {
                tally.figures.seq_regressions += 1;
            }
        }
        tally.last_seq = Some(seq);
        tally.cursor = Some(seq);
    }
    let time = crate::replay::frame_time(&frame).and_then(|t| crate::util::rfc3339_millis(&t));
    let kind = frame.kind().unwrap_or("error").to_string();
    match frame {
        SubscribeReposFrame::Commit(evt) => {
            let key = EventKey { did: evt.repo.clone(), id: evt.rev.clone() };
            record_event(tally, &kind, key, time, received_ms);
            if let (Some(resolver), true) = (resolver, tally.figures.verify.is_some()) {
                let outcome = match resolver.signing_key(&evt.repo).await {
                    Err(_) => None,
                    Ok(key) => Some(
                        tokio::task::spawn_blocking(move || verify_commit(&evt, &key).map(|_| ()).map_err(|e| e.to_string()))
                            .await
                            .expect("verification does not panic"),
                    ),
                };
                let v = tally.figures.verify.as_mut().expect("checked above");
                match outcome {
                    None => v.unresolved += 1,
                    Some(Ok(())) => v.verified += 1,
                    Some(Err(reason)) => {
                        v.failed += 1;
                        if v.failures.len() < 20 || v.failures.contains_key(&reason) {
                            *v.failures.entry(reason).or_insert(0) += 1;
                        }
                    }
                }
            }
        }
        SubscribeReposFrame::Sync(evt) => record_event(tally, &kind, EventKey { did: evt.did, id: evt.rev }, time, received_ms),
        SubscribeReposFrame::Identity(evt) => {
            let key = EventKey { did: evt.did, id: format!("#identity@{}", evt.time) };
            record_event(tally, &kind, key, time, received_ms)
        }
        SubscribeReposFrame::Account(evt) => {
            let key = EventKey { did: evt.did, id: format!("#account@{}", evt.time) };
            record_event(tally, &kind, key, time, received_ms)
        }
        SubscribeReposFrame::Error(e) => *tally.figures.error_frames.entry(e.error).or_insert(0) += 1,
        SubscribeReposFrame::Info(_) | SubscribeReposFrame::Unknown { .. } => {
            *tally.figures.kinds.entry(kind).or_insert(0) += 1;
        }
    }
}

fn jetstream_message(tally: &mut Tally, text: &str, received_ms: i64) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        tally.figures.decode_errors += 1;
        return;
    };
    let did = value["did"].as_str().map(str::to_string);
    let time_us = value["time_us"].as_i64();
    let kind = value["kind"].as_str().unwrap_or_default();
    let id = match kind {
        "commit" => value["commit"]["rev"].as_str().map(str::to_string),
        "identity" | "account" => value[kind]["time"].as_str().map(|t| format!("#{kind}@{t}")),
        _ => None,
    };
    let (Some(did), Some(id), Some(time_us)) = (did, id, time_us) else {
        tally.figures.decode_errors += 1;
        return;
    };
    tally.cursor = Some(time_us);
    record_event(tally, &format!("#{kind}"), EventKey { did, id }, Some(time_us / 1000), received_ms);
}

/// The terminal summary table.
pub fn table(figures: &CompareFigures) -> String {
    let mut out = format!(
        "{} events in the union over {:.1}s\n{:<16} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>6} {:>8} {:>8} {:>6}\n",
        figures.union_events,
        figures.elapsed_s,
        "source",
        "events",
        "events/s",
        "missed",
        "coverage",
        "lag p50",
        "lag p99",
        "gaps",
        "verified",
        "failed",
        "reconn"
    );
    let ms = |v: Option<u64>| v.map(|v| format!("{v}ms")).unwrap_or_else(|| "-".into());
    for s in &figures.sources {
        let (ok, bad) = match &s.verify {
            Some(v) => (v.verified.to_string(), v.failed.to_string()),
            None => ("-".into(), "-".into()),
        };
        out += &format!(
            "{:<16} {:>9} {:>9.1} {:>8} {:>7.2}% {:>9} {:>9} {:>6} {:>8} {:>8} {:>6}\n",
            s.name,
            s.events,
            s.events_per_s,
            s.missed,
            s.coverage * 100.0,
            ms(s.lag.p50_ms),
            ms(s.lag.p99_ms),
            s.seq_gaps,
            ok,
            bad,
            s.reconnects
        );
    }
    out
}
