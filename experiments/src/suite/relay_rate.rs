//! `relay-rate`: the relay under a ladder of event rates and consumer counts.
//!
//! Each step of the ladder gets a fresh relay (so its figures are its own) fed by a fresh
//! `loadgen world` emitting `rate` events/s for `seconds` from emulated PDS hosts that it
//! registers with the relay by `requestCrawl`, with `consumers` subscribers (`loadgen
//! consume`) reading the relay's firehose. The PLC directory is shared by the whole run.
//!
//! Measured per step, over the seconds world emitted: events accepted and dropped (by
//! reason); the relay's CPU seconds per 1,000 events; its RSS; event-log bytes per event, and
//! so GB per hour of replay window at that rate; bytes sent per consumer per event; delivery
//! lag p50/p99 at the first consumer; consumers the relay cut off as too slow. A step is
//! *sustained* when the relay accepted at least 99% of what world emitted, every consumer
//! received at least 99% of what the relay accepted, none was cut off, and world kept its
//! schedule (no event more than a second late). The result names the highest sustained rate.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::Context;
use crate::collect::{Metrics, Sampler};
use crate::defs::{NonEmpty, Positive, Spec};
use crate::harness::World;
use crate::suite::pds_members::UsageFigures;

pub const KIND: &str = "relay-rate";

