//! `POST /admin/backup` while a host streams, then a restore into a fresh data directory: the
//! restored relay's head jumps a margin past the old one (no sequence number is reused), it
//! reads the host again from the backup's cursor, and its log ends up holding every upstream
//! event exactly once, in order.

mod common;

use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use common::account::*;
use common::*;

const PASSWORD: &str = "backup-admin";

fn revs(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match SubscribeReposFrame::decode(f).unwrap() {
            SubscribeReposFrame::Commit(e) => Some(e.rev),
            SubscribeReposFrame::Sync(e) => Some(e.rev),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_relay_never_reuses_a_seq_and_reads_what_it_lost_again() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("relayback");
    plc.set(&a.did, &a.doc("https://pds-one.test"));
    let config = relay::Config { admin_password: Some(PASSWORD.into()), ..testbed_config(&plc, &host) };
    let old = start_relay(config.clone()).await;

    let mut upstream = vec![sync_frame(1, a.first_sync())];
    for seq in 2..=30 {
        upstream.push(commit_frame(seq, a.create_post()));
    }
    for (n, frame) in upstream.iter().enumerate() {
        host.push(n as i64 + 1, frame.clone());
    }
    old.relay.add_host(&host.hostname(), false).unwrap();
    assert!(wait_until(Duration::from_secs(10), || old.relay.log.head() == 30).await);

    // More events arrive while the backup is taken.
    let more: Vec<Vec<u8>> = (31..=60).map(|seq| commit_frame(seq, a.create_post())).collect();
    upstream.extend(more.iter().cloned());
    let pusher = {
        let (host, more) = (host.clone(), more);
        tokio::spawn(async move {
            for (i, frame) in more.into_iter().enumerate() {
                host.push(31 + i as i64, frame);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let client = reqwest::Client::new();
    let route = format!("http://{}/admin/backup", old.addr);
    let keep = tempfile::tempdir().unwrap();
    let backup_dir = keep.path().join("backup");
    let body = serde_json::json!({"directory": backup_dir});
    assert_eq!(client.post(&route).json(&body).send().await.unwrap().status(), 401, "admin only");
    let resp = client.post(&route).basic_auth("admin", Some(PASSWORD)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let manifest: backup::Manifest = resp.json().await.unwrap();
    pusher.await.unwrap();
    assert!(wait_until(Duration::from_secs(10), || old.relay.log.head() == 60).await);
    assert!(manifest.high_water >= 30 && manifest.high_water <= 60, "{manifest:?}");
    let again = client.post(&route).basic_auth("admin", Some(PASSWORD)).json(&body).send().await.unwrap();
    assert_eq!(again.status(), 400, "never over an existing backup");

    let data = keep.path().join("restored");
    let (_, head) = relay::backups::restore(&backup_dir, &data).unwrap();
    assert!(
        head > 60 && head >= manifest.high_water + backup::MIN_MARGIN,
        "the head jumps a margin past the backup's, beyond all the old relay published: {head}"
    );
    assert!(relay::backups::restore(&backup_dir, &data).is_err(), "never over existing data");
    drop(old); // the old relay and its data directory go

    let restored = relay::Relay::open(config, &data).unwrap();
    restored.start().unwrap();
    let addr = serve(relay::server::router(restored.clone())).await;
    let mut ws = connect(&format!("ws://{addr}/xrpc/com.atproto.sync.subscribeRepos?cursor=0")).await;
    let frames = read_frames(&mut ws, upstream.len(), Duration::from_secs(10)).await;
    assert!(read_frames(&mut ws, 1, Duration::from_millis(500)).await.is_empty(), "and nothing more");
    assert_eq!(revs(&frames), revs(&upstream), "every upstream event once, in order");
    let seqs: Vec<i64> = frames.iter().map(|f| SubscribeReposFrame::decode(f).unwrap().seq().unwrap()).collect();
    // The checkpoint holds at least the events up to the manifest's high-water mark.
    let kept = seqs.iter().position(|s| *s > head as i64).expect("events read again after the restore");
    assert!(kept as u64 >= manifest.high_water, "{kept} {manifest:?}");
    assert_eq!(seqs[..kept], (1..=kept as i64).collect::<Vec<_>>()[..], "the backup's events keep their numbers");
    assert_eq!(seqs[kept], head as i64 + 1, "the events read again are numbered from above the jump");
}
