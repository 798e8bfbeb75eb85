//! `importRepo` over loopback HTTP: an exported repository imported back replaces the current
//! one (re-signed here, announced with `#sync`), blobs its records need are listed by
//! `listMissingBlobs` until uploaded, and malformed or foreign CARs are refused.

mod common;

use atproto::firehose::{verify_sync, SubscribeReposFrame};
use common::{read_firehose, signing_key, verify_repo, Auth, Client};
use serde_json::{json, Value};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn import(c: &Client, token: &str, car: Vec<u8>) -> (u16, Value) {
    let resp = c
        .http
        .post(format!("{}/xrpc/com.atproto.repo.importRepo", c.base))
        .bearer_auth(token)
        .header("content-type", "application/vnd.ipld.car")
        .body(car)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn export(c: &Client, did: &str) -> Vec<u8> {
    let (status, _, car) = c.get_bytes("com.atproto.sync.getRepo", &[("did", did)]).await;
    assert_eq!(status, 200);
    car
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_restores_an_exported_repository() {
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false")]).await;
    let c = &env.client;
    let alice = c.account("alice", None).await;
    let did = alice["did"].as_str().unwrap().to_string();
    let key = signing_key(&alice["didDoc"]);
    let token = alice["accessJwt"].as_str().unwrap().to_string();
    let bob = c.account("bob", None).await;

    // A repository with posts and an image post, exported.
    let resp = c.http.post(format!("{}/xrpc/com.atproto.repo.uploadBlob", c.base)).bearer_auth(&token).body(PNG.to_vec()).send().await.unwrap();
    let blob: Value = resp.json::<Value>().await.unwrap()["blob"].clone();
    let blob_cid = blob["ref"]["$link"].as_str().unwrap().to_string();
    let image = c
        .post(
            "com.atproto.repo.createRecord",
            Auth::Bearer(&token),
            json!({"repo": did, "collection": "app.bsky.feed.post", "record": {
                "text": "pic", "createdAt": "2026-11-21T12:00:00.000Z",
                "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]}}}),
        )
        .await
        .ok();
    for i in 0..20 {
        c.post_text(&token, &did, &format!("post {i}")).await;
    }
    let exported_records = verify_repo(c, &did, &key).await;
    let car = export(c, &did).await;

    // Afterwards the image post is deleted (its blob goes with it) and another post made.
    let rkey = image["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    c.post("com.atproto.repo.deleteRecord", Auth::Bearer(&token), json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})).await.ok();
    c.post_text(&token, &did, "after the export").await;
    let before = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &did)]).await.ok();

    // Refused: garbage, someone else's repository, a CAR missing a record block, no auth.
    assert_eq!(import(c, &token, b"not a car".to_vec()).await.0, 400);
    let (status, body) = import(c, &token, export(c, bob["did"].as_str().unwrap()).await).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("InvalidRequest")), "{body}");
    let car_reader = atproto::car::read(&car, Default::default()).unwrap();
    let root = car_reader.root().unwrap();
    let (_, record_cid) = &exported_records[3];
    let partial: Vec<_> = car_reader.into_store().iter().filter(|(c, _)| *c != record_cid).map(|(c, b)| (*c, b.clone())).collect();
    let partial = atproto::car::write(&[root], partial.iter().map(|(c, b)| (c, b.as_ref())));
    let (status, body) = import(c, &token, partial).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = import(c, "not-a-token", car.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("InvalidToken")), "as the reference answers a bad JWT");
    let after_refusals = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &did)]).await.ok();
    assert_eq!(after_refusals, before, "refused imports change nothing");

    // The import restores the exported records under a new commit signed here.
    let (status, body) = import(c, &token, car).await;
    assert_eq!(status, 200, "{body}");
    let records = verify_repo(c, &did, &key).await;
    assert_eq!(records, exported_records);
    let latest = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &did)]).await.ok();
    assert!(latest["rev"].as_str().unwrap() > before["rev"].as_str().unwrap(), "rev moves forward");
    let listed = c.get("com.atproto.repo.listRecords", Auth::None, &[("repo", &did), ("collection", "app.bsky.feed.post"), ("limit", "100")]).await.ok();
    assert_eq!(listed["records"].as_array().unwrap().len(), 21, "records index rebuilt");

    // The repository reset is announced with a #sync that verifies.
    let events = read_firehose(&c.base, Some(0), 1500).await;
    let last = events.last().unwrap();
    match last {
        SubscribeReposFrame::Sync(e) => {
            assert_eq!(e.did, did);
            assert_eq!(e.rev, latest["rev"].as_str().unwrap());
            verify_sync(e, &key).unwrap();
        }
        other => panic!("expected #sync, got {other:?}"),
    }

    // The image's blob was deleted with its post: it is missing until uploaded again.
    let missing = c.get("com.atproto.repo.listMissingBlobs", Auth::Bearer(&token), &[]).await.ok();
    assert_eq!(missing["blobs"], json!([{"cid": blob_cid, "recordUri": image["uri"]}]), "{missing}");
    let (status, _, _) = c.get_bytes("com.atproto.sync.getBlob", &[("did", &did), ("cid", &blob_cid)]).await;
    assert_eq!(status, 400);
    let status = c.get("com.atproto.server.checkAccountStatus", Auth::Bearer(&token), &[]).await.ok();
    assert_eq!((status["expectedBlobs"].as_u64(), status["importedBlobs"].as_u64()), (Some(1), Some(0)));
    c.http.post(format!("{}/xrpc/com.atproto.repo.uploadBlob", c.base)).bearer_auth(&token).body(PNG.to_vec()).send().await.unwrap();
    let missing = c.get("com.atproto.repo.listMissingBlobs", Auth::Bearer(&token), &[]).await.ok();
    assert_eq!(missing["blobs"], json!([]));
    let (status, _, bytes) = c.get_bytes("com.atproto.sync.getBlob", &[("did", &did), ("cid", &blob_cid)]).await;
    assert_eq!((status, bytes.as_slice()), (200, PNG));
    let blobs = c.get("com.atproto.sync.listBlobs", Auth::None, &[("did", &did)]).await.ok();
    assert_eq!(blobs["cids"], json!([blob_cid]));

    // Writes go on from the imported state.
    c.post_text(&token, &did, "after the import").await;
    assert_eq!(verify_repo(c, &did, &key).await.len(), 22);
    env.pds.shutdown().await;
}
