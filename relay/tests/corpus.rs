//! The real network corpus played to the relay by a test host, with the DID documents served
//! by a test PLC directory: every frame is accepted and forwarded with its body unchanged but
//! for `seq`, and the Jetstream output matches production Jetstream's `expected_v1.jsonl`
//! event for event.
//!
//! The DID documents name the real PDS hosts (`*.host.bsky.network`); the relay runs in
//! testbed mode with the host alias `* → <test host>`, so those names count as the test host.
//! The corpus has one `#identity`/`#account` pair for a DID with no commit (so no document in
//! `did_docs.json`); the test PLC serves a generated document for it naming a PDS host.

mod common;

use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_is_accepted_and_forwarded_unchanged() {
    let (Some(frames), Some(mut docs)) = (corpus_frames(), corpus_did_docs()) else { return };
    assert_eq!(frames.len(), 150);
    // DIDs with events but no commit get a document naming a PDS host (any key: they sign nothing).
    for f in &frames {
        let did = match SubscribeReposFrame::decode(f).unwrap() {
            SubscribeReposFrame::Identity(e) => e.did,
            SubscribeReposFrame::Account(e) => e.did,
            _ => continue,
        };
        docs.entry(did.clone()).or_insert_with(|| {
            let key = atproto::keys::Keypair::generate(atproto::keys::KeyType::K256).public();
            serde_json::to_value(atproto::did_doc::DidDocument::new_plc(&did, "someone.bsky.social", &key, "https://pds.host.bsky.network")).unwrap()
        });
    }
    let plc = TestPlc::start(docs).await;
    let host = TestHost::start().await;
    for f in &frames {
        host.push(SubscribeReposFrame::decode(f).unwrap().seq().unwrap(), f.clone());
    }
    let relay = start_relay(testbed_config(&plc, &host)).await;

    // Admission through requestCrawl (describeServer checked).
    let resp = reqwest::Client::new()
        .post(format!("http://{}/xrpc/com.atproto.sync.requestCrawl", relay.addr))
        .json(&serde_json::json!({"hostname": format!("http://{}", host.hostname())}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    let mut ws = connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", relay.addr)).await;
    let got = read_frames(&mut ws, 150, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 150, "accepted {} of 150", got.len());
    for (i, (upstream, forwarded)) in frames.iter().zip(&got).enumerate() {
        let expected = relay::log::reseq_frame(upstream, i as u64 + 1).unwrap();
        assert_eq!(&expected, forwarded, "frame {i} differs beyond seq");
        assert_eq!(SubscribeReposFrame::decode(forwarded).unwrap().seq(), Some(i as i64 + 1));
    }
    assert_eq!(metric(relay.addr, "relay_events_dropped_total", "").await, 0.0);
    assert_eq!(metric(relay.addr, "relay_events_accepted_total", "").await, 150.0);

    // Jetstream output against production Jetstream v1.
    let expected: Vec<Value> =
        std::fs::read_to_string(corpus_path("expected_v1.jsonl").unwrap()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(expected.len(), 152);
    let mut js = connect(&format!("ws://{}/subscribe?cursor=0", relay.addr)).await;
    let lines = read_frames(&mut js, 152, Duration::from_secs(10)).await;
    assert_eq!(lines.len(), 152);
    let mut last_time = 0;
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let mut got: Value = serde_json::from_slice(line).unwrap();
        let t = got["time_us"].as_u64().unwrap();
        assert!(t >= last_time);
        last_time = t;
        assert_eq!(normalize(&mut got), normalize(&mut want.clone()), "event {i}");
    }

    // Per-account state and the host's view.
    let c = frames.iter().find_map(|f| match SubscribeReposFrame::decode(f).unwrap() {
        SubscribeReposFrame::Commit(c) => Some(c),
        _ => None,
    });
    let c = c.unwrap();
    let status: Value = reqwest::get(format!("http://{}/xrpc/com.atproto.sync.getRepoStatus?did={}", relay.addr, c.repo)).await.unwrap().json().await.unwrap();
    assert_eq!(status["active"], true);
    let hs: Value =
        reqwest::get(format!("http://{}/xrpc/com.atproto.sync.getHostStatus?hostname={}", relay.addr, host.hostname())).await.unwrap().json().await.unwrap();
    assert_eq!(hs["seq"], 31527015471i64);
    assert_eq!(hs["status"], "active");
}

/// Drops what legitimately differs between relays: receipt time and upstream sequence numbers.
fn normalize(v: &mut Value) -> Value {
    let obj = v.as_object_mut().unwrap();
    obj.remove("time_us");
    for kind in ["identity", "account"] {
        if let Some(body) = obj.get_mut(kind).and_then(Value::as_object_mut) {
            body.remove("seq");
        }
    }
    v.clone()
}
