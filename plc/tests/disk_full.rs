//! A full disk under the directory: below the floor an operation is refused with 503 and not
//! stored (the DID stays unknown, the sequence does not move); once space is freed the same
//! server takes it.

mod common;

use common::Account;
use plc::{ClientError, PlcClient, ServerBuilder};
use testbed::disk::SmallDisk;

const FLOOR: u64 = 16 << 20;

#[tokio::test]
async fn a_full_disk_refuses_operations_and_they_are_taken_when_space_returns() {
    let Some(disk) = SmallDisk::mount(160 << 20) else { return };
    let server = ServerBuilder::new(disk.path().join("plc")).min_free_bytes(FLOOR).bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = PlcClient::new(&server.url()).unwrap();
    let alice = Account::new("alice.test");
    client.submit(&alice.did, &alice.genesis).await.unwrap();

    disk.fill_leaving(FLOOR / 2);
    let bob = Account::new("bob.test");
    match client.submit(&bob.did, &bob.genesis).await {
        Err(ClientError::Status { status: 503, message }) => assert!(message.contains("out of disk space"), "{message}"),
        other => panic!("expected a 503, got {other:?}"),
    }
    assert_eq!(client.get_document(&bob.did).await.unwrap(), None, "nothing was stored");
    assert_eq!(client.export(None, 100).await.unwrap().len(), 1);

    disk.free_filler();
    client.submit(&bob.did, &bob.genesis).await.unwrap();
    assert!(client.get_document(&bob.did).await.unwrap().is_some());
    let seqs: Vec<u64> = client.export(None, 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2], "the refused operation took no sequence number");
    server.shutdown().await.unwrap();
}
