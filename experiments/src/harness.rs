//! One experiment run's working folder and the processes it starts.
//!
//! Every service and loadgen command runs as its own process (through `testbed`), with its
//! data in `<work>/<name>/` and its output in `<work>/logs/<name>.log`. The processes belong to
//! the experiment code that started them and die when it drops them; `testbed` also asks the
//! kernel to kill them if this program dies, so a run never leaves orphans. The working folder
//! is removed at the end unless the run was asked to keep it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use testbed::services::{self, IndexerOptions, PdsOptions, RelayOptions};
use testbed::{Binaries, Process, Service};
use tokio::process::Command;

pub struct Harness {
    pub bins: Binaries,
    work: PathBuf,
    keep: bool,
}

impl Harness {
    /// A fresh working folder `root/<run-id>-<experiment>`.
    pub fn new(bins: Binaries, root: &Path, run_id: &str, experiment: &str, keep: bool) -> Result<Harness> {
        let work = root.join(format!("{run_id}-{experiment}"));
        if work.exists() {
            std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
        }
        std::fs::create_dir_all(work.join("logs")).with_context(|| format!("creating {}", work.display()))?;
        Ok(Harness { bins, work, keep })
    }

    pub fn work(&self) -> &Path {
        &self.work
    }

    /// `<work>/<name>`, which does not exist yet (each component starts with no data).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.work.join("logs").join(format!("{name}.log"))
    }

    /// A fresh PLC directory named `name`.
    pub async fn plc(&self, name: &str) -> Result<Service> {
        Ok(services::plc(&self.bins, &self.data_dir(name), &self.log(name)).await?)
    }

    /// Options for Sonde's PDS named `name` on `plc_url`.
    pub fn pds_options(&self, name: &str, plc_url: &str) -> PdsOptions {
        PdsOptions::new(self.data_dir(name), plc_url, self.log(name))
    }

    pub async fn pds(&self, opts: &PdsOptions) -> Result<Service> {
        Ok(services::pds(&self.bins, opts).await?)
    }

    /// The reference TypeScript PDS, with the same options as [`pds`](Self::pds).
    pub async fn reference_pds(&self, refpds: &services::ReferencePds, opts: &PdsOptions) -> Result<Service> {
        Ok(services::reference_pds(refpds, opts).await?)
    }

    /// Options for the relay named `name` on `plc_url`.
    pub fn relay_options(&self, name: &str, plc_url: &str) -> RelayOptions {
        RelayOptions::new(self.data_dir(name), plc_url, self.log(name))
    }

    pub async fn relay(&self, opts: &RelayOptions) -> Result<Service> {
        Ok(services::relay(&self.bins, opts).await?)
    }

    /// Options for the indexer named `name`, its identity lookups on `plc_url`.
    pub fn indexer_options(&self, name: &str, plc_url: &str) -> IndexerOptions {
        IndexerOptions::new(self.data_dir(name), plc_url, self.log(name))
    }

    pub async fn indexer(&self, opts: &IndexerOptions) -> Result<Service> {
        Ok(services::indexer(&self.bins, opts).await?)
    }

    /// Starts `binary ARGS…` as `name`, its standard output (its JSON result) captured in
    /// `<work>/<name>.out` and its log in `<work>/logs/<name>.log`.
    pub fn command_json(&self, name: &str, binary: &str, args: &[String]) -> Result<JsonRun> {
        let out = self.work.join(format!("{name}.out"));
        let mut cmd = Command::new(self.bins.get(binary)?);
        cmd.args(args).env("RUST_LOG", "warn");
        Ok(JsonRun { process: Process::spawn_capturing(name, cmd, &self.log(name), &out)?, out })
    }

    /// Starts `loadgen ARGS… --quiet --json <work>/<name>.json` as `name`.
    pub fn loadgen(&self, name: &str, args: &[String]) -> Result<LoadgenRun> {
        let json = self.work.join(format!("{name}.json"));
        let mut cmd = Command::new(self.bins.get("loadgen")?);
        cmd.args(args).arg("--quiet").arg("--json").arg(&json).env("RUST_LOG", "warn");
        Ok(LoadgenRun { process: Process::spawn(name, cmd, &self.log(name))?, json })
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.work.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

/// The shape of a `loadgen world` run.
pub struct World<'a> {
    pub hosts: usize,
    pub accounts: usize,
    pub initial_records: u32,
    pub rate: f64,
    pub seconds: f64,
    pub seed: u64,
    pub plc_url: &'a str,
    /// Relays it asks to crawl its hosts.
    pub relays: Vec<String>,
    /// Seconds between asking for crawls and the first event.
    pub warmup_s: f64,
    /// More arguments.
    pub extra: Vec<String>,
}

impl World<'_> {
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "world",
            "--hosts",
            &self.hosts.to_string(),
            "--accounts",
            &self.accounts.to_string(),
            "--initial-records",
            &self.initial_records.to_string(),
            "--rate",
            &self.rate.to_string(),
            "--duration",
            &format!("{}s", self.seconds),
            "--seed",
            &self.seed.to_string(),
            "--plc",
            self.plc_url,
            "--warmup",
            &format!("{}s", self.warmup_s),
        ]
        .map(String::from)
        .into();
        for r in &self.relays {
            args.extend(["--relay".to_string(), r.clone()]);
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// Generous time for the run: building, warm-up, and twice the planned emission.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(120.0 + self.warmup_s + self.seconds * 2.0)
    }
}

/// A command whose standard output is its JSON result.
pub struct JsonRun {
    pub process: Process,
    out: PathBuf,
}

impl JsonRun {
    /// Waits for the command to succeed within `timeout` and parses what it printed.
    pub async fn finish<F: DeserializeOwned>(mut self, timeout: Duration) -> Result<F> {
        self.process.wait_success(timeout).await?;
        let text = std::fs::read_to_string(&self.out).with_context(|| format!("reading {}", self.out.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not the JSON expected of {}", self.out.display(), self.process.name()))
    }
}

/// A loadgen command and the result file it will write.
pub struct LoadgenRun {
    pub process: Process,
    pub json: PathBuf,
}

impl LoadgenRun {
    /// Waits for the command to succeed within `timeout` and reads its result's figures.
    pub async fn finish<F: DeserializeOwned>(mut self, timeout: Duration) -> Result<F> {
        self.process.wait_success(timeout).await?;
        let report: result_schema::Report<serde_json::Value, F> = result_schema::read(&self.json)?;
        Ok(report.figures)
    }

    /// Like [`finish`](Self::finish), while checking twice a second that `service` (what the
    /// command drives) is still running; if it died, that is the error, whatever the command
    /// made of it.
    pub async fn finish_watching<F: DeserializeOwned>(self, timeout: Duration, service: &mut Service, during: &str) -> Result<F> {
        let finish = self.finish(timeout);
        tokio::pin!(finish);
        let figures = loop {
            tokio::select! {
                r = &mut finish => break r,
                _ = tokio::time::sleep(Duration::from_millis(500)) => service.process.ensure_running(during)?,
            }
        };
        service.process.ensure_running(during)?;
        figures
    }
}
