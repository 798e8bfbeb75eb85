//! Write throughput: 100 accounts, 32 concurrent clients doing `createRecord` over loopback
//! HTTP for a fixed time; prints writes/s, p50/p99 latency, RSS and bytes on disk per 1,000
//! posts. Ignored by default (it measures, it does not assert targets):
//! `cargo test -p pds --test bench -- --ignored --nocapture`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    dir_bytes(&e.path())
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn create_record_throughput() {
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false"), ("PDS_RATE_LIMIT_CREATE_ACCOUNT", "0")]).await;
    let c = env.client.clone();
    let idle_rss = rss_kb();
    let mut accounts = Vec::new();
    for i in 0..100 {
        let a = c.account(&format!("bench{i:03}"), None).await;
        accounts.push((
            a["did"].as_str().unwrap().to_string(),
            a["accessJwt"].as_str().unwrap().to_string(),
        ));
    }
    let disk_before = dir_bytes(&env.dir.path().join("pds"));
    let hist = Arc::new(Mutex::new(hdrhistogram::Histogram::<u64>::new(3).unwrap()));
    let stop = Arc::new(AtomicBool::new(false));
    let duration = Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (c, hist, stop, accounts) = (c.clone(), hist.clone(), stop.clone(), accounts.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let (did, token) = &accounts[i % accounts.len()];
                i += 32;
                let body = json!({"repo": did, "collection": "app.bsky.feed.post",
                    "record": {"$type": "app.bsky.feed.post", "text": format!("benchmark post {w} {n}"), "createdAt": "2026-11-21T12:00:00.000Z"}});
                let t = Instant::now();
                let resp = c.http.post(format!("{}/xrpc/com.atproto.repo.createRecord", c.base)).bearer_auth(token).json(&body).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap();
                hist.lock().unwrap().record(t.elapsed().as_micros() as u64).unwrap();
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let h = hist.lock().unwrap();
    env.pds.state.store.db.flush().unwrap();
    let disk_after = dir_bytes(&env.dir.path().join("pds"));
    println!(
        "createRecord, 100 accounts, 32 clients, {secs:.1}s: {total} writes, {:.0} writes/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         RSS idle {} MB (test process incl. PLC), after {} MB; disk {:.0} KB per 1,000 posts",
        total as f64 / secs,
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.max() as f64 / 1e3,
        idle_rss / 1024,
        rss_kb() / 1024,
        (disk_after.saturating_sub(disk_before)) as f64 / 1024.0 / (total as f64 / 1000.0),
    );
    env.pds.shutdown().await;
}
