//! `hose-compare`: two relays crawl the same world, one of them with a fault, and `loadgen
//! compare` reads both firehoses and the first relay's Jetstream output at once.
//!
//! The fault is an account the second relay bans (its admin takes it down) as soon as the
//! relay has seen the account's first event: a known difference the comparison must find.
//! (A relay can only ban an account it knows.) Measured per source: coverage of
//! the union of events, events missed, delivery lag p50/p99, sequence gaps, and commits that
//! fail verification against the PLC directory's keys.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use testbed::Service;

use super::Context;
use crate::defs::{Positive, Spec};
use crate::harness::World;

pub const KIND: &str = "hose-compare";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub hosts: usize,
    pub accounts: usize,
    pub initial_records: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    pub rate: Positive,
    pub seconds: Positive,
    /// Fewer accounts than the workload's, so that a short run still gives the banned account
    /// many events after its ban.
    #[serde(default)]
    pub accounts: Option<usize>,
    pub estimate_s: Positive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// The account the faulty relay banned.
    pub banned_did: String,
    pub emitted: u64,
    pub union_events: u64,
    pub sources: Vec<Source>,
}

/// One hose, as `loadgen compare` saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub kind: String,
    pub events: u64,
    pub unique_events: u64,
    pub missed: u64,
    pub coverage: f64,
    pub lag: Lag,
    pub seq_gaps: u64,
    pub seq_skipped: u64,
    pub verify: Option<Verify>,
    pub decode_errors: u64,
    pub kinds: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lag {
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verify {
    pub verified: u64,
    pub failed: u64,
    pub unresolved: u64,
}

#[derive(Debug, Deserialize)]
struct CompareFigures {
    union_events: u64,
    sources: Vec<Source>,
}

#[derive(Debug, Deserialize)]
struct WorldFigures {
    emitted: u64,
}

/// Waits until world has built its accounts (it then writes their DID documents).
async fn built(path: &std::path::Path, world: &mut crate::harness::LoadgenRun) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        if std::fs::read_to_string(path).is_ok_and(|text| serde_json::from_str::<serde_json::Value>(&text).is_ok()) {
            return Ok(());
        }
        world.process.ensure_running("before its accounts were built")?;
        if start.elapsed() > Duration::from_secs(300) {
            bail!("world built no accounts in 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first account `relay` lists, once it lists one.
async fn first_account(relay: &Service, world: &mut crate::harness::LoadgenRun) -> Result<String> {
    #[derive(Deserialize)]
    struct Repos {
        repos: Vec<Repo>,
    }
    #[derive(Deserialize)]
    struct Repo {
        did: String,
    }
    let url = format!("{}/xrpc/com.atproto.sync.listRepos?limit=1", relay.url());
    let start = std::time::Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if let Ok(Repos { repos }) = r.json::<Repos>().await {
                if let Some(repo) = repos.into_iter().next() {
                    return Ok(repo.did);
                }
            }
        }
        world.process.ensure_running("before relay b saw an account")?;
        if start.elapsed() > Duration::from_secs(120) {
            bail!("relay b saw no account in 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(spec: &Spec<Workload, ScaleSpec>, ctx: &Context) -> Result<()> {
    let w = &spec.workload;
    let scale = spec.scales.get(ctx.scale);
    ctx.set_workload(&serde_json::json!({ "workload": w, "scale": scale, "fault": "relay b bans one account" }));
    let h = &ctx.harness;
    let bar = ctx.bar(2, &spec.name);
    bar.set_message("building the world");
    let plc = h.plc("plc").await?;
    let mut a = h.relay(&h.relay_options("relay-a", &plc.url())).await?;
    let mut b_opts = h.relay_options("relay-b", &plc.url());
    b_opts.admin_password = Some("hose-compare".into());
    let mut b = h.relay(&b_opts).await?;
    let docs = h.work().join("did-docs.json");
    // World builds, registers its DIDs, asks both relays to crawl it, waits, then emits.
    let warmup_s = 4.0;
    let plc_url = plc.url();
    let spec = World {
        hosts: w.hosts,
        accounts: scale.accounts.unwrap_or(w.accounts),
        initial_records: w.initial_records,
        rate: scale.rate.0,
        seconds: scale.seconds.0,
        seed: ctx.seed,
        plc_url: &plc_url,
        relays: vec![a.url(), b.url()],
        warmup_s,
        extra: vec!["--did-docs-out".into(), docs.display().to_string()],
    };
    let mut world = h.loadgen("world", &spec.args())?;
    built(&docs, &mut world).await?;
    // Listen from before the first event until a little after the last.
    let listen_s = warmup_s + scale.seconds.0 + 8.0;
    let compare = h.loadgen(
        "compare",
        &[
            "compare".into(),
            "--relay".into(),
            format!("a={}", a.url()),
            "--relay".into(),
            format!("b={}", b.url()),
            "--jetstream".into(),
            format!("a-jetstream={}/subscribe", a.url()),
            "--duration".into(),
            format!("{listen_s}s"),
            "--plc".into(),
            plc.url(),
        ],
    )?;
    let banned = first_account(&b, &mut world).await?;
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/accounts/ban", b.url()))
        .basic_auth("admin", Some("hose-compare"))
        .json(&serde_json::json!({ "did": banned }))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("banning {banned} on relay b: HTTP {}: {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    bar.set_message("comparing");
    let world: WorldFigures = world.finish(spec.timeout()).await?;
    bar.inc(1);
    let compared: CompareFigures = compare.finish(Duration::from_secs_f64(listen_s + 60.0)).await?;
    a.process.ensure_running("during the comparison")?;
    b.process.ensure_running("during the comparison")?;
    ctx.push_step(&Step { banned_did: banned, emitted: world.emitted, union_events: compared.union_events, sources: compared.sources });
    bar.finish_and_clear();
    Ok(())
}
