//! End to end with the project's own PDS: the `pds` binary (built beside `relay` by
//! `cargo test --workspace`) runs with its PLC directory and `PDS_CRAWLERS` naming the relay.
//! Its start-up `requestCrawl` makes the relay subscribe; an account's post made over XRPC
//! then appears on the relay's firehose, re-sequenced, and verifies against the signing key
//! the PLC directory publishes.
//!
//! Outside CI the test is skipped with a notice when the `pds` binary has not been built;
//! under CI (`CI=true`) that is a failure.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use atproto::firehose::{verify_commit, SubscribeReposFrame};
use serde_json::{json, Value};

fn pds_binary() -> Option<PathBuf> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_relay")).with_file_name("pds");
    if bin.exists() {
        return Some(bin);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing: run `cargo test --workspace`", bin.display());
    }
    println!("skipping: {} is not built (run `cargo test --workspace`)", bin.display());
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_healthy(url: &str) {
    for _ in 0..400 {
        if reqwest::get(format!("{url}/_health")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

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
    let Some(bin) = pds_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (plc_port, pds_port) = (free_port(), free_port());
    let _plc = tokio::process::Command::new(&bin)
        .args(["plc", "serve", "--port", &plc_port.to_string(), "--data"])
        .arg(dir.path().join("plc"))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let plc_url = format!("http://127.0.0.1:{plc_port}");
    wait_healthy(&plc_url).await;

    let relay = common::start_relay(relay::Config {
        testbed: true,
        plc_url: plc_url.clone(),
        limits: relay::Limits { enabled: false, ..Default::default() },
        ..Default::default()
    })
    .await;
    let relay_url = format!("http://{}", relay.addr);

    let pds_host = format!("127.0.0.1:{pds_port}");
    let rotation: String = (0..32).map(|i| format!("{:02x}", i + 7)).collect();
    let _pds = tokio::process::Command::new(&bin)
        .args(["serve", "--bind", "127.0.0.1"])
        .env_clear()
        .envs([
            ("PDS_HOSTNAME", pds_host.clone()),
            ("PDS_PORT", pds_port.to_string()),
            ("PDS_DATA_DIRECTORY", dir.path().join("pds").display().to_string()),
            ("PDS_JWT_SECRET", "jwt".into()),
            ("PDS_ADMIN_PASSWORD", "admin".into()),
            ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", rotation),
            ("PDS_DID_PLC_URL", plc_url.clone()),
            ("PDS_SERVICE_HANDLE_DOMAINS", ".test".into()),
            ("PDS_INVITE_REQUIRED", "false".into()),
            ("PDS_DEV_MODE", "true".into()),
            ("PDS_CRAWLERS", relay_url.clone()),
            ("RUST_LOG", "warn".into()),
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pds_url = format!("http://{pds_host}");
    wait_healthy(&pds_url).await;

    // The PDS's start-up requestCrawl registers it with the relay.
    let mut registered = false;
    for _ in 0..100 {
        let hosts: Value = reqwest::get(format!("{relay_url}/xrpc/com.atproto.sync.listHosts"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if hosts["hosts"].as_array().unwrap().iter().any(|h| h["hostname"] == pds_host.as_str()) {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(registered, "the relay never listed {pds_host}");

    let account = xrpc(
        &pds_url,
        "com.atproto.server.createAccount",
        None,
        json!({"handle": "alice.test", "email": "alice@example.com", "password": "alice-pw"}),
    )
    .await;
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
    let doc: atproto::did_doc::DidDocument =
        reqwest::get(format!("{plc_url}/{did}")).await.unwrap().json().await.unwrap();
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
    let latest: Value = reqwest::get(format!("{relay_url}/xrpc/com.atproto.sync.getLatestCommit?did={did}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["rev"], post["commit"]["rev"]);
}
