//! Measuring a process from outside: CPU and memory from `/proc`, counters from `/metrics`,
//! bytes on disk.
//!
//! A [`Sampler`] reads `/proc/<pid>/stat` (user + system CPU time) and `/proc/<pid>/status`
//! (resident set size) four times a second in a task of its own; an experiment marks the
//! moments that bound its steps and asks for the [`Usage`] between two marks.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// How often a sampler reads `/proc`.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu_s: f64,
    rss_bytes: u64,
}

/// CPU seconds (user + system) and RSS of `pid`, if it is alive.
fn read_proc(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks as f64 / hz, rss_kb * 1024))
}

/// What a process used between two marks.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub seconds: f64,
    pub cpu_s: f64,
    pub rss_peak_bytes: u64,
    pub rss_mean_bytes: u64,
    pub samples: usize,
}

/// Samples one process until dropped.
pub struct Sampler {
    pid: u32,
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let task = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                loop {
                    tick.tick().await;
                    match read_proc(pid) {
                        Some((cpu_s, rss_bytes)) => samples.lock().expect("samples").push(Sample { at: Instant::now(), cpu_s, rss_bytes }),
                        None => break,
                    }
                }
            })
        };
        let sampler = Sampler { pid, samples, task };
        sampler.mark();
        sampler
    }

    /// Samples now and returns the moment, to bound a step.
    pub fn mark(&self) -> Instant {
        let at = Instant::now();
        if let Some((cpu_s, rss_bytes)) = read_proc(self.pid) {
            self.samples.lock().expect("samples").push(Sample { at, cpu_s, rss_bytes });
        }
        at
    }

    /// CPU time at `t`, interpolated between the samples around it.
    fn cpu_at(samples: &[Sample], t: Instant) -> f64 {
        let i = samples.partition_point(|s| s.at <= t);
        match (i.checked_sub(1).map(|j| samples[j]), samples.get(i)) {
            (Some(a), Some(b)) if b.at > a.at => a.cpu_s + (b.cpu_s - a.cpu_s) * (t - a.at).as_secs_f64() / (b.at - a.at).as_secs_f64(),
            (Some(a), _) => a.cpu_s,
            (None, Some(b)) => b.cpu_s,
            (None, None) => 0.0,
        }
    }

    /// What the process used between `from` and `to`.
    pub fn usage(&self, from: Instant, to: Instant) -> Usage {
        let mut samples = self.samples.lock().expect("samples").clone();
        samples.sort_by_key(|s| s.at);
        let inside: Vec<&Sample> = samples.iter().filter(|s| s.at >= from && s.at <= to).collect();
        let n = inside.len().max(1) as u64;
        Usage {
            seconds: (to - from).as_secs_f64(),
            cpu_s: Self::cpu_at(&samples, to) - Self::cpu_at(&samples, from),
            rss_peak_bytes: inside.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
            rss_mean_bytes: inside.iter().map(|s| s.rss_bytes).sum::<u64>() / n,
            samples: inside.len(),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A scrape of a Prometheus `/metrics` page.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// `(name, labels)` → value.
    series: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    pub async fn scrape(base_url: &str) -> anyhow::Result<Metrics> {
        let text = reqwest::get(format!("{base_url}/metrics")).await?.error_for_status()?.text().await?;
        Ok(Metrics::parse(&text))
    }

    /// Parses the text exposition format (comments and malformed lines are skipped).
    pub fn parse(text: &str) -> Metrics {
        let mut series = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let Some((head, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (head, BTreeMap::new()),
            };
            series.push((name.to_string(), labels, value));
        }
        Metrics { series }
    }

    /// The distinct values of label `label` among the series of `name`.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self.series.iter().filter(|(n, _, _)| n == name).filter_map(|(_, l, _)| l.get(label).cloned()).collect();
        values.sort();
        values.dedup();
        values
    }

    /// The sum of every series of `name` whose labels include all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series.iter().filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).is_some_and(|x| x == v))).fold(0.0, |sum, (_, _, v)| sum + v)
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        // Values escape `"` as `\"`; find the closing quote that is not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        out.insert(key.trim_start_matches(',').trim().to_string(), after[..end].replace("\\\"", "\"").replace("\\\\", "\\"));
        rest = &after[end + 1..];
    }
    out
}

/// Bytes in the files under `path` (their lengths; 0 if it does not exist).
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path).map(|entries| entries.filter_map(|e| e.ok()).map(|e| dir_bytes(&e.path())).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_summed_by_label() {
        let m = Metrics::parse(
            "# HELP x\n# TYPE pds_network_bytes_total counter\n\
             pds_network_bytes_total{direction=\"in\",side=\"server\"} 100\n\
             pds_network_bytes_total{direction=\"out\",side=\"server\"} 250\n\
             pds_network_bytes_total{direction=\"out\",side=\"client\"} 50\n\
             relay_events_dropped_total{reason=\"a \\\"quoted\\\" one\"} 3\n\
             up 1\nbroken line\n",
        );
        assert_eq!(m.sum("pds_network_bytes_total", &[("direction", "out")]), 300.0);
        assert_eq!(m.sum("pds_network_bytes_total", &[("direction", "out"), ("side", "server")]), 250.0);
        assert_eq!(m.sum("pds_network_bytes_total", &[]), 400.0);
        assert_eq!(m.sum("relay_events_dropped_total", &[("reason", "a \"quoted\" one")]), 3.0);
        assert_eq!(m.sum("up", &[]), 1.0);
        assert_eq!(m.sum("missing", &[]), 0.0);
        assert_eq!(m.label_values("pds_network_bytes_total", "direction"), vec!["in", "out"]);
    }

    #[tokio::test]
    async fn a_busy_process_is_measured() {
        let mut child = tokio::process::Command::new("sh").args(["-c", "i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done"]).spawn().unwrap();
        let sampler = Sampler::start(child.id().unwrap());
        let from = sampler.mark();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let to = sampler.mark();
        let u = sampler.usage(from, to);
        let _ = child.kill().await;
        assert!(u.samples >= 4, "{u:?}");
        // A shell loop keeps one core busy.
        assert!(u.cpu_s > 0.5 && u.cpu_s < 1.5, "{u:?}");
        assert!(u.rss_peak_bytes > 0 && u.rss_mean_bytes <= u.rss_peak_bytes, "{u:?}");
    }

    #[test]
    fn directory_sizes_add_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/x"), vec![0; 1000]).unwrap();
        std::fs::write(dir.path().join("a/b/y"), vec![0; 234]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 1234);
        assert_eq!(dir_bytes(&dir.path().join("missing")), 0);
    }
}
