//! Downstream behaviour over real WebSockets: replay from a cursor then live with no gap or
//! duplicate, `#info OutdatedCursor` after pruning, `FutureCursor`, `ConsumerTooSlow`, and the
//! Jetstream `/subscribe` filters, cursor and compression.

mod common;

use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use atproto::repo::RecordWrite;
use common::account::*;
use common::*;

fn seqs(frames: &[Vec<u8>]) -> Vec<i64> {
    frames.iter().map(|f| SubscribeReposFrame::decode(f).unwrap().seq().unwrap_or(-1)).collect()
}

/// A relay with no hosts whose log is filled directly.
async fn bare_relay(config: relay::Config) -> TestRelay {
    start_relay(config).await
}

fn append_identity(r: &TestRelay, n: usize) {
    let a = Account::new("direct");
    for _ in 0..n {
        r.relay.log.append(relay::store::EventKind::Identity, &a.did, &identity_frame(1, a.identity()), None, None, None).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_then_live_has_no_gap_or_duplicate() {
    let r = bare_relay(relay::Config::default()).await;
    append_identity(&r, 50);
    let mut replay = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=10", r.addr)).await;
    let mut live = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", r.addr)).await;
    // The live subscriber is following the head before the racing appends start (on a loaded
    // machine its task could otherwise begin after them, with nothing left to receive).
    append_identity(&r, 1);
    assert_eq!(seqs(&read_frames(&mut live, 1, Duration::from_secs(10)).await), [51]);
    // Appends race with the replay.
    let relay = r.relay.clone();
    let writer = tokio::spawn(async move {
        let a = Account::new("direct");
        for _ in 0..150 {
            relay.log.append(relay::store::EventKind::Identity, &a.did, &identity_frame(1, a.identity()), None, None, None).unwrap();
            tokio::task::yield_now().await;
        }
    });
    let got = read_frames(&mut replay, 191, Duration::from_secs(10)).await;
    writer.await.unwrap();
    assert_eq!(seqs(&got), (11..=201).collect::<Vec<_>>());
    let got_live = read_frames(&mut live, 150, Duration::from_secs(10)).await;
    assert_eq!(seqs(&got_live), (52..=201).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outdated_and_future_cursors() {
    let r = bare_relay(relay::Config { max_log_bytes: 0, ..Default::default() }).await;
    append_identity(&r, 10);
    let per_event = r.relay.log.bytes() / 10;
    // Keep 4 events: cap the size, prune.
    let r2 = {
        let retention = relay::log::Retention { window: Duration::from_secs(3600), max_bytes: per_event * 4 };
        r.relay.log.prune(retention).unwrap();
        &r
    };
    assert_eq!(r2.relay.log.first(), 7);
    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=2", r.addr)).await;
    let got = read_frames(&mut ws, 5, Duration::from_secs(5)).await;
    match SubscribeReposFrame::decode(&got[0]).unwrap() {
        SubscribeReposFrame::Info(i) => assert_eq!(i.name, "OutdatedCursor"),
        other => panic!("{other:?}"),
    }
    assert_eq!(seqs(&got[1..]), vec![7, 8, 9, 10]);

    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=11", r.addr)).await;
    let got = read_frames(&mut ws, 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "one error frame, then the socket closes");
    match SubscribeReposFrame::decode(&got[0]).unwrap() {
        SubscribeReposFrame::Error(e) => assert_eq!(e.error, "FutureCursor"),
        other => panic!("{other:?}"),
    }
    // The head itself is a valid cursor: nothing to replay, then live.
    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=10", r.addr)).await;
    append_identity(&r, 1);
    assert_eq!(seqs(&read_frames(&mut ws, 1, Duration::from_secs(5)).await), vec![11]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_consumer_gets_consumer_too_slow() {
    let r = bare_relay(relay::Config { max_consumer_lag: 20, ..Default::default() }).await;
    append_identity(&r, 100);
    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", r.addr)).await;
    let got = read_frames(&mut ws, 200, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    match SubscribeReposFrame::decode(&got[0]).unwrap() {
        SubscribeReposFrame::Error(e) => assert_eq!(e.error, "ConsumerTooSlow"),
        other => panic!("{other:?}"),
    }
    // A consumer that stops reading does not hold up the others.
    let mut stalled = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=95", r.addr)).await;
    let mut fine = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=95", r.addr)).await;
    let reader = tokio::spawn(async move { read_frames(&mut fine, 5 + 15, Duration::from_secs(5)).await.len() });
    append_identity(&r, 15);
    assert_eq!(reader.await.unwrap(), 20);
    let _ = &mut stalled;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_filters_cursor_and_compression() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("jeta");
    let mut b = Account::new("jetb");
    plc.set(&a.did, &a.doc("https://pds.test"));
    plc.set(&b.did, &b.doc("https://pds.test"));
    let r = start_relay(testbed_config(&plc, &host)).await;
    let like = |a: &mut Account, n: usize| {
        let w = RecordWrite::Create {
            collection: "app.bsky.feed.like".into(),
            rkey: format!("3l{n:011}"),
            record: atproto::json::from_json(&serde_json::json!({"$type": "app.bsky.feed.like", "createdAt": TIME, "subject": {"uri": "at://did:plc:x/app.bsky.feed.post/1", "cid": "bafyreiftot7eltsc3f6g4qktykmbv6jcmdmhcx5osscan6jpdxkpqcmcza"}})).unwrap(),
        };
        a.apply(&[w])
    };
    host.push(1, commit_frame(1, a.create_post()));
    host.push(2, commit_frame(2, like(&mut a, 1)));
    host.push(3, commit_frame(3, b.create_post()));
    host.push(4, commit_frame(4, like(&mut b, 2)));
    host.push(5, identity_frame(5, b.identity()));
    r.relay.add_host(&host.hostname(), false).unwrap();
    assert!(wait_until(Duration::from_secs(10), || r.relay.log.head() == 5).await);

    let text = |v: Vec<Vec<u8>>| v.into_iter().map(|l| serde_json::from_slice::<serde_json::Value>(&l).unwrap()).collect::<Vec<_>>();
    let mut ws = connect(&format!("ws://{}/subscribe?cursor=0&wantedCollections=app.bsky.feed.like", r.addr)).await;
    let got = text(read_frames(&mut ws, 3, Duration::from_secs(5)).await);
    assert_eq!(got.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["commit", "commit", "identity"]);
    assert!(got[..2].iter().all(|e| e["commit"]["collection"] == "app.bsky.feed.like" && e["commit"]["operation"] == "create"));
    assert_eq!(got[0]["commit"]["record"]["subject"]["uri"], "at://did:plc:x/app.bsky.feed.post/1");

    let mut ws = connect(&format!("ws://{}/subscribe?cursor=0&wantedCollections=app.bsky.feed.*&wantedDids={}", r.addr, a.did)).await;
    let got = text(read_frames(&mut ws, 3, Duration::from_millis(1500)).await);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|e| e["did"] == a.did.as_str()));

    // Cursor in µs: start at the third event.
    let mut all = connect(&format!("ws://{}/subscribe?cursor=0", r.addr)).await;
    let all = text(read_frames(&mut all, 5, Duration::from_secs(5)).await);
    let t3 = all[2]["time_us"].as_u64().unwrap();
    let mut ws = connect(&format!("ws://{}/subscribe?cursor={t3}&compress=true", r.addr)).await;
    let got = read_frames(&mut ws, 3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    let first: serde_json::Value = serde_json::from_slice(&zstd::decode_all(&got[0][..]).unwrap()).unwrap();
    assert_eq!(first, all[2]);
}
