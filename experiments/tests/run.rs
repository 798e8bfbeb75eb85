//! `experiments run` as a user runs it: the binary, at the tiny scale, against the real
//! `pds`, `plc` and `loadgen` binaries built beside it by `cargo test --workspace`.
//!
//! pds-members also measures the reference TypeScript PDS, which `scripts/refpds.sh` installs
//! from npm (cached under `~/.cache/sonde-refpds`).
//!
//! Outside CI the tests skip with a notice when those binaries are missing or the reference
//! PDS cannot be installed; under CI (`CI=true`) that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use experiments::results::Figures;
use experiments::suite::pds_members::Step;
use experiments::suite::relay_rate;
use result_schema::Status;
use serde_json::Value;

fn experiments_bin() -> Option<PathBuf> {
    testbed::sibling_binary(env!("CARGO_BIN_EXE_experiments"), "pds")?;
    testbed::sibling_binary(env!("CARGO_BIN_EXE_experiments"), "loadgen")?;
    Some(PathBuf::from(env!("CARGO_BIN_EXE_experiments")))
}

/// Installs the reference PDS (idempotent, quick once done), or says why not: `false` means
/// skip, outside CI only.
fn reference_pds_installed() -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/refpds.sh");
    let out = Command::new("bash").arg(&script).output().expect("run bash");
    let why = String::from_utf8_lossy(&out.stderr);
    atproto::fixtures::available(out.status.success(), &format!("the reference PDS (scripts/refpds.sh: {why})"))
}

fn run_command(bin: &Path, experiment: &str, out: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["run", experiment, "--scale", "tiny", "--quiet", "--json", "--out"]).arg(out).arg("--work").arg(work);
    cmd
}

fn result<S: serde::de::DeserializeOwned>(out: &Path, experiment: &str) -> result_schema::Report<Value, Figures<S, Value>> {
    let dir = out.join(experiment);
    let file = std::fs::read_dir(&dir).unwrap().next().expect("one result").unwrap().path();
    result_schema::read(&file).unwrap()
}

