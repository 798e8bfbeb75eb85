//! Official clients against our directory. Needs a Python with the `atproto` SDK, so it is
//! ignored by default:
//!
//! ```sh
//! python3 -m venv /tmp/pyatp && /tmp/pyatp/bin/pip install atproto
//! SONDE_PYTHON=/tmp/pyatp/bin/python cargo test -p plc --test official_clients -- --ignored
//! ```

mod common;

use common::{start, Account};

#[tokio::test]
#[ignore = "needs SONDE_PYTHON pointing at a Python with the `atproto` SDK"]
async fn python_sdk_did_resolver_accepts_our_directory() {
    let python = std::env::var("SONDE_PYTHON").expect("set SONDE_PYTHON");
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/official/python_resolve.py");
    let url = t.server.url();
    let did = alice.did.clone();
    let out = tokio::process::Command::new(python)
        .args([script, url.as_str(), did.as_str(), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(data["did"], alice.did);
    assert_eq!(data["handle"], "alice.test");
    assert_eq!(data["pds"], "https://pds.test");
    assert_eq!(data["signing_key"], alice.signing.did_key());
    assert_eq!(data["missing"], serde_json::Value::Null);
    t.server.shutdown().await.unwrap();
}
