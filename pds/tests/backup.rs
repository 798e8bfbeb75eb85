//! `pds admin backup` under write load and `pds admin restore` into fresh directories: every
//! write acknowledged before the backup started is in the restored PDS, every repository
//! verifies, the blobs are there, and the restored firehose never reuses a sequence number the
//! old one published: it goes on far above them, with a resync (#identity, #account, #sync) for
//! every account first.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use common::{launch, read_firehose, signing_key, verify_repo, ADMIN_PASSWORD};

async fn pds_cli(vars: Option<&std::collections::HashMap<String, String>>, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pds"));
    cmd.args(args).kill_on_drop(true);
    if let Some(vars) = vars {
        cmd.env_clear().envs(vars);
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("the CLI finishes").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_with_every_acknowledged_write_and_fresh_sequence_numbers() {
    let common::Binary { vars, log: _log, client, child: _old, dir, plc: _plc } = common::binary("warn").await;
    let mut accounts = Vec::new();
    for name in ["backa", "backb"] {
        let a = client.account(name, None).await;
        accounts.push((a["did"].as_str().unwrap().to_string(), a["accessJwt"].as_str().unwrap().to_string(), signing_key(&a["didDoc"])));
    }
    let (did, token, _) = accounts[0].clone();
    let blob = vec![42u8; 3000];
    let uploaded = client.http.post(format!("{}/xrpc/com.atproto.repo.uploadBlob", client.base)).bearer_auth(&token).body(blob.clone()).send().await.unwrap();
    let blob_cid = uploaded.json::<serde_json::Value>().await.unwrap()["blob"]["ref"]["$link"].as_str().unwrap().to_string();

    // Writers on both accounts until told to stop.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, (did, token, _), acked, stop) = (client.clone(), accounts[w % 2].clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = client.post_text(&token, &did, &format!("writer {w} post {i}")).await;
                acked.lock().unwrap().push((did.clone(), out["uri"].as_str().unwrap().to_string()));
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The backup route is the admin's only.
    let route = format!("{}/admin/backup", client.base);
    let body = serde_json::json!({"directory": dir.path().join("nope")});
    assert_eq!(client.http.post(&route).json(&body).send().await.unwrap().status(), 401);
    assert_eq!(client.http.post(&route).basic_auth("admin", Some("wrong")).json(&body).send().await.unwrap().status(), 401);

    let before_backup = acked.lock().unwrap().clone();
    let backup_dir = dir.path().join("backup");
    let out = pds_cli(None, &["admin", "--url", &client.base, "--admin-password", ADMIN_PASSWORD, "backup", backup_dir.to_str().unwrap()]).await;
    assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Backup in"), "{}", String::from_utf8_lossy(&out.stdout));
    let during_backup = acked.lock().unwrap().len() - before_backup.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let old_events = read_firehose(&client.base, Some(0), 500).await;
    let old_head = old_events.last().and_then(|f| f.seq()).unwrap();

    // Restore into fresh directories, on another port.
    let port = common::free_port();
    let mut restored_vars = vars.clone();
    restored_vars.insert("PDS_PORT".into(), port.to_string());
    restored_vars.insert("PDS_HOSTNAME".into(), format!("localhost:{port}"));
    restored_vars.insert("PDS_DATA_DIRECTORY".into(), dir.path().join("restored").display().to_string());
    restored_vars.insert("PDS_BLOBSTORE_DISK_LOCATION".into(), dir.path().join("restored-blobs").display().to_string());
    let out = pds_cli(Some(&restored_vars), &["admin", "restore", backup_dir.to_str().unwrap()]).await;
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
    // Never over existing data.
    let again = pds_cli(Some(&restored_vars), &["admin", "restore", backup_dir.to_str().unwrap()]).await;
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("not empty"), "{again:?}");

    let log = dir.path().join("restored.log");
    let _restored = launch(&restored_vars, &log, "warn").await;
    let c = common::Client::new(&format!("http://127.0.0.1:{port}"));
    let mut present = std::collections::HashSet::new();
    for (did, _, key) in &accounts {
        for (path, _) in verify_repo(&c, did, key).await {
            present.insert(format!("at://{did}/{path}"));
        }
    }
    let missing: Vec<_> = before_backup.iter().filter(|(_, uri)| !present.contains(uri)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged writes missing, e.g. {:?}", missing.len(), before_backup.len(), missing.first());
    let (status, _, bytes) = c.get_bytes("com.atproto.sync.getBlob", &[("did", &did), ("cid", &blob_cid)]).await;
    assert_eq!((status, bytes), (200, blob));

    // The restored firehose: its new events all lie above everything the old one published,
    // starting with a resync of each account, and new writes follow them.
    let events = read_firehose(&c.base, Some(0), 500).await;
    let fresh: Vec<&SubscribeReposFrame> = events.iter().filter(|f| f.seq().unwrap() > old_head).collect();
    let first = fresh.first().unwrap().seq().unwrap();
    assert!(first > old_head && first > backup::MIN_MARGIN as i64, "the sequence jumps a margin past the backup, beyond the old head {old_head}: {first}");
    assert!(events.iter().all(|f| f.seq().unwrap() <= old_head || f.seq().unwrap() >= first), "nothing between");
    let kinds = |f: &&SubscribeReposFrame| match f {
        SubscribeReposFrame::Identity(e) => Some(("identity", e.did.clone())),
        SubscribeReposFrame::Account(e) => Some(("account", e.did.clone())),
        SubscribeReposFrame::Sync(e) => Some(("sync", e.did.clone())),
        _ => None,
    };
    let resync: std::collections::HashSet<_> = fresh.iter().filter_map(kinds).collect();
    for (did, _, _) in &accounts {
        for kind in ["identity", "account", "sync"] {
            assert!(resync.contains(&(kind, did.clone())), "a #{kind} for {did} after the restore");
        }
    }
    // The restored PDS has its own hostname, so sessions start anew, with the same password.
    let session =
        c.post("com.atproto.server.createSession", common::Auth::None, serde_json::json!({"identifier": "backb.test", "password": "backb-pw"})).await.ok();
    c.post_text(session["accessJwt"].as_str().unwrap(), &accounts[1].0, "after the restore").await;
    let newest = read_firehose(&c.base, fresh.last().unwrap().seq(), 500).await;
    assert!(matches!(newest.as_slice(), [SubscribeReposFrame::Commit(e)] if e.seq > fresh.last().unwrap().seq().unwrap()), "{newest:?}");
    println!(
        "backup: {} writes acknowledged before it, {during_backup} while it ran; old head {old_head}, restored firehose resumed at {}",
        before_backup.len(),
        fresh[0].seq().unwrap()
    );
}