/// Processes whose parent is `pid`.
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let name = stat[stat.find('(').unwrap() + 1..close].to_string();
        let ppid: u32 = stat[close + 2..].split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == pid {
            out.push((child, name));
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Waits until `pid` has a child named `name`, and returns every child seen by then.
fn wait_for_child(pid: u32, name: &str) -> Vec<(u32, String)> {
    let start = Instant::now();
    loop {
        let kids = children(pid);
        if kids.iter().any(|(_, n)| n == name) {
            return kids;
        }
        assert!(alive(pid), "the run ended before a {name} child appeared");
        assert!(start.elapsed() < Duration::from_secs(60), "no {name} child appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_tiny_run_measures_every_member_count_of_both_pdses_and_cleans_up() {
    let Some(bin) = experiments_bin() else { return };
    if !reference_pds_installed() {
        return;
    }
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run_command(&bin, "pds-members", out.path(), work.path()).stderr(Stdio::inherit()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let outcomes: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcomes[0]["complete"], true);

    let r = result::<Step>(out.path(), "pds-members");
    assert_eq!((r.tool.as_str(), r.command.as_str(), r.status), ("experiments", "pds-members", Status::Complete));
    let run = r.experiment.as_ref().unwrap();
    assert_eq!(run.scale, "tiny");
    assert!(r.workload["workload"]["per_member_day"]["likes"].as_f64().unwrap() > 0.0, "the workload is recorded");
    let measured: Vec<_> = r.figures.steps.iter().map(|s| (s.target.as_str(), s.members)).collect();
    assert_eq!(measured, [("sonde", 2), ("sonde", 4), ("reference", 2), ("reference", 4)]);
    let reference = &r.versions.components["reference-pds"];
    assert!(reference.starts_with("@atproto/pds@") && reference.contains(" node-v"), "{reference}");
    for s in &r.figures.steps {
        let (raw, d) = (&s.raw, &s.derived);
        assert_eq!(raw.writes_failed, 0, "{:?}", raw.errors);
        assert_eq!(raw.writes_ok, raw.writes_planned);
        assert!(raw.activity_usage.cpu_s > 0.0 && d.cpu_s_per_member_day > 0.0, "{raw:?}");
        assert!(raw.activity_usage.rss_peak_bytes > 1_000_000, "{raw:?}");
        let parts: &[&str] = match s.target.as_str() {
            "sonde" => &["repo_blocks", "record_index", "event_log", "accounts"],
            _ => &["repos", "event_log", "accounts"],
        };
        for part in parts {
            assert!(raw.disk_bytes[*part] > 0, "{} {part} is empty: {:?}", s.target, raw.disk_bytes);
        }
        assert_eq!(raw.disk_bytes.values().sum::<u64>(), raw.disk_total_bytes);
        // Every write reached the firehose consumer (plus the accounts' own events).
        assert!(raw.firehose_messages >= raw.writes_ok, "{raw:?}");
        assert!(raw.network_out_bytes >= raw.firehose_bytes as f64, "{raw:?}");
        assert!(d.write_p50_ms > 0.0 && d.write_p99_ms >= d.write_p50_ms);
    }
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "the working folder is removed");
}

#[test]
fn ctrl_c_stops_every_process_and_writes_a_failed_result() {
    let Some(bin) = experiments_bin() else { return };
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut child = run_command(&bin, "pds-members", out.path(), work.path()).stdout(Stdio::null()).spawn().unwrap();
    let mut seen = wait_for_child(child.id(), "loadgen");
    seen.extend(children(child.id()));
    assert!(seen.iter().any(|(_, n)| n == "pds") && seen.iter().any(|(_, n)| n == "plc"), "{seen:?}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    for (pid, name) in &seen {
        let start = Instant::now();
        while alive(*pid) {
            assert!(start.elapsed() < Duration::from_secs(10), "{name} ({pid}) outlived the run");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let r = result::<Step>(out.path(), "pds-members");
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.failure.as_deref(), Some("interrupted"));
}

#[test]
fn a_component_that_dies_fails_the_run_with_its_log() {
    let Some(bin) = experiments_bin() else { return };
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut child = run_command(&bin, "pds-members", out.path(), work.path()).stdout(Stdio::null()).spawn().unwrap();
    // The PDS is killed as soon as it is there: waiting for the later loadgen child could miss
    // a tiny run's whole life on a loaded machine.
    let kids = wait_for_child(child.id(), "pds");
    let (pds, _) = kids.iter().find(|(_, n)| n == "pds").expect("a pds child");
    // SAFETY: a process of this test's own run.
    unsafe { libc::kill(*pds as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let r = result::<Step>(out.path(), "pds-members");
    assert_eq!(r.status, Status::Failed);
    let why = r.failure.unwrap();
    assert!(why.contains("pds exited") && why.contains("last lines of its log"), "{why}");
}

#[test]
fn a_tiny_relay_ladder_measures_each_step() {
    let Some(bin) = experiments_bin() else { return };
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run_command(&bin, "relay-rate", out.path(), work.path()).stderr(Stdio::inherit()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let r = result::<relay_rate::Step>(out.path(), "relay-rate");
    assert_eq!(r.status, Status::Complete);
    assert_eq!(r.figures.steps.iter().map(|s| (s.rate, s.consumers)).collect::<Vec<_>>(), vec![(200.0, 1), (400.0, 2)]);
    for s in &r.figures.steps {
        let (raw, d) = (&s.raw, &s.derived);
        // Loopback loses nothing at these rates: every event reaches the relay and each consumer.
        assert_eq!(raw.accepted, raw.emitted as f64, "{raw:?}");
        assert_eq!(raw.consumer_min_events as f64, raw.accepted, "{raw:?}");
        assert!(raw.dropped.values().all(|n| *n == 0.0), "{raw:?}");
        assert!(d.cpu_s_per_1000_events > 0.0 && raw.usage.rss_peak_bytes > 1_000_000, "{raw:?}");
        // The log holds each frame plus a small header; a consumer gets each frame plus framing.
        assert!(d.log_bytes_per_event > raw.frame_bytes_p50 as f64 * 0.5, "{s:?}");
        assert!(d.out_bytes_per_consumer_event > raw.frame_bytes_p50 as f64 * 0.5, "{s:?}");
        assert!(raw.lag_p50_ms.is_some());
    }
    assert!(r.figures.derived["max_sustained_rate"].is_number() || r.figures.derived["max_sustained_rate"].is_null());
}

#[test]
fn a_tiny_jetstream_run_compares_the_same_events_in_both_forms() {
    use experiments::suite::jetstream_bytes;
    let Some(bin) = experiments_bin() else { return };
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run_command(&bin, "jetstream-bytes", out.path(), work.path()).stderr(Stdio::inherit()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let r = result::<jetstream_bytes::Step>(out.path(), "jetstream-bytes");
    assert_eq!(r.status, Status::Complete);
    let s = &r.figures.steps[0];
    let d = &s.derived;
    assert!(s.firehose_commits > 100, "{s:?}");
    // One Jetstream message per operation: world's commits carry one operation each, and
    // #identity/#account events appear in both.
    assert!((0.9..1.2).contains(&d.messages_per_commit), "{s:?}");
    // JSON drops the MST proof blocks a frame carries, and zstd shrinks it further.
    assert!(d.json_bytes_per_message < d.cbor_bytes_per_frame, "{d:?}");
    assert!(d.json_zstd_dict_bytes_per_message < d.json_zstd_bytes_per_message && d.json_zstd_bytes_per_message < d.json_bytes_per_message, "{d:?}");
}

#[test]
fn a_tiny_hose_comparison_finds_the_banned_account() {
    use experiments::suite::hose_compare;
    let Some(bin) = experiments_bin() else { return };
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run_command(&bin, "hose-compare", out.path(), work.path()).stderr(Stdio::inherit()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let r = result::<hose_compare::Step>(out.path(), "hose-compare");
    assert_eq!(r.status, Status::Complete);
    let s = &r.figures.steps[0];
    let source = |name: &str| s.sources.iter().find(|x| x.name == name).unwrap_or_else(|| panic!("no {name}: {s:?}"));
    let (a, b, js) = (source("a"), source("b"), source("a-jetstream"));
    // Relay a saw everything world emitted, and misses only the takedown #account event
    // relay b emitted for its ban; b misses the banned account's later events.
    assert!(a.missed <= 1, "{s:?}");
    assert!(b.coverage < a.coverage && b.missed > a.missed, "{s:?}");
    assert!(js.events > 0, "{s:?}");
    for x in [a, b] {
        assert_eq!(x.seq_gaps, 0, "{x:?}");
        let v = x.verify.as_ref().expect("firehoses are verified");
        assert_eq!(v.failed, 0, "{x:?}");
        assert!(v.verified > 0, "{x:?}");
    }
}

#[test]
fn a_tiny_indexer_run_ingests_measures_and_reads() {
    use experiments::suite::indexer_ingest;
    let Some(bin) = experiments_bin() else { return };
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let output = run_command(&bin, "indexer-ingest", out.path(), work.path()).stderr(Stdio::inherit()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let r = result::<indexer_ingest::Step>(out.path(), "indexer-ingest");
    assert_eq!(r.status, Status::Complete);
    let s = &r.figures.steps[0];
    let (raw, d) = (&s.raw, &s.derived);
    // Every frame world emitted was ingested, and most commits create a record.
    assert_eq!(raw.ingest.frames, raw.emitted, "{raw:?}");
    assert!(raw.ingest.records as f64 > 0.5 * raw.emitted as f64, "{raw:?}");
    assert_eq!(raw.store.records, raw.ingest.records, "stats and ingest agree: {raw:?}");
    assert!(raw.store.collections.iter().all(|c| c.invalid == 0), "{raw:?}");
    assert!(d.bytes_per_record.is_some_and(|b| b > 1.0) && d.bytes_per_edge.is_some_and(|b| b > 1.0), "{d:?}");
    assert!(d.bytes_per_record_by_collection.contains_key("app.bsky.feed.like"), "{d:?}");
    assert!(d.cpu_s_per_1000_records > 0.0 && d.ingest_rss_peak_bytes > 1_000_000 && d.serve_rss_peak_bytes > 1_000_000, "{d:?}");
    // Each read method answered, the timeline as viewers who follow someone, without errors.
    let methods: Vec<&str> = raw.reads.methods.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(methods, ["app.bsky.actor.getProfile", "app.bsky.feed.getAuthorFeed", "app.bsky.feed.getTimeline", "app.bsky.feed.searchPosts"]);
    assert_eq!(d.read_errors, 0, "{:?}", raw.reads);
    assert!(raw.reads.methods.iter().all(|m| m.requests > 0 && m.latency.is_some()), "{:?}", raw.reads);
    assert!(raw.reads.viewer_follows.iter().any(|f| *f > 0), "{:?}", raw.reads);

    // The cost table prices AppView rows from it.
    let cost = Command::new(&bin).args(["cost", "--json", "--members", "100", "--multiples", "1", "--results"]).arg(out.path()).output().unwrap();
    assert!(cost.status.success(), "{}", String::from_utf8_lossy(&cost.stderr));
    let table: Value = serde_json::from_slice(&cost.stdout).unwrap();
    let components: Vec<&str> = table["rows"].as_array().unwrap().iter().map(|r| r["component"].as_str().unwrap()).collect();
    assert_eq!(components, ["AppView (community)", "AppView (full network)"], "{table:#}");
    // 18.5B records are far beyond a tiny ladder, and the row says so.
    assert!(table["rows"][1]["extrapolated"]["factor"].as_f64().unwrap() > 1000.0, "{table:#}");
}

#[test]
fn cost_and_report_read_a_tiny_suite_and_draw_every_figure() {
    let Some(bin) = experiments_bin() else { return };
    if !reference_pds_installed() {
        return;
    }
    let (out, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cmd = Command::new(&bin);
    cmd.args(["run", "pds-members", "relay-rate", "jetstream-bytes", "--scale", "tiny", "--quiet", "--out"]).arg(out.path()).arg("--work").arg(work.path());
    let status = cmd.stderr(Stdio::inherit()).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());

    let cost = Command::new(&bin).args(["cost", "--json", "--members", "10,1000", "--results"]).arg(out.path()).output().unwrap();
    assert!(cost.status.success(), "{}", String::from_utf8_lossy(&cost.stderr));
    let table: Value = serde_json::from_slice(&cost.stdout).unwrap();
    let rows = table["rows"].as_array().unwrap();
    // 2 PDS sizes for each of 2 PDSes, 3 multiples × 2 consumer counts × 2 windows, 1 Jetstream
    // consumer.
    assert_eq!(rows.len(), 2 * 2 + 12 + 1, "{table:#}");
    let components: Vec<&str> = rows.iter().take(4).map(|r| r["component"].as_str().unwrap()).collect();
    assert_eq!(components, ["PDS (reference)", "PDS (reference)", "PDS (sonde)", "PDS (sonde)"]);
    assert!(rows[0]["quotes"].as_array().unwrap().iter().any(|q| q["Ok"]["total_eur"].as_f64().is_some_and(|e| e > 0.0)), "{:#}", rows[0]);
    // The tiny ladder measured at most 4 members: 1,000 is far beyond it, and says so.
    assert!(rows[1]["extrapolated"]["factor"].as_f64().unwrap() > 100.0, "{:#}", rows[1]);
    assert!(out.path().join("cost.md").is_file() && out.path().join("cost.json").is_file());

    let report = Command::new(&bin).args(["report", "--results"]).arg(out.path()).output().unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("Validity") && text.contains("relay event log") && text.contains("Jetstream JSON per event"), "{text}");
    for name in ["pds-cost", "relay-cost", "relay-per-event", "latency"] {
        for ext in ["svg", "png"] {
            let f = out.path().join("figures").join(format!("{name}.{ext}"));
            assert!(std::fs::metadata(&f).is_ok_and(|m| m.len() > 1000), "{} missing or empty", f.display());
        }
    }
}
