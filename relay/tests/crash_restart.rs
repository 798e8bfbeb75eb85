//! Crash and restart: the relay binary is killed with SIGKILL while a host streams commits
//! and a consumer reads; after a restart on the same data directory, the consumer resumes from
//! its last cursor and sees every event exactly once, in order, and the relay resumes the
//! host from its stored cursor.

mod common;

use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use common::account::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_then_resume_without_gap_or_duplicate() {
    const EVENTS: usize = 400;
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut accounts: Vec<Account> = (0..8).map(|i| Account::new(&format!("acct{i}"))).collect();
    for a in &accounts {
        plc.set(&a.did, &a.doc("https://pds.test"));
    }
    // Upstream frames, produced ahead of time, then fed live at a steady pace.
    let frames: Vec<Vec<u8>> = (0..EVENTS).map(|i| commit_frame(i as i64 + 1, accounts[i % 8].create_post())).collect();
    let feeder = {
        let host = host.clone();
        let frames = frames.clone();
        tokio::spawn(async move {
            for (i, f) in frames.into_iter().enumerate() {
                host.push(i as i64 + 1, f);
                if i % 4 == 3 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
        })
    };

    let data = tempfile::tempdir().unwrap();
    let port = testbed::free_port();
    let mut child = spawn_relay(port, data.path(), &plc, &host);
    wait_healthy(port).await;

    let mut received: Vec<Vec<u8>> = Vec::new();
    let mut ws = connect(&format!("ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0")).await;
    // Read part of the stream, then kill the relay mid-flight.
    received.extend(read_frames(&mut ws, EVENTS / 3, Duration::from_secs(10)).await);
    assert!(!received.is_empty());
    child.kill(); // SIGKILL
                  // Whatever was in flight to the consumer before the kill still counts as received.
    received.extend(read_frames(&mut ws, EVENTS, Duration::from_millis(500)).await);
    let killed_at = received.len();

    let mut child = spawn_relay(port, data.path(), &plc, &host);
    wait_healthy(port).await;
    let cursor = SubscribeReposFrame::decode(received.last().unwrap()).unwrap().seq().unwrap();
    let mut ws = connect(&format!("ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos?cursor={cursor}")).await;
    feeder.await.unwrap();
    received.extend(read_frames(&mut ws, EVENTS - received.len(), Duration::from_secs(20)).await);
    child.kill();

    assert!(killed_at < EVENTS, "the kill happened mid-stream");
    assert_eq!(received.len(), EVENTS, "every event exactly once");
    for (i, (got, upstream)) in received.iter().zip(&frames).enumerate() {
        assert_eq!(&relay::log::reseq_frame(upstream, i as u64 + 1).unwrap(), got, "event {i}");
    }
    // The second run resumed the host from a stored cursor rather than from scratch.
    let cursors = host.cursors.lock().unwrap().clone();
    assert_eq!(cursors[0], None);
    assert!(cursors[1..].iter().all(|c| c.is_some_and(|c| c > 0)), "{cursors:?}");
}
