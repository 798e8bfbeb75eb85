//! Throughput benchmark (ignored by default; run with
//! `cargo test -p relay --release --test bench -- --ignored --nocapture`): sustained verified
//! events per second through the relay with 10 consumers attached, next to the raw k256
//! signature verification rate measured in the same run, plus log bytes per event and RSS.

mod common;

use std::time::{Duration, Instant};

use atproto::firehose::{CommitEvent, SubscribeReposFrame};
use common::account::*;
use common::*;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| if e.path().is_dir() { dir_size(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) }).sum())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn sustained_verified_events_per_second() {
    let events: usize = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    const CONSUMERS: usize = 10;
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut accounts: Vec<Account> = (0..50).map(|i| Account::new(&format!("bench{i:02}"))).collect();
    for a in &accounts {
        plc.set(&a.did, &a.doc("https://pds.test"));
    }
    let commits: Vec<(CommitEvent, atproto::keys::PublicKey)> = (0..events)
        .map(|i| {
            let a = &mut accounts[i % 50];
            (a.create_post(), a.key.public())
        })
        .collect();

    // Raw k256: verify each commit's signature alone, single-threaded.
    let commit_objs: Vec<atproto::repo::Commit> = commits
        .iter()
        .map(|(e, _)| {
            let car = atproto::car::read(&e.blocks, atproto::car::CarLimits::firehose()).unwrap();
            atproto::repo::Commit::decode(&car.blocks.iter().find(|(c, _)| *c == e.commit).unwrap().1).unwrap()
        })
        .collect();
    let t = Instant::now();
    for (c, (_, key)) in commit_objs.iter().zip(&commits) {
        c.verify(key).unwrap();
    }
    let raw_rate = events as f64 / t.elapsed().as_secs_f64();
    // Full verify_commit (CAR parse, hashes, signature, inversion), single-threaded.
    let t = Instant::now();
    for (e, key) in &commits {
        atproto::firehose::verify_commit(e, key).unwrap();
    }
    let full_rate = events as f64 / t.elapsed().as_secs_f64();

    let relay = start_relay(testbed_config(&plc, &host)).await;
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        consumers.push(connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", relay.addr)).await);
    }
    for (i, (e, _)) in commits.iter().enumerate() {
        host.push(i as i64 + 1, commit_frame(i as i64 + 1, e.clone()));
    }
    let start = Instant::now();
    relay.relay.add_host(&host.hostname(), false).unwrap();
    let tasks: Vec<_> =
        consumers.into_iter().map(|mut ws| tokio::spawn(async move { read_frames(&mut ws, events, Duration::from_secs(30)).await.len() })).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), events);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rate = events as f64 / elapsed;
    let log_bytes = relay.relay.log.bytes();
    relay.relay.log.store().sync_wal().unwrap();
    let disk = dir_size(relay.dir.path());
    let seq = SubscribeReposFrame::decode(&commit_frame(1, commits[0].0.clone())).unwrap().seq();
    assert_eq!(seq, Some(1));
    println!("events: {events}, consumers: {CONSUMERS}");
    println!("raw k256 verify (1 thread): {raw_rate:.0}/s");
    println!("full verify_commit (1 thread): {full_rate:.0}/s");
    println!("relay sustained (ingest+verify+log+fan-out to {CONSUMERS}): {rate:.0}/s = {:.0}% of raw k256", 100.0 * rate / raw_rate);
    println!("log bytes/event (logical): {:.0}; data dir bytes/event (WAL+SST): {:.0}", log_bytes as f64 / events as f64, disk as f64 / events as f64);
    println!("process RSS (relay + test host + consumers in one process): {} MiB", rss_kib() / 1024);
}
