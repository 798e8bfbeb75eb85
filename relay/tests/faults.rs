//! Faults from upstream are rejected and counted, never crash the relay or leak through, and
//! the valid events around them all get through: forged signatures, mutated blocks, wrong
//! `prevData`, `rev` going backwards, `seq` going backwards, a DID another host owns,
//! truncated CARs, garbage frames, error frames, mid-stream disconnects, events of inactive
//! accounts.

mod common;

use std::time::Duration;

use atproto::firehose::{ErrorFrame, SubscribeReposFrame};
use common::account::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_dropped_and_counted_valid_events_pass() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("alice");
    let mut b = Account::new("bob");
    let mut c = Account::new("carol");
    plc.set(&a.did, &a.doc("https://pds-one.test"));
    plc.set(&b.did, &b.doc("https://pds-one.test"));
    // Carol's document names a host the relay does not crawl her from.
    plc.set(&c.did, &c.doc("https://pds-other.test"));

    let mut config = testbed_config(&plc, &host);
    config.host_aliases = vec![("pds-one.test".into(), host.hostname())];
    let relay = start_relay(config).await;

    // (seq, frame) of every event that must come through, in order.
    let mut valid: Vec<Vec<u8>> = Vec::new();

    host.push_valid(1, sync_frame(1, a.first_sync()), &mut valid);
    let x = a.create_post();
    host.push(2, commit_frame(2, forged(&x)));
    host.push_valid(3, commit_frame(3, x.clone()), &mut valid);
    let y = a.create_post();
    host.push(4, commit_frame(4, mutated(&y)));
    host.push(5, commit_frame(5, wrong_prev_data(&y)));
    host.push_valid(6, commit_frame(6, y), &mut valid);
    let b1 = b.create_post();
    host.push_valid(7, commit_frame(7, b1), &mut valid);
    // A replay of an older commit: rev goes backwards.
    host.push(8, commit_frame(8, x));
    let b2 = b.create_post();
    // Upstream seq going backwards, then the same event properly sequenced.
    host.push(5, commit_frame(5, b2.clone()));
    host.push_valid(9, commit_frame(9, b2), &mut valid);
    // A DID whose document names another host.
    host.push(10, commit_frame(10, c.create_post()));
    let z = a.create_post();
    host.push(11, commit_frame(11, truncated(&z)));
    host.push_raw(b"\x00garbage\xff\xff".to_vec());
    host.push_valid(12, commit_frame(12, z), &mut valid);
    // An error frame ends the connection; the relay reconnects with cursor 12.
    host.push_raw(SubscribeReposFrame::Error(ErrorFrame { error: "InternalError".into(), message: None }).encode());
    host.push_valid(13, commit_frame(13, a.create_post()), &mut valid);
    host.push_disconnect();
    host.push_valid(14, commit_frame(14, b.create_post()), &mut valid);
    // An inactive account's commits are not forwarded; its #account events are.
    host.push_valid(15, account_frame(15, a.account(false, Some("deactivated"))), &mut valid);
    host.push(16, commit_frame(16, a.create_post()));
    host.push_valid(17, account_frame(17, a.account(true, None)), &mut valid);
    host.push_valid(18, identity_frame(18, a.identity()), &mut valid);
    host.push_valid(19, commit_frame(19, a.create_post()), &mut valid);

    relay.relay.add_host(&host.hostname(), false).unwrap();
    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", relay.addr)).await;
    let got = read_frames(&mut ws, valid.len() + 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), valid.len(), "exactly the valid events are forwarded");
    for (i, (want, got)) in valid.iter().zip(&got).enumerate() {
        assert_eq!(&relay::log::reseq_frame(want, i as u64 + 1).unwrap(), got, "event {i}");
    }

    let dropped = |reason: &'static str| {
        let addr = relay.addr;
        async move { metric(addr, "relay_events_dropped_total", &format!("reason=\"{reason}\"")).await }
    };
    assert_eq!(dropped("verify_failed").await, 4.0, "forged, mutated, wrong prevData, truncated");
    assert_eq!(dropped("rev_not_newer").await, 1.0);
    assert_eq!(dropped("seq_backwards").await, 1.0);
    assert_eq!(dropped("wrong_host").await, 1.0);
    assert_eq!(dropped("malformed").await, 1.0);
    assert_eq!(dropped("account_inactive").await, 1.0);
    assert_eq!(metric(relay.addr, "relay_upstream_error_frames_total", "").await, 1.0);
    let cursors = host.cursors.lock().unwrap().clone();
    assert_eq!(cursors, vec![None, Some(12), Some(13)], "reconnects resume from the last seq");

    // The relay's view of the accounts.
    let st: serde_json::Value =
        reqwest::get(format!("http://{}/xrpc/com.atproto.sync.getLatestCommit?did={}", relay.addr, a.did)).await.unwrap().json().await.unwrap();
    assert_eq!(st["cid"], a.repo.commit_cid.to_string());
    let resp = reqwest::get(format!("http://{}/xrpc/com.atproto.sync.getRepoStatus?did={}", relay.addr, c.did)).await.unwrap();
    assert_eq!(resp.status(), 400, "carol was never admitted");
    let list: serde_json::Value = reqwest::get(format!("http://{}/xrpc/com.atproto.sync.listRepos", relay.addr)).await.unwrap().json().await.unwrap();
    assert_eq!(list["repos"].as_array().unwrap().len(), 2);
}
