//! End to end with the project's own PDS: the `pds` binary (built beside `relay` by
//! `cargo test --workspace`) runs with its PLC directory and `PDS_CRAWLERS` naming the relay.
//! Its start-up `requestCrawl` makes the relay subscribe; an account's post made over XRPC
//! then appears on the relay's firehose, re-sequenced, and verifies against the signing key
//! the PLC directory publishes.
//!
//! Outside CI the test is skipped with a notice when the `pds` binary has not been built;
//! under CI (`CI=true`) that is a failure.

mod common;

use std::time::Duration;

use atproto::firehose::{verify_commit, SubscribeReposFrame};
use serde_json::{json, Value};

async fn xrpc(url: &str, method: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = reqwest::Client::new().post(format!("{url}/xrpc/{method}")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{method}: {}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_on_our_pds_reaches_the_relay_firehose_verified() {
    let Some(bin) = testbed::sibling_binary(env!("CARGO_BIN_EXE_relay"), "pds") else { return };
    let bins = testbed::Binaries::beside(&bin);
    let dir = tempfile::tempdir().unwrap();
    let plc = testbed::services::plc(&bins, &dir.path().join("plc"), &dir.path().join("plc.log")).await.unwrap();
    let plc_url = plc.url();

    let relay = common::start_relay(relay::Config {
        testbed: true,
        plc_url: plc_url.clone(),
        limits: relay::Limits { enabled: false, ..Default::default() },
        ..Default::default()
    })
    .await;
    let relay_url = format!("http://{}", relay.addr);

    let mut options = testbed::services::PdsOptions::new(dir.path().join("pds"), plc_url.clone(), dir.path().join("pds.log"));
    options.crawlers = Some(relay_url.clone());
    let pds = testbed::services::pds(&bins, &options).await.unwrap();
    let (pds_url, pds_host) = (pds.url(), pds.host());

    // The PDS's start-up requestCrawl registers it with the relay.
    let mut registered = false;
    for _ in 0..100 {
        let hosts: Value = reqwest::get(format!("{relay_url}/xrpc/com.atproto.sync.listHosts")).await.unwrap().json().await.unwrap();
        if hosts["hosts"].as_array().unwrap().iter().any(|h| h["hostname"] == pds_host.as_str()) {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(registered, "the relay never listed {pds_host}");

    let account =
        xrpc(&pds_url, "com.atproto.server.createAccount", None, json!({"handle": "alice.test", "email": "alice@example.com", "password": "alice-pw"})).await;
    let did = account["did"].as_str().unwrap().to_string();
    let token = account["accessJwt"].as_str().unwrap().to_string();
    let post = xrpc(
        &pds_url,
        "com.atproto.repo.createRecord",
        Some(&token),
        json!({"repo": did, "collection": "app.bsky.feed.post",
               "record": {"text": "hello, relay", "createdAt": "2026-11-21T12:00:00.000Z"}}),
    )
    .await;
    let path = post["uri"].as_str().unwrap().split_once(&format!("{did}/")).unwrap().1.to_string();

    // The commit arrives on the relay's firehose and verifies with the published key.
    let doc: atproto::did_doc::DidDocument = reqwest::get(format!("{plc_url}/{did}")).await.unwrap().json().await.unwrap();
    let key = doc.signing_key().unwrap();
    let mut ws = common::connect(&format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0", relay.addr)).await;
    let mut found = None;
    let mut last_seq = 0;
    // One frame at a time, until the post's commit (or 10 s with nothing new).
    while let Some(bytes) = common::read_frames(&mut ws, 1, Duration::from_secs(10)).await.pop() {
        let frame = SubscribeReposFrame::decode(&bytes).unwrap();
        let seq = frame.seq().unwrap();
        assert!(seq > last_seq, "relay sequence increases");
        last_seq = seq;
        if let SubscribeReposFrame::Commit(c) = frame {
            if c.repo == did && c.ops.iter().any(|op| op.path == path) {
                verify_commit(&c, &key).unwrap();
                found = Some(c);
                break;
            }
        }
    }
    let commit = found.expect("the post's #commit reached the relay firehose");
    assert_eq!(commit.commit.to_string(), post["commit"]["cid"].as_str().unwrap());
    let latest: Value = reqwest::get(format!("{relay_url}/xrpc/com.atproto.sync.getLatestCommit?did={did}")).await.unwrap().json().await.unwrap();
    assert_eq!(latest["rev"], post["commit"]["rev"]);
}