/// World must emit every event within this many milliseconds of its schedule for a step to
/// count: later than that, the rate was not really offered (the generator, sharing the cores
/// with the relay, fell behind).
const MAX_LATE_MS: u64 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Emulated PDS hosts and the accounts spread over them.
    pub hosts: usize,
    pub accounts: usize,
    /// Median starting repository size in records (sets the frame size through MST depth).
    pub initial_records: u32,
    /// Share of delivered events a consumer may miss, and the relay may drop, while a step
    /// still counts as sustained.
    pub tolerance: Positive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Events per second world offers.
    pub rate: Positive,
    pub consumers: usize,
    pub seconds: Positive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    pub steps: NonEmpty<StepSpec>,
    pub estimate_s: Positive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub rate: f64,
    pub consumers: usize,
    pub raw: Raw,
    pub derived: Derived,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Raw {
    pub emitted: u64,
    pub emit_seconds: f64,
    /// Events world emitted later than planned, and the worst delay.
    pub late_events: u64,
    pub max_late_ms: u64,
    pub frame_bytes_p50: u64,
    pub events_in: f64,
    pub accepted: f64,
    pub dropped: BTreeMap<String, f64>,
    pub usage: UsageFigures,
    pub log_bytes: f64,
    pub network_out_bytes: f64,
    pub network_in_bytes: f64,
    /// Events the slowest and the fastest consumer received.
    pub consumer_min_events: u64,
    pub consumer_max_events: u64,
    pub consumers_too_slow: f64,
    pub lag_p50_ms: Option<u64>,
    pub lag_p99_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Derived {
    pub accepted_per_s: f64,
    pub cpu_s_per_1000_events: f64,
    pub log_bytes_per_event: f64,
    /// Event-log size of one hour of replay window at this step's accepted rate.
    pub log_gb_per_window_hour: f64,
    pub out_bytes_per_consumer_event: f64,
    pub sustained: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The highest offered rate whose step was sustained (`None`: none was).
    pub max_sustained_rate: Option<f64>,
}

/// The subset of `loadgen world`'s figures the experiment reads.
#[derive(Debug, Deserialize)]
struct WorldFigures {
    emitted: u64,
    elapsed_s: f64,
    late_events: u64,
    max_late_ms: u64,
    frame_bytes: FrameSizes,
}

#[derive(Debug, Deserialize)]
struct FrameSizes {
    p50: u64,
}

#[derive(Debug, Deserialize)]
struct ConsumeFigures {
    min_messages: u64,
    max_messages: u64,
    lag: Lag,
}

#[derive(Debug, Deserialize)]
struct Lag {
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
}

pub async fn run(spec: &Spec<Workload, ScaleSpec>, ctx: &Context) -> Result<()> {
    let w = &spec.workload;
    let scale = spec.scales.get(ctx.scale);
    ctx.set_workload(&serde_json::json!({ "workload": w, "scale": scale }));
    let plc = ctx.harness.plc("plc").await?;
    let bar = ctx.bar(scale.steps.0.len() as u64, &spec.name);
    let mut best: Option<f64> = None;
    for (i, s) in scale.steps.0.iter().enumerate() {
        bar.set_message(format!("{:.0}/s, {} consumers", s.rate.0, s.consumers));
        let step =
            measure(w, s, i, &plc.url(), ctx).await.with_context(|| format!("{} at {:.0} events/s with {} consumers", spec.name, s.rate.0, s.consumers))?;
        if step.derived.sustained {
            best = Some(best.map_or(step.rate, |b: f64| b.max(step.rate)));
        }
        ctx.push_step(&step);
        ctx.set_derived(&Summary { max_sustained_rate: best });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

async fn measure(w: &Workload, s: &StepSpec, index: usize, plc_url: &str, ctx: &Context) -> Result<Step> {
    let h = &ctx.harness;
    let mut relay = h.relay(&h.relay_options(&format!("relay-{index}"), plc_url)).await?;
    let sampler = Sampler::start(relay.process.pid());
    let consumers = (s.consumers > 0)
        .then(|| {
            h.loadgen(
                &format!("consumers-{index}"),
                &[
                    "consume".into(),
                    relay.url(),
                    "--connections".into(),
                    s.consumers.to_string(),
                    "--duration".into(),
                    "24h".into(),
                    "--idle".into(),
                    "5s".into(),
                ],
            )
        })
        .transpose()?;
    let spec = World {
        hosts: w.hosts,
        accounts: w.accounts,
        initial_records: w.initial_records,
        rate: s.rate.0,
        seconds: s.seconds.0,
        seed: ctx.seed + index as u64,
        plc_url,
        relays: vec![relay.url()],
        warmup_s: 2.0,
        extra: vec![],
    };
    let world: WorldFigures = h.loadgen(&format!("world-{index}"), &spec.args())?.finish_watching(spec.timeout(), &mut relay, "while world fed it").await?;
    let ended = sampler.mark();
    // World exits right after its last event: its emission is the `elapsed_s` before now.
    let emit_from = ended.checked_sub(Duration::from_secs_f64(world.elapsed_s)).unwrap_or(ended);
    let usage = sampler.usage(emit_from, ended);
    let consumed: Option<ConsumeFigures> = match consumers {
        Some(c) => Some(c.finish(Duration::from_secs(120)).await.context("the consumers")?),
        None => None,
    };
    relay.process.ensure_running("while consumers drained it")?;
    let m = Metrics::scrape(&relay.url()).await?;
    drop(sampler);
    relay.stop(Duration::from_secs(10)).await;

    let accepted = m.sum("relay_events_accepted_total", &[]);
    if accepted == 0.0 {
        bail!("the relay accepted no event of the {} world emitted", world.emitted);
    }
    let mut dropped = BTreeMap::new();
    for reason in m.label_values("relay_events_dropped_total", "reason") {
        dropped.insert(reason.clone(), m.sum("relay_events_dropped_total", &[("reason", &reason)]));
    }
    let network_out_bytes = m.sum("relay_network_bytes_total", &[("direction", "out"), ("side", "server")]);
    let (min_events, max_events) = consumed.as_ref().map(|c| (c.min_messages, c.max_messages)).unwrap_or((0, 0));
    let consumers_too_slow = m.sum("relay_consumers_too_slow_total", &[]);
    let log_bytes = m.sum("relay_log_bytes", &[]);
    let tol = 1.0 - w.tolerance.0;
    let sustained = accepted >= tol * world.emitted as f64
        && (s.consumers == 0 || min_events as f64 >= tol * accepted)
        && consumers_too_slow == 0.0
        && world.max_late_ms <= MAX_LATE_MS;
    let log_bytes_per_event = log_bytes / accepted;
    let accepted_per_s = accepted / world.elapsed_s.max(1e-9);
    Ok(Step {
        rate: s.rate.0,
        consumers: s.consumers,
        derived: Derived {
            accepted_per_s,
            cpu_s_per_1000_events: usage.cpu_s / accepted * 1000.0,
            log_bytes_per_event,
            log_gb_per_window_hour: log_bytes_per_event * accepted_per_s * 3600.0 / 1e9,
            out_bytes_per_consumer_event: if s.consumers > 0 { network_out_bytes / s.consumers as f64 / accepted } else { 0.0 },
            sustained,
        },
        raw: Raw {
            emitted: world.emitted,
            emit_seconds: world.elapsed_s,
            late_events: world.late_events,
            max_late_ms: world.max_late_ms,
            frame_bytes_p50: world.frame_bytes.p50,
            events_in: m.sum("relay_events_in_total", &[]),
            accepted,
            dropped,
            usage: usage.into(),
            log_bytes,
            network_out_bytes,
            network_in_bytes: m.sum("relay_network_bytes_total", &[("direction", "in")]),
            consumer_min_events: min_events,
            consumer_max_events: max_events,
            consumers_too_slow,
            lag_p50_ms: consumed.as_ref().and_then(|c| c.lag.p50_ms),
            lag_p99_ms: consumed.as_ref().and_then(|c| c.lag.p99_ms),
        },
    })
}
