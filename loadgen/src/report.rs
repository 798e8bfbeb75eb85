//! Where loadgen's results go. The result itself is the workspace's one schema
//! ([`result_schema::Report`]: command, workload, seed, machine, versions, figures); this module
//! only names loadgen's commands in it and picks the file.

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use result_schema::{rss_bytes, Machine, Versions};

/// The result of one loadgen command.
pub fn report<W: Serialize, F: Serialize>(
    command: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    seed: Option<u64>,
    workload: W,
    figures: F,
) -> result_schema::Report<W, F> {
    result_schema::Report::new("loadgen", command, started_at, seed, workload, figures)
}

/// Writes `report` to `path` (or `loadgen-<command>-<time>.json` in the current directory
/// when `path` is `None`; `-` means standard output) and returns where it went.
pub fn write<W: Serialize, F: Serialize>(report: &result_schema::Report<W, F>, path: Option<&Path>) -> anyhow::Result<String> {
    match path {
        Some(p) if p == Path::new("-") => {
            print!("{}", report.to_json());
            Ok("stdout".into())
        }
        _ => {
            let path = path
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(format!("loadgen-{}-{}.json", report.command, chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))));
            report.write(&path)?;
            Ok(path.display().to_string())
        }
    }
}
