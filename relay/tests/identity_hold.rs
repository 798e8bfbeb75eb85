//! A transient identity failure holds only that account back: its events are stored as held,
//! in order, while the host's other accounts flow on; they are retried with backoff and
//! forwarded in order once the DID resolves again, even across a `kill -9` of the relay in
//! between; none is dropped and the host is not read again.

mod common;

use std::time::Duration;

use common::account::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_accounts_identity_outage_holds_only_its_events_and_they_survive_sigkill() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let (mut a, mut b) = (Account::new("heldback"), Account::new("flowson"));
    plc.set(&a.did, &a.doc("https://pds-one.test"));
    plc.set(&b.did, &b.doc("https://pds-one.test"));
    // a's DID document cannot be fetched for now: a 503 is not an answer.
    plc.statuses.lock().unwrap().insert(a.did.clone(), 503);

    // Upstream: a and b alternate, a first.
    let (mut held, mut flowing) = (vec![sync_frame(1, a.first_sync())], vec![sync_frame(2, b.first_sync())]);
    host.push(1, held[0].clone());
    host.push(2, flowing[0].clone());
    for seq in [3, 5, 7] {
        held.push(commit_frame(seq, a.create_post()));
        flowing.push(commit_frame(seq + 1, b.create_post()));
        host.push(seq, held.last().unwrap().clone());
        host.push(seq + 1, flowing.last().unwrap().clone());
    }
    let data = tempfile::tempdir().unwrap();
    let port = testbed::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = spawn_relay(port, data.path(), &plc, &host);
    wait_healthy(port).await;

    // b's events arrive while a's wait.
    let mut ws = connect(&format!("ws://{addr}/xrpc/com.atproto.sync.subscribeRepos?cursor=0")).await;
    let got = read_frames(&mut ws, flowing.len(), Duration::from_secs(10)).await;
    assert_eq!(got.len(), flowing.len());
    for (n, (want, got)) in flowing.iter().zip(&got).enumerate() {
        assert_eq!(&relay::log::reseq_frame(want, n as u64 + 1).unwrap(), got, "b's event {n}, in order");
    }
    assert!(read_frames(&mut ws, 1, Duration::from_millis(700)).await.is_empty(), "a's events are held");
    assert_eq!(metric(addr, "relay_events_held", "").await, held.len() as f64);
    assert!(metric(addr, "relay_identity_unavailable_total", "").await >= 2.0, "the first try and a retry");
    assert_eq!(host.cursors.lock().unwrap().len(), 1, "the host is not read again");

    // kill -9 while a's events are held: they are on disk, and the host's cursor is past them.
    child.kill();
    plc.statuses.lock().unwrap().remove(&a.did);
    let mut child = spawn_relay(port, data.path(), &plc, &host);
    wait_healthy(port).await;
    let mut ws = connect(&format!("ws://{addr}/xrpc/com.atproto.sync.subscribeRepos?cursor={}", flowing.len())).await;
    let got = read_frames(&mut ws, held.len(), Duration::from_secs(10)).await;
    assert_eq!(got.len(), held.len(), "every held event once the DID resolves");
    assert!(read_frames(&mut ws, 1, Duration::from_millis(500)).await.is_empty(), "and nothing else");
    for (n, (want, got)) in held.iter().zip(&got).enumerate() {
        assert_eq!(&relay::log::reseq_frame(want, (flowing.len() + n) as u64 + 1).unwrap(), got, "a's event {n}, in order");
    }
    assert_eq!(*host.cursors.lock().unwrap().last().unwrap(), Some(8), "resumed after the held events, not before them");
    assert_eq!(metric(addr, "relay_events_held", "").await, 0.0);
    assert_eq!(metric(addr, "relay_events_dropped_total", "").await, 0.0);
    assert_eq!(metric(addr, "relay_store_errors_total", "").await, 0.0);
    child.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_events_are_released_while_their_host_is_away() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("awayhost");
    plc.set(&a.did, &a.doc("https://pds-one.test"));
    plc.statuses.lock().unwrap().insert(a.did.clone(), 503);
    let held = [sync_frame(1, a.first_sync()), commit_frame(2, a.create_post())];
    for (n, frame) in held.iter().enumerate() {
        host.push(n as i64 + 1, frame.clone());
    }
    let relay = start_relay(testbed_config(&plc, &host)).await;
    relay.relay.add_host(&host.hostname(), false).unwrap();
    assert!(wait_until(Duration::from_secs(10), || relay.relay.log.store().held(&host.hostname(), None).unwrap().len() == 2).await);

    // The host goes away, then the DID resolves again: the events need nothing from the host.
    host.set_offline(true);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(relay.addr, "relay_upstream_disconnects_total", "").await < 2.0 {
        assert!(std::time::Instant::now() < deadline, "the relay never saw the host go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    plc.statuses.lock().unwrap().remove(&a.did);
    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", relay.addr)).await;
    let got = read_frames(&mut ws, held.len(), Duration::from_secs(15)).await;
    assert_eq!(got.len(), held.len(), "released while the host is away");
    for (n, (want, got)) in held.iter().zip(&got).enumerate() {
        assert_eq!(&relay::log::reseq_frame(want, n as u64 + 1).unwrap(), got, "event {n}, in order");
    }
    assert!(relay.relay.log.store().held(&host.hostname(), None).unwrap().is_empty());
}
