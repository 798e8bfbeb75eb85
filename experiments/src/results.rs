//! Where results go and what they hold.
//!
//! Each run of an experiment writes `<out>/<experiment>/<run-id>.json` in the workspace's result
//! schema (`result-schema`): the experiment and scale, the workload with every parameter, the
//! seed, the machine, the versions and commit, and the figures — the raw measurements of every
//! step, and the figures derived from them. A run that stopped early (a component died, a
//! check failed, Ctrl-C) is written with `status: failed`, its reason, and the steps it
//! finished, so a partial run is never mistaken for a complete one.
//!
//! A user's runs go to `results/local/` (git-ignored) unless `--out` says otherwise; the
//! committed reference results sit beside it in `results/`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::defs::Scale;

/// A run id: the UTC start time, which sorts in time order.
pub fn new_run_id(started: chrono::DateTime<chrono::Utc>) -> String {
    started.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The committed reference results of this source tree.
pub fn reference_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../results"))
}

/// `path` relative to the workspace root when it lies inside it (so that committed files name
/// no machine's folders), else as given.
pub fn in_workspace(path: &Path) -> PathBuf {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(root), Ok(full)) => full.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(full),
        _ => path.to_path_buf(),
    }
}

/// Where a user's runs go by default: `results/local/<run-id>/`.
pub fn local_dir(run_id: &str) -> PathBuf {
    reference_dir().join("local").join(run_id)
}

pub fn result_path(out: &Path, experiment: &str, run_id: &str) -> PathBuf {
    out.join(experiment).join(format!("{run_id}.json"))
}

/// The figures of an experiment run: what each step measured, and what follows from them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Figures<S, D> {
    pub steps: Vec<S>,
    pub derived: D,
}

/// What [`write`] needs to know about the run.
pub struct RunInfo<'a> {
    pub experiment: &'a str,
    pub scale: Scale,
    pub run_id: &'a str,
    pub seed: u64,
    pub started: chrono::DateTime<chrono::Utc>,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
    /// Components that are not Sonde's, and their versions.
    pub components: std::collections::BTreeMap<String, String>,
}

/// Writes one run's result and returns its path.
pub fn write<W: Serialize, F: Serialize>(out: &Path, info: &RunInfo, workload: W, figures: F) -> Result<PathBuf> {
    let mut report = result_schema::Report::new("experiments", info.experiment, info.started, Some(info.seed), workload, figures);
    report.versions.components = info.components.clone();
    report.experiment = Some(result_schema::ExperimentRun { name: info.experiment.into(), scale: info.scale.name().into(), run_id: info.run_id.into() });
    if let Some(why) = &info.failure {
        report = report.failed(why.clone());
    }
    let path = result_path(out, info.experiment, info.run_id);
    report.write(&path)?;
    Ok(path)
}
