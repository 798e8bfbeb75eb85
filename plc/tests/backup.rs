//! `plc backup` while operations keep arriving, then `plc restore` into a fresh store: every
//! operation accepted before the backup is back with its sequence number, time and
//! nullification, and the next operation gets a number above everything the old directory
//! can have given out.

mod common;

use atproto::plc::update;
use common::{start, Account};
use plc::ServerBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_operation_and_jumps_the_sequence() {
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();
    let mut hijack = alice.state.clone();
    hijack.set_handle("hijack.test");
    t.client.submit(&alice.did, &update(&alice.genesis, hijack, &alice.rotation)).await.unwrap();
    // The recovery key takes the log back: the hijack is nullified.
    t.client.submit(&alice.did, &update(&alice.genesis, alice.state.clone(), &alice.recovery)).await.unwrap();
    let mut before = vec![alice.did.clone()];
    for i in 0..20 {
        let a = Account::new(&format!("before{i}.test"));
        t.client.submit(&a.did, &a.genesis).await.unwrap();
        before.push(a.did);
    }

    // Accounts keep arriving while the backup reads.
    let (url, stop) = (t.server.url(), std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = plc::PlcClient::new(&url).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                let a = Account::new(&format!("during{n}.test"));
                client.submit(&a.did, &a.genesis).await.unwrap();
                n += 1;
            }
            n
        })
    };
    let dir = t.data.path().join("backup");
    let manifest = plc::backups::backup(&t.client, &dir).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = writer.await.unwrap();
    assert!(manifest.high_water >= 23, "{manifest:?}");
    assert!(matches!(plc::backups::backup(&t.client, &dir).await, Err(plc::backups::PlcBackupError::Backup(backup::BackupError::NotEmpty(_)))));
    let old_export = t.client.export(None, 1000).await.unwrap();
    assert_eq!(old_export.len() as u64, 23 + during);

    let data = t.data.path().join("restored");
    let (restored_manifest, last_seq) = plc::backups::restore(&dir, &data).unwrap();
    assert_eq!(restored_manifest, manifest);
    assert!(last_seq >= manifest.high_water + backup::MIN_MARGIN);
    assert!(plc::backups::restore(&dir, &data).is_err(), "never over existing data");

    let server = ServerBuilder::new(&data).bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = plc::PlcClient::new(&server.url()).unwrap();
    for did in &before {
        assert_eq!(client.get_audit_log(did).await.unwrap(), t.client.get_audit_log(did).await.unwrap(), "{did}");
    }
    let restored_export = client.export(None, 1000).await.unwrap();
    assert_eq!(restored_export[..], old_export[..manifest.high_water as usize], "the same operations under the same numbers");
    let late = Account::new("late.test");
    client.submit(&late.did, &late.genesis).await.unwrap();
    let next = client.export(Some(manifest.high_water), 10).await.unwrap();
    assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), [last_seq + 1]);
    server.shutdown().await.unwrap();
    t.server.shutdown().await.unwrap();
}
