//! `experiments run`: runs definitions one after another and writes a result for each.
//!
//! Each experiment gets its own [`Harness`] (working folder, processes). If it fails, or the
//! run is interrupted (Ctrl-C, SIGTERM), its processes are stopped — dropping the experiment
//! drops every process it started — and its result is written marked failed, with the steps
//! it finished. An interruption also stops the experiments after it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use serde::Serialize;
use testbed::Binaries;

use crate::defs::{Definition, Scale};
use crate::harness::Harness;
use crate::results::{self, Figures, RunInfo};
use crate::suite::{self, Context, Partial};

pub struct RunOptions {
    /// Experiments to run, by name (empty: all).
    pub names: Vec<String>,
    pub scale: Scale,
    /// Results go to `<out>/<experiment>/<run-id>.json`.
    pub out: PathBuf,
    pub run_id: String,
    pub seed: u64,
    /// Keep the working folders (data directories and logs).
    pub keep: bool,
    /// Where working folders are made.
    pub work_root: PathBuf,
    pub defs: Vec<Definition>,
    pub bins: Binaries,
    /// Hide progress bars.
    pub quiet: bool,
}

/// How one experiment's run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub experiment: String,
    pub result: PathBuf,
    pub complete: bool,
    pub failure: Option<String>,
}

/// The definitions named in `names` (all when empty), or an error naming the unknown ones.
pub fn select<'a>(defs: &'a [Definition], names: &[String]) -> Result<Vec<&'a Definition>> {
    if names.is_empty() {
        return Ok(defs.iter().collect());
    }
    let unknown: Vec<&String> = names.iter().filter(|n| !defs.iter().any(|d| d.name() == n.as_str())).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = defs.iter().map(Definition::name).collect();
        bail!("unknown experiment(s) {unknown:?}; the definitions are {known:?}");
    }
    Ok(names.iter().filter_map(|n| defs.iter().find(|d| d.name() == n.as_str())).collect())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
    }
}

pub async fn run(opts: &RunOptions) -> Result<Vec<Outcome>> {
    let chosen = select(&opts.defs, &opts.names)?;
    let progress =
        if opts.quiet { indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden()) } else { indicatif::MultiProgress::new() };
    let mut outcomes = Vec::new();
    for def in chosen {
        let started = chrono::Utc::now();
        let partial: Arc<Mutex<Partial>> = Arc::default();
        let ctx = Context {
            harness: Harness::new(opts.bins.clone(), &opts.work_root, &opts.run_id, def.name(), opts.keep)?,
            scale: opts.scale,
            seed: opts.seed,
            progress: progress.clone(),
            partial: partial.clone(),
        };
        let (result, stop) = tokio::select! {
            r = suite::run(def, &ctx) => (r, false),
            _ = interrupted() => (Err(anyhow::anyhow!("interrupted")), true),
        };
        // Stops every process the experiment started, and removes its folder unless kept.
        drop(ctx);
        let failure = result.err().map(|e| format!("{e:#}"));
        let partial = std::mem::take(&mut *partial.lock().expect("partial"));
        let info = RunInfo {
            experiment: def.name(),
            scale: opts.scale,
            run_id: &opts.run_id,
            seed: opts.seed,
            started,
            failure: failure.clone(),
            components: partial.components.clone(),
        };
        let path = results::write(&opts.out, &info, partial.workload, Figures { steps: partial.steps, derived: partial.derived })?;
        outcomes.push(Outcome { experiment: def.name().into(), result: path, complete: failure.is_none(), failure });
        if stop {
            break;
        }
    }
    Ok(outcomes)
}
