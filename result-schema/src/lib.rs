//! The one JSON result schema of Sonde's tools.
//!
//! `loadgen` (every command), `experiments` (every run, the cost table) and the notebooks all
//! read and write this shape, so a figure can always be traced to what produced it:
//!
//! ```json
//! { "schema": "sonde.result", "schema_version": 1,
//!   "tool": "loadgen", "command": "drive", "status": "complete", "failure": null,
//!   "experiment": null,
//!   "started_at": "…", "finished_at": "…", "seed": 1,
//!   "workload": { … every parameter … },
//!   "machine": { "cpu_model": "…", "cores": 2, "memory_bytes": …, "disk": { … }, … },
//!   "versions": { "sonde": "0.1.0", "git_commit": "…", "rustc": "…" },
//!   "figures": { … } }
//! ```
//!
//! `workload` and `figures` are each tool's own types. A reader checks `schema` and
//! `schema_version` ([`read`]) before it trusts the rest; a change that renames or removes a
//! field bumps [`SCHEMA_VERSION`].

mod machine;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use machine::{rss_bytes, Disk, Machine};

/// The value of every result's `schema` field.
pub const SCHEMA: &str = "sonde.result";
/// The version of the layout described in this crate.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether the run measured everything it set out to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Complete,
    /// The run stopped early; `failure` says why and the figures are partial.
    Failed,
}

/// Which experiment run a result belongs to (absent for a bare loadgen command).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRun {
    pub name: String,
    /// `tiny`, `quick` or `full`.
    pub scale: String,
    pub run_id: String,
}

/// The versions of what produced a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// The Sonde workspace version.
    pub sonde: String,
    /// The commit the tool was built from (empty when built outside a git checkout).
    pub git_commit: String,
    pub rustc: String,
    /// Other components and their versions (for example the reference PDS from npm).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub components: std::collections::BTreeMap<String, String>,
}

impl Versions {
    pub fn current() -> Self {
        Versions {
            sonde: env!("CARGO_PKG_VERSION").into(),
            git_commit: env!("SONDE_GIT_COMMIT").into(),
            rustc: env!("SONDE_RUSTC_VERSION").into(),
            components: Default::default(),
        }
    }
}

/// One result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report<W, F> {
    pub schema: String,
    pub schema_version: u32,
    /// The program that wrote it: `loadgen` or `experiments`.
    pub tool: String,
    /// Its command (`drive`, `world`, …) or, for experiments, the experiment's name.
    pub command: String,
    pub status: Status,
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentRun>,
    pub started_at: String,
    pub finished_at: String,
    pub seed: Option<u64>,
    pub workload: W,
    pub machine: Machine,
    pub versions: Versions,
    pub figures: F,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a result: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: schema {found:?} version {version}, expected {SCHEMA:?} version {SCHEMA_VERSION}")]
    Schema { path: PathBuf, found: String, version: u32 },
}

/// RFC 3339 with milliseconds, the form of every timestamp in a result.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl<W: Serialize, F: Serialize> Report<W, F> {
    /// A complete result of `tool command`, finished now, measured on this machine.
    pub fn new(tool: &str, command: &str, started_at: chrono::DateTime<chrono::Utc>, seed: Option<u64>, workload: W, figures: F) -> Self {
        Report {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            tool: tool.into(),
            command: command.into(),
            status: Status::Complete,
            failure: None,
            experiment: None,
            started_at: timestamp(started_at),
            finished_at: timestamp(chrono::Utc::now()),
            seed,
            workload,
            machine: Machine::current(),
            versions: Versions::current(),
            figures,
        }
    }

    /// Marks the result failed with `why`.
    pub fn failed(mut self, why: impl Into<String>) -> Self {
        self.status = Status::Failed;
        self.failure = Some(why.into());
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialize") + "\n"
    }

    /// Writes the result to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> Result<(), ResultError> {
        let io = |source| ResultError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Write beside and rename, so a reader never sees half a file.
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, self.to_json()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Reads a result, checking its schema and version, with `workload` and `figures` as `W` and
/// `F` (use `serde_json::Value` for either to keep it untyped).
pub fn read<W: DeserializeOwned, F: DeserializeOwned>(path: &Path) -> Result<Report<W, F>, ResultError> {
    let text = std::fs::read_to_string(path).map_err(|source| ResultError::Io { path: path.into(), source })?;
    parse(&text, path)
}

/// Parses a result's text (`path` names it in errors).
pub fn parse<W: DeserializeOwned, F: DeserializeOwned>(text: &str, path: &Path) -> Result<Report<W, F>, ResultError> {
    #[derive(Deserialize)]
    struct Head {
        schema: String,
        schema_version: u32,
    }
    let json = |source| ResultError::Json { path: path.into(), source };
    let head: Head = serde_json::from_str(text).map_err(json)?;
    if head.schema != SCHEMA || head.schema_version != SCHEMA_VERSION {
        return Err(ResultError::Schema { path: path.into(), found: head.schema, version: head.schema_version });
    }
    serde_json::from_str(text).map_err(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn a_written_result_reads_back_with_its_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/r.json");
        let report = Report::new("loadgen", "drive", chrono::Utc::now(), Some(7), json!({"rate": 5}), json!({"ok": 3}));
        report.write(&path).unwrap();
        let back: Report<Value, Value> = read(&path).unwrap();
        assert_eq!(back.schema, SCHEMA);
        assert_eq!(back.status, Status::Complete);
        assert_eq!(back.seed, Some(7));
        assert_eq!(back.figures["ok"], 3);
        assert_eq!(back.versions.sonde, env!("CARGO_PKG_VERSION"));
        assert!(back.machine.cores >= 1);
        assert!(!dir.path().join("sub/r.json.partial").exists());
    }

    #[test]
    fn a_failed_result_says_why() {
        let r = Report::new("experiments", "x", chrono::Utc::now(), None, json!({}), json!({})).failed("relay exited");
        let text = r.to_json();
        let back: Report<Value, Value> = parse(&text, Path::new("x.json")).unwrap();
        assert_eq!(back.status, Status::Failed);
        assert_eq!(back.failure.as_deref(), Some("relay exited"));
    }

    #[test]
    fn another_schema_or_version_is_refused_by_name() {
        let r = Report::new("loadgen", "drive", chrono::Utc::now(), None, json!({}), json!({}));
        let mut v: Value = serde_json::from_str(&r.to_json()).unwrap();
        v["schema_version"] = json!(99);
        let e = parse::<Value, Value>(&v.to_string(), Path::new("old.json")).unwrap_err();
        assert!(e.to_string().contains("old.json") && e.to_string().contains("version 99"), "{e}");
        let e = parse::<Value, Value>("{\"a\": 1}", Path::new("other.json")).unwrap_err();
        assert!(e.to_string().contains("other.json: not a result"), "{e}");
    }
}
