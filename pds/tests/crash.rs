//! Crash safety: the `pds` binary is killed with SIGKILL while concurrent clients write;
//! after each restart every acknowledged write is present, the repository verifies, and the
//! firehose from cursor 0 has no sequence gap or duplicate, with every commit verifying.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atproto::firehose::{verify_commit, SubscribeReposFrame};
use common::{launch, read_firehose, signing_key, verify_repo, Auth};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let common::Binary { vars, log, client, mut child, dir: _dir, plc: _plc } = common::binary("warn").await;
    let account = client.account("crash", None).await;
    let did = account["did"].as_str().unwrap().to_string();
    let key = signing_key(&account["didDoc"]);
    let token = account["accessJwt"].as_str().unwrap().to_string();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();

    for round in 0..3 {
        let mut writers = Vec::new();
        for w in 0..8 {
            let (client, did, token, acked) = (client.clone(), did.clone(), token.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let text = format!("round {round} writer {w} post {i}");
                    let body = json!({"repo": did, "collection": "app.bsky.feed.post",
                        "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-21T12:00:00.000Z"}});
                    let sent = client.http.post(format!("{}/xrpc/com.atproto.repo.createRecord", client.base)).bearer_auth(&token).json(&body).send().await;
                    let Ok(resp) = sent else { return };
                    if resp.status() != 200 {
                        return;
                    }
                    let Ok(out) = resp.json::<serde_json::Value>().await else { return };
                    let rkey = out["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
                    acked.lock().unwrap().push((rkey, text));
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        child.kill().await.unwrap(); // SIGKILL
        for w in writers {
            w.await.unwrap();
        }
        child = launch(&vars, &log, "warn").await;

        let acked_now = acked.lock().unwrap().clone();
        assert!(acked_now.len() > 10 * (round + 1), "only {} writes acknowledged", acked_now.len());
        for (rkey, text) in &acked_now {
            let rec = client.get("com.atproto.repo.getRecord", Auth::None, &[("repo", &did), ("collection", "app.bsky.feed.post"), ("rkey", rkey)]).await.ok();
            assert_eq!(rec["value"]["text"], text.as_str());
        }
        let records = verify_repo(&client, &did, &key).await;
        assert!(records.len() >= acked_now.len());

        let frames = read_firehose(&client.base, Some(0), 1500).await;
        let mut created = std::collections::HashSet::new();
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.seq(), Some(i as i64 + 1), "round {round}: no gap or duplicate");
            if let SubscribeReposFrame::Commit(e) = f {
                verify_commit(e, &key).unwrap();
                for op in &e.ops {
                    created.insert(op.path.rsplit('/').next().unwrap().to_string());
                }
            }
        }
        for (rkey, _) in &acked_now {
            assert!(created.contains(rkey), "acknowledged write {rkey} has its #commit");
        }
        eprintln!("round {round}: {} acknowledged writes, {} events", acked_now.len(), frames.len());
    }
    child.kill().await.unwrap();
}
