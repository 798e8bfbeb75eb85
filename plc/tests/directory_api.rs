//! The directory's HTTP API over a real socket, through `PlcClient` and raw HTTP.

mod common;

use atproto::plc::{op_cid, tombstone, update, validate_audit_log, SignedOp};
use common::{start, Account};
use plc::ClientError;

#[tokio::test]
async fn create_fetch_update_and_read_back() {
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();

    let doc = t.client.get_document(&alice.did).await.unwrap().unwrap();
    assert_eq!(doc.id, alice.did);
    assert_eq!(doc.handle(), Some("alice.test"));
    assert_eq!(doc.pds_endpoint(), Some("https://pds.test"));
    assert_eq!(doc.signing_key().unwrap(), alice.signing.public());

    let data = t.client.get_data(&alice.did).await.unwrap().unwrap();
    assert_eq!(data, alice.state);

    let mut next = alice.state.clone();
    next.set_handle("alice2.test");
    let op2 = update(&alice.genesis, next.clone(), &alice.rotation);
    t.client.submit(&alice.did, &op2).await.unwrap();

    let log = t.client.get_log(&alice.did).await.unwrap().unwrap();
    assert_eq!(log, vec![alice.genesis.clone(), op2.clone()]);
    assert_eq!(t.client.get_last_op(&alice.did).await.unwrap(), Some(op2.clone()));
    let audit = t.client.get_audit_log(&alice.did).await.unwrap().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].cid, op_cid(&op2).to_string());
    assert!(audit.iter().all(|e| !e.nullified && e.did == alice.did));
    assert!(audit[0].created_at < audit[1].created_at);
    assert_eq!(validate_audit_log(&alice.did, &audit).unwrap(), Some(next));
    let doc = t.client.get_document(&alice.did).await.unwrap().unwrap();
    assert_eq!(doc.handle(), Some("alice2.test"));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_dids_are_404_with_the_directory_message() {
    let t = start().await;
    let did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    assert!(t.client.get_document(did).await.unwrap().is_none());
    assert!(t.client.get_data(did).await.unwrap().is_none());
    assert!(t.client.get_log(did).await.unwrap().is_none());
    assert!(t.client.get_audit_log(did).await.unwrap().is_none());
    assert!(t.client.get_last_op(did).await.unwrap().is_none());

    let resp = reqwest::get(format!("{}/{did}", t.server.url())).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["message"], format!("DID not registered: {did}"));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn higher_rotation_key_recovers_within_72_hours() {
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();
    // The lower-priority key (index 1) hijacks the PDS...
    let mut hijacked = alice.state.clone();
    hijacked.set_pds_endpoint("https://evil.test");
    let bad = update(&alice.genesis, hijacked, &alice.rotation);
    t.client.submit(&alice.did, &bad).await.unwrap();
    // ...and the same key cannot fork around its own op.
    let mut retry = alice.state.clone();
    retry.set_handle("other.test");
    let same_key = update(&alice.genesis, retry, &alice.rotation);
    assert!(matches!(t.client.submit(&alice.did, &same_key).await, Err(ClientError::Rejected(_))));
    // The recovery key (index 0) forks from genesis, nullifying the hijack.
    let mut recovered = alice.state.clone();
    recovered.set_handle("alice.recovered.test");
    let fix = update(&alice.genesis, recovered.clone(), &alice.recovery);
    t.client.submit(&alice.did, &fix).await.unwrap();

    let audit = t.client.get_audit_log(&alice.did).await.unwrap().unwrap();
    let flags: Vec<bool> = audit.iter().map(|e| e.nullified).collect();
    assert_eq!(flags, [false, true, false]);
    assert_eq!(audit[1].operation, bad);
    assert_eq!(validate_audit_log(&alice.did, &audit).unwrap(), Some(recovered.clone()));
    let log = t.client.get_log(&alice.did).await.unwrap().unwrap();
    assert_eq!(log, vec![alice.genesis.clone(), fix]);
    assert_eq!(t.client.get_data(&alice.did).await.unwrap(), Some(recovered));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn tombstoned_dids_are_410() {
    let t = start().await;
    let bob = Account::new("bob.test");
    t.client.submit(&bob.did, &bob.genesis).await.unwrap();
    let dead = tombstone(&bob.genesis, &bob.rotation);
    t.client.submit(&bob.did, &dead).await.unwrap();

    assert!(matches!(
        t.client.get_document(&bob.did).await,
        Err(ClientError::Tombstoned(d)) if d == bob.did
    ));
    assert!(matches!(t.client.get_data(&bob.did).await, Err(ClientError::Tombstoned(_))));
    let resp = reqwest::get(format!("{}/{}", t.server.url(), bob.did)).await.unwrap();
    assert_eq!(resp.status(), 410);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["message"], format!("DID not available: {}", bob.did));
    // The log still shows the tombstone.
    let last = t.client.get_last_op(&bob.did).await.unwrap().unwrap();
    assert!(last.is_tombstone());
    // Nothing can follow a tombstone from the same key.
    let again = update(&dead, bob.state.clone(), &bob.rotation);
    assert!(matches!(t.client.submit(&bob.did, &again).await, Err(ClientError::Rejected(_))));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_operations_are_400_with_a_message() {
    let t = start().await;
    let carol = Account::new("carol.test");
    let url = format!("{}/{}", t.server.url(), carol.did);
    let http = reqwest::Client::new();

    // Genesis signed by a key that is not a rotation key.
    let (_, forged) = atproto::plc::genesis(carol.state.clone(), &carol.signing);
    let resp = http.post(&url).json(&forged).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().len() > 5, "{body}");

    // A tampered signature.
    let mut tampered = carol.genesis.clone();
    if let SignedOp::Operation(op) = &mut tampered {
        op.also_known_as = vec!["at://mallory.test".into()];
    }
    match t.client.submit(&carol.did, &tampered).await {
        Err(ClientError::Rejected(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected rejection, got {other:?}"),
    }

    t.client.submit(&carol.did, &carol.genesis).await.unwrap();
    // Wrong prev: points at an op that is not in this DID's log.
    let other = Account::new("other.test");
    let wrong_prev = update(&other.genesis, carol.state.clone(), &carol.rotation);
    match t.client.submit(&carol.did, &wrong_prev).await {
        Err(ClientError::Rejected(msg)) => assert!(msg.contains("ordered"), "{msg}"),
        other => panic!("expected rejection, got {other:?}"),
    }
    // Resubmitting an accepted op is refused.
    assert!(matches!(t.client.submit(&carol.did, &carol.genesis).await, Err(ClientError::Rejected(_))));
    // Malformed JSON and oversized bodies.
    let resp = http.post(&url).body("{\"type\":\"nope\"}").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.json::<serde_json::Value>().await.unwrap()["message"].is_string());
    let resp = http.post(&url).body(vec![b' '; 200 * 1024]).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    // Nothing but the genesis was stored.
    assert_eq!(t.client.get_log(&carol.did).await.unwrap().unwrap().len(), 1);
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_metrics_and_export() {
    let t = start().await;
    assert_eq!(t.client.health().await.unwrap(), env!("CARGO_PKG_VERSION"));
    let a = Account::new("a.test");
    let b = Account::new("b.test");
    t.client.submit(&a.did, &a.genesis).await.unwrap();
    t.client.submit(&b.did, &b.genesis).await.unwrap();
    let op = update(&a.genesis, a.state.clone(), &a.rotation);
    t.client.submit(&a.did, &op).await.unwrap();

    let all = t.client.export(None, 10).await.unwrap();
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(all[0].entry.did, a.did);
    assert_eq!(all[1].entry.did, b.did);
    assert_eq!(all[2].entry.operation, op);
    let page = t.client.export(Some(1), 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].seq, 2);

    let metrics = reqwest::get(format!("{}/metrics", t.server.url())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("plc_http_requests_total"), "{metrics}");
    assert!(metrics.contains("plc_operations_total"), "{metrics}");
    t.server.shutdown().await.unwrap();
}
