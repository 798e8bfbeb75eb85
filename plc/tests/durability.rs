//! The store survives a restart of the server on the same data directory.

mod common;

use atproto::plc::update;
use common::{start, start_in, Account};

#[tokio::test]
async fn restart_keeps_logs_nullification_and_sequence() {
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();
    let mut hijack = alice.state.clone();
    hijack.set_handle("hijack.test");
    let bad = update(&alice.genesis, hijack, &alice.rotation);
    t.client.submit(&alice.did, &bad).await.unwrap();
    let fix = update(&alice.genesis, alice.state.clone(), &alice.recovery);
    t.client.submit(&alice.did, &fix).await.unwrap();
    let before = t.client.get_audit_log(&alice.did).await.unwrap().unwrap();
    let doc_before = t.client.get_document(&alice.did).await.unwrap().unwrap();

    let data = t.data;
    t.server.shutdown().await.unwrap();
    let t = start_in(data).await;

    assert_eq!(t.client.get_audit_log(&alice.did).await.unwrap().unwrap(), before);
    assert_eq!(t.client.get_document(&alice.did).await.unwrap().unwrap(), doc_before);
    // Sequence numbers continue after the restart.
    let bob = Account::new("bob.test");
    t.client.submit(&bob.did, &bob.genesis).await.unwrap();
    let seqs: Vec<u64> = t.client.export(None, 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    // Validation still sees the restored log: the nullified op cannot be re-applied.
    let mut renamed = alice.state.clone();
    renamed.set_handle("alice2.test");
    let next = update(&fix, renamed, &alice.rotation);
    t.client.submit(&alice.did, &next).await.unwrap();
    assert_eq!(t.client.get_log(&alice.did).await.unwrap().unwrap().len(), 3);
    t.server.shutdown().await.unwrap();
}
