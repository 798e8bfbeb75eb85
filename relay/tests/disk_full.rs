//! A full disk under the relay's log: below the floor nothing is stored, no event is dropped and
//! the host's cursor stays at the last stored event; `requestCrawl` answers 503; once space is
//! freed the same relay takes up where it stopped and every event arrives once, in order.

mod common;

use std::time::Duration;

use common::account::*;
use common::*;
use testbed::disk::SmallDisk;

const FLOOR: u64 = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_pauses_ingest_without_dropping_and_it_resumes_when_space_returns() {
    let Some(disk) = SmallDisk::mount(160 << 20) else { return };
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("fulldisk");
    plc.set(&a.did, &a.doc("https://pds-one.test"));
    let config = relay::Config { disk_min_free_bytes: FLOOR, ..testbed_config(&plc, &host) };
    let relay = relay::Relay::open(config, &disk.path().join("relay")).unwrap();
    relay.start().unwrap();
    let addr = serve(relay::server::router(relay.clone())).await;

    let mut valid = vec![sync_frame(1, a.first_sync())];
    for seq in 2..=3 {
        valid.push(commit_frame(seq, a.create_post()));
    }
    for (n, frame) in valid.iter().enumerate() {
        host.push(n as i64 + 1, frame.clone());
    }
    relay.add_host(&host.hostname(), false).unwrap();
    let mut ws = connect(&format!("ws://{addr}/xrpc/com.atproto.sync.subscribeRepos?cursor=0")).await;
    assert_eq!(read_frames(&mut ws, 3, Duration::from_secs(10)).await.len(), 3, "the first events are stored");

    disk.fill_leaving(FLOOR / 2);
    for seq in 4..=6 {
        let frame = commit_frame(seq, a.create_post());
        host.push(seq, frame.clone());
        valid.push(frame);
    }
    // Each try is refused and retried from the last stored event (upstream seq 3).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(addr, "relay_store_errors_total", "").await < 2.0 {
        assert!(std::time::Instant::now() < deadline, "the full disk was never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(read_frames(&mut ws, 1, Duration::from_millis(300)).await.is_empty(), "nothing is forwarded that was not stored");
    assert_eq!(relay.log.head(), 3);
    let cursors = host.cursors.lock().unwrap().clone();
    assert!(cursors.len() >= 2 && cursors[1..].iter().all(|c| *c == Some(3)), "reconnected from the last stored event: {cursors:?}");
    assert!(metric(addr, "relay_disk_full_refusals_total", "").await >= 2.0);
    assert_eq!(metric(addr, "relay_events_dropped_total", "").await, 0.0);

    // A new host cannot be recorded either: requestCrawl says why.
    let second = TestHost::start().await;
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/xrpc/com.atproto.sync.requestCrawl"))
        .json(&serde_json::json!({"hostname": format!("http://{}", second.hostname())}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "NotEnoughResources", "{body}");

    disk.free_filler();
    let rest = read_frames(&mut ws, 4, Duration::from_secs(15)).await;
    assert_eq!(rest.len(), 3, "the waiting events arrive once space returns, and only once");
    for (i, got) in rest.iter().enumerate() {
        assert_eq!(&relay::log::reseq_frame(&valid[3 + i], 4 + i as u64).unwrap(), got, "event {}, in order", 4 + i);
    }
    assert_eq!(metric(addr, "relay_events_dropped_total", "").await, 0.0);
}
