//! Crash safety: the `pds` binary is killed with SIGKILL while concurrent clients write, 20
//! times; after each restart every acknowledged write is present (this round's read back
//! record by record, every round's in the verified repository), and the firehose continues
//! from the last event seen before with no sequence gap or duplicate, every commit verifying
//! and every acknowledged write having its `#commit`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atproto::firehose::{verify_commit, SubscribeReposFrame};
use common::{launch, read_firehose, signing_key, verify_repo, Auth};
use serde_json::json;

/// `kill -9`s, each after [`WRITING`] of writes by 8 concurrent clients.
const ROUNDS: usize = 20;
const WRITING: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let common::Binary { vars, log, client, mut child, dir: _dir, plc: _plc } = common::binary("warn").await;
    let account = client.account("crash", None).await;
    let did = account["did"].as_str().unwrap().to_string();
    let key = signing_key(&account["didDoc"]);
    let token = account["accessJwt"].as_str().unwrap().to_string();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let (mut checked, mut last_seq) = (0, 0i64);
    let mut created = std::collections::HashSet::new();

    for round in 0..ROUNDS {
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
        tokio::time::sleep(WRITING).await;
        child.kill().await.unwrap(); // SIGKILL
        for w in writers {
            w.await.unwrap();
        }
        child = launch(&vars, &log, "warn").await;

        let acked_now = acked.lock().unwrap().clone();
        assert!(acked_now.len() > checked + 10, "only {} writes acknowledged in round {round}", acked_now.len() - checked);
        for (rkey, text) in &acked_now[checked..] {
            let rec = client.get("com.atproto.repo.getRecord", Auth::None, &[("repo", &did), ("collection", "app.bsky.feed.post"), ("rkey", rkey)]).await.ok();
            assert_eq!(rec["value"]["text"], text.as_str());
        }
        checked = acked_now.len();
        let records: std::collections::HashSet<String> =
            verify_repo(&client, &did, &key).await.into_iter().map(|(path, _)| path.rsplit('/').next().unwrap().to_string()).collect();
        for (rkey, _) in &acked_now {
            assert!(records.contains(rkey), "round {round}: acknowledged write {rkey} is in the repository");
        }

        let frames = read_firehose(&client.base, Some(last_seq), 500).await;
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.seq(), Some(last_seq + i as i64 + 1), "round {round}: no gap or duplicate");
            if let SubscribeReposFrame::Commit(e) = f {
                verify_commit(e, &key).unwrap();
                for op in &e.ops {
                    created.insert(op.path.rsplit('/').next().unwrap().to_string());
                }
            }
        }
        last_seq += frames.len() as i64;
        for (rkey, _) in &acked_now {
            assert!(created.contains(rkey), "acknowledged write {rkey} has its #commit");
        }
        eprintln!("round {round}: {} acknowledged writes, {last_seq} events", acked_now.len());
    }
    child.kill().await.unwrap();
}
