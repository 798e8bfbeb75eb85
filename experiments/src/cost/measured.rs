//! The measurements the cost model and the report read: the steps of the newest complete runs in
//! a results folder, at the largest scale present.
//!
//! Runs of one experiment at one scale are pooled, so three repeated runs give the fit three
//! points per step. Failed runs are never read: a partial run would price a component on
//! figures it did not finish measuring.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

use crate::defs::Scale;
use crate::results::Figures;
use crate::suite::{hose_compare, indexer_ingest, jetstream_bytes, pds_members, relay_rate};

/// The steps of one experiment's runs, and which files they came from.
#[derive(Debug, Clone)]
pub struct Runs<S> {
    pub scale: Scale,
    pub steps: Vec<S>,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Measured {
    pub folder: PathBuf,
    pub pds: Option<Runs<pds_members::Step>>,
    pub relay: Option<Runs<relay_rate::Step>>,
    pub jetstream: Option<Runs<jetstream_bytes::Step>>,
    pub hoses: Option<Runs<hose_compare::Step>>,
    pub indexer: Option<Runs<indexer_ingest::Step>>,
}

impl Measured {
    pub fn load(folder: &Path) -> Result<Measured> {
        if !folder.is_dir() {
            anyhow::bail!("{}: no such results folder", folder.display());
        }
        Ok(Measured {
            folder: folder.to_path_buf(),
            pds: runs(folder, pds_members::KIND)?,
            relay: runs(folder, relay_rate::KIND)?,
            jetstream: runs(folder, jetstream_bytes::KIND)?,
            hoses: runs(folder, hose_compare::KIND)?,
            indexer: runs(folder, indexer_ingest::KIND)?,
        })
    }

    /// Every file read.
    pub fn files(&self) -> Vec<&Path> {
        let mut files: Vec<&Path> = Vec::new();
        for f in [
            self.pds.as_ref().map(|r| &r.files),
            self.relay.as_ref().map(|r| &r.files),
            self.jetstream.as_ref().map(|r| &r.files),
            self.hoses.as_ref().map(|r| &r.files),
            self.indexer.as_ref().map(|r| &r.files),
        ]
        .into_iter()
        .flatten()
        {
            files.extend(f.iter().map(|p| p.as_path()));
        }
        files
    }
}

/// The complete runs of `experiment` under `folder`, at the largest scale any of them has.
fn runs<S: DeserializeOwned>(folder: &Path, experiment: &str) -> Result<Option<Runs<S>>> {
    let dir = folder.join(experiment);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(None) };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    paths.sort();
    let mut read: Vec<(Scale, PathBuf, Vec<S>)> = Vec::new();
    for path in paths {
        let report: result_schema::Report<serde_json::Value, Figures<S, serde_json::Value>> =
            result_schema::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if report.status != result_schema::Status::Complete {
            continue;
        }
        let scale = report.experiment.as_ref().and_then(|e| Scale::parse(&e.scale)).with_context(|| format!("{}: names no known scale", path.display()))?;
        read.push((scale, path, report.figures.steps));
    }
    let Some(scale) = read.iter().map(|(s, _, _)| *s).max() else { return Ok(None) };
    let mut out = Runs { scale, steps: Vec::new(), files: Vec::new() };
    for (s, path, steps) in read {
        if s == scale {
            out.files.push(path);
            out.steps.extend(steps);
        }
    }
    Ok(Some(out))
}
