//! The JSON result every command writes: what was run (command, workload, seed), where
//! (machine: cores, memory, OS), with what (versions), when, and the figures it measured.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The machine a result was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: Option<u64>,
    pub os: &'static str,
    pub arch: &'static str,
    pub hostname: Option<String>,
}

impl Machine {
    pub fn current() -> Self {
        Machine {
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_bytes: meminfo_kb("MemTotal:").map(|kb| kb * 1024),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()),
        }
    }
}

fn meminfo_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// This process's peak and current resident set size in bytes (Linux), if known.
pub fn rss_bytes() -> (Option<u64>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else { return (None, None) };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l[name.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub loadgen: &'static str,
    pub rustc: &'static str,
}

impl Versions {
    pub fn current() -> Self {
        Versions { loadgen: env!("CARGO_PKG_VERSION"), rustc: env!("LOADGEN_RUSTC_VERSION") }
    }
}

/// One command's result.
#[derive(Debug, Serialize)]
pub struct Report<W: Serialize, F: Serialize> {
    pub command: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub seed: Option<u64>,
    pub workload: W,
    pub machine: Machine,
    pub versions: Versions,
    pub figures: F,
}

impl<W: Serialize, F: Serialize> Report<W, F> {
    pub fn new(command: &'static str, started_at: chrono::DateTime<chrono::Utc>, seed: Option<u64>, workload: W, figures: F) -> Self {
        Report {
            command,
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            seed,
            workload,
            machine: Machine::current(),
            versions: Versions::current(),
            figures,
        }
    }

    /// Writes the result to `path` (or `loadgen-<command>-<time>.json` in the current
    /// directory when `path` is `None`; `-` means standard output) and returns where it went.
    pub fn write(&self, path: Option<&Path>) -> std::io::Result<String> {
        let json = serde_json::to_string_pretty(self).expect("reports serialize");
        match path {
            Some(p) if p == Path::new("-") => {
                println!("{json}");
                Ok("stdout".into())
            }
            _ => {
                let path = path.map(Path::to_path_buf).unwrap_or_else(|| {
                    PathBuf::from(format!("loadgen-{}-{}.json", self.command, chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
                });
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, json + "\n")?;
                Ok(path.display().to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_and_rss_are_known_on_linux() {
        let m = Machine::current();
        assert!(m.cores >= 1);
        if cfg!(target_os = "linux") {
            assert!(m.memory_bytes.unwrap() > 0);
            assert!(rss_bytes().1.unwrap() > 0);
        }
    }
}
