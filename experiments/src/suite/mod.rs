//! The experiments, one module each, and how a run of any of them is carried out.
//!
//! An experiment's `run` function gets its typed definition, the scale, and a [`Context`]
//! (the harness, the seed, progress bars). It pushes each finished step into the context's
//! [`Partial`] as it goes, so that a run that fails, or is interrupted, can still be written
//! with the steps it completed.

pub mod hose_compare;
pub mod indexer_ingest;
pub mod jetstream_bytes;
pub mod pds_members;
pub mod relay_rate;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use indicatif::MultiProgress;

use crate::defs::{Definition, Scale};
use crate::harness::Harness;

/// What a run has measured so far.
#[derive(Debug, Default)]
pub struct Partial {
    pub workload: serde_json::Value,
    pub steps: Vec<serde_json::Value>,
    pub derived: serde_json::Value,
    /// Components that are not Sonde's, and their versions (the result's `versions.components`).
    pub components: std::collections::BTreeMap<String, String>,
}

pub struct Context {
    pub harness: Harness,
    pub scale: Scale,
    pub seed: u64,
    pub progress: MultiProgress,
    pub partial: Arc<Mutex<Partial>>,
}

impl Context {
    /// Records a finished step.
    pub fn push_step(&self, step: &impl serde::Serialize) {
        self.partial.lock().expect("partial").steps.push(serde_json::to_value(step).expect("steps serialize"));
    }

    pub fn set_workload(&self, workload: &impl serde::Serialize) {
        self.partial.lock().expect("partial").workload = serde_json::to_value(workload).expect("workloads serialize");
    }

    /// Records a component that is not Sonde's (the reference PDS) and its version.
    pub fn add_component(&self, name: &str, version: &str) {
        self.partial.lock().expect("partial").components.insert(name.into(), version.into());
    }

    pub fn set_derived(&self, derived: &impl serde::Serialize) {
        self.partial.lock().expect("partial").derived = serde_json::to_value(derived).expect("figures serialize");
    }

    /// A progress bar of `len` units with an ETA, under the run's others.
    pub fn bar(&self, len: u64, what: &str) -> indicatif::ProgressBar {
        let bar = self.progress.add(indicatif::ProgressBar::new(len));
        bar.set_style(indicatif::ProgressStyle::with_template("{prefix:>14} {msg:<28} {wide_bar} {pos}/{len} {elapsed} eta {eta}").expect("valid template"));
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    }
}

/// Runs `def` at the context's scale.
pub async fn run(def: &Definition, ctx: &Context) -> Result<()> {
    match def {
        Definition::PdsMembers(spec) => pds_members::run(spec, ctx).await,
        Definition::RelayRate(spec) => relay_rate::run(spec, ctx).await,
        Definition::JetstreamBytes(spec) => jetstream_bytes::run(spec, ctx).await,
        Definition::HoseCompare(spec) => hose_compare::run(spec, ctx).await,
        Definition::IndexerIngest(spec) => indexer_ingest::run(spec, ctx).await,
    }
}
