//! A full disk: the PDS's data and blob directories on a small tmpfs that the test fills. Below
//! `PDS_DISK_MIN_FREE_BYTES` every kind of write is refused with `503 NotEnoughResources`,
//! nothing of it is applied (the repository's commit, its records and the firehose are as
//! before), and once space is freed writes are taken again by the same process.

mod common;

use common::{signing_key, verify_repo, Auth};
use serde_json::{json, Value};
use testbed::disk::SmallDisk;

const FLOOR: u64 = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_every_write_whole_and_writes_resume_when_space_returns() {
    let Some(disk) = SmallDisk::mount(160 << 20) else { return };
    let data = disk.path().join("pds").display().to_string();
    let blobs = disk.path().join("blobs").display().to_string();
    let floor = FLOOR.to_string();
    let env = common::start(&[
        ("PDS_DATA_DIRECTORY", &data),
        ("PDS_BLOBSTORE_DISK_LOCATION", &blobs),
        ("PDS_DISK_MIN_FREE_BYTES", &floor),
        ("PDS_INVITE_REQUIRED", "false"),
    ])
    .await;
    let c = &env.client;
    let account = c.account("full", None).await;
    let did = account["did"].as_str().unwrap().to_string();
    let token = account["accessJwt"].as_str().unwrap().to_string();
    let key = signing_key(&account["didDoc"]);
    let kept = c.post_text(&token, &did, "written before the disk filled").await;
    let rkey = kept["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let before = latest(c, &did).await;
    let seq_before = head_seq(c).await;

    disk.fill_leaving(FLOOR / 2);
    let post = json!({"$type": "app.bsky.feed.post", "text": "refused", "createdAt": "2026-12-04T12:00:00.000Z"});
    let writes: Vec<(&str, Value)> = vec![
        ("com.atproto.repo.createRecord", json!({"repo": did, "collection": "app.bsky.feed.post", "record": post})),
        ("com.atproto.repo.putRecord", json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": post})),
        ("com.atproto.repo.deleteRecord", json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})),
        (
            "com.atproto.repo.applyWrites",
            json!({"repo": did, "writes": [{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post}]}),
        ),
        ("app.bsky.actor.putPreferences", json!({"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": true}]})),
    ];
    for (nsid, body) in &writes {
        let refused = c.post(nsid, Auth::Bearer(&token), body.clone()).await.err(503, "NotEnoughResources");
        assert!(refused.body["message"].as_str().unwrap().contains("out of disk space"), "{nsid}: {:?}", refused.body);
    }
    let upload = c.http.post(format!("{}/xrpc/com.atproto.repo.uploadBlob", c.base)).bearer_auth(&token).header("content-type", "image/png");
    let resp = upload.try_clone().unwrap().body(vec![7u8; 4096]).send().await.unwrap();
    assert_eq!(resp.status(), 503, "{:?}", resp.text().await);
    let other = json!({"handle": "second.test", "email": "second@example.com", "password": "second-pw"});
    c.post("com.atproto.server.createAccount", Auth::None, other.clone()).await.err(503, "NotEnoughResources");

    // Nothing of the refused writes is there: same commit, same records, no event, no blob,
    // no half-made account (its DID was never created in the directory either).
    assert_eq!(latest(c, &did).await, before);
    let records = verify_repo(c, &did, &key).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(head_seq(c).await, seq_before);
    let blobs_listed = c.get("com.atproto.sync.listBlobs", Auth::None, &[("did", &did)]).await.ok();
    assert_eq!(blobs_listed["cids"], json!([]));
    c.get("com.atproto.identity.resolveHandle", Auth::None, &[("handle", "second.test")]).await.err(400, "HandleNotFound");
    let metrics = c.get_path("/metrics", None).await.text().await.unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("pds_disk_full_refusals_total") && !l.ends_with(" 0")), "{metrics}");

    // Space returns: the same process takes every kind of write again.
    disk.free_filler();
    for (nsid, body) in &writes {
        assert_eq!(c.post(nsid, Auth::Bearer(&token), body.clone()).await.status, 200, "{nsid} after space returned");
    }
    let resp = upload.body(vec![7u8; 4096]).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    c.post("com.atproto.server.createAccount", Auth::None, other).await.ok();
    assert_ne!(latest(c, &did).await, before);
    // createRecord and applyWrites each added a post; putRecord then deleteRecord took the first.
    assert_eq!(verify_repo(c, &did, &key).await.len(), 2);
    assert!(head_seq(c).await > seq_before);
}

async fn latest(c: &common::Client, did: &str) -> Value {
    c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", did)]).await.ok()
}

/// The seq of the newest event on the firehose.
async fn head_seq(c: &common::Client) -> i64 {
    common::read_firehose(&c.base, Some(0), 300).await.last().and_then(|f| f.seq()).expect("an event")
}
