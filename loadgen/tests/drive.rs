//! `drive` against the project's own PDS: the `pds` binary (built beside `loadgen` by
//! `cargo test --workspace`) with its PLC directory, as two processes on 127.0.0.1. The run
//! reports exactly the writes it was asked for; every surviving record is readable
//! afterwards and deleted ones are gone; the PDS's firehose carries one `#commit` per write.
//!
//! Outside CI the test is skipped with a notice when the `pds` binary has not been built
//! (e.g. `cargo test -p loadgen` alone); under CI (`CI=true`) that is a failure.

use std::time::Duration;

use futures::StreamExt;
use loadgen::drive::{drive, DriveOptions, ImageSizes, Loop};
use loadgen::model::TrafficModel;
use testbed::services::{self, PdsOptions};
use testbed::{Binaries, Service};

/// A PLC directory and a PDS, killed when dropped.
struct Pds {
    url: String,
    _plc: Service,
    _pds: Service,
    _dir: tempfile::TempDir,
}

/// The PDS and PLC binaries beside this test's loadgen, or `None` (skip) when not built.
fn binaries() -> Option<Binaries> {
    testbed::sibling_binary(env!("CARGO_BIN_EXE_loadgen"), "pds").map(|pds| Binaries::beside(&pds))
}

async fn start_pds(bins: &Binaries) -> Pds {
    let dir = tempfile::tempdir().unwrap();
    let plc = services::plc(bins, &dir.path().join("plc"), &dir.path().join("plc.log")).await.unwrap();
    let pds = services::pds(bins, &PdsOptions::new(dir.path().join("pds"), plc.url(), dir.path().join("pds.log"))).await.unwrap();
    Pds { url: pds.url(), _plc: plc, _pds: pds, _dir: dir }
}

/// `#commit` frames on the PDS's firehose from the beginning.
async fn commits_on_firehose(url: &str) -> usize {
    let ws = url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0";
    let (mut stream, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
    let mut commits = 0;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = msg {
            if let Ok(atproto::firehose::SubscribeReposFrame::Commit(_)) = atproto::firehose::SubscribeReposFrame::decode(&bytes) {
                commits += 1;
            }
        }
    }
    commits
}

fn options(pds: &str, load: Loop) -> DriveOptions {
    DriveOptions {
        pds: pds.parse().unwrap(),
        create_accounts: 8,
        existing: vec![],
        invite_code: None,
        load,
        writes: Some(600),
        duration: None,
        image_fraction: 0.5,
        images: ImageSizes::new(2_000, 0.5, 8_000).unwrap(),
        create_concurrency: 4,
        seed: 5,
        check: true,
        // More deletes and updates than production so a short run exercises every call.
        model: TrafficModel { ops: loadgen::model::OpMix { create: 70.0, delete: 20.0, update: 10.0 }, ..TrafficModel::default() },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_writes_land_in_the_pds() {
    let Some(bins) = binaries() else { return };
    let pds = start_pds(&bins).await;
    let f = drive(options(&pds.url, Loop::Closed { concurrency: 8 }), &indicatif::ProgressBar::hidden()).await.unwrap();
    assert_eq!(f.accounts, 8);
    assert_eq!((f.writes_ok, f.writes_failed), (600, 0), "{:?}", f.errors);
    for op in ["createRecord", "deleteRecord", "putRecord", "uploadBlob"] {
        assert!(f.by_op[op].count > 0, "{op} never ran");
    }
    let check = f.check.unwrap();
    assert_eq!((check.missing, check.still_present), (0, 0));
    assert!(check.deleted_records > 0 && check.live_records > 0);
    assert_eq!(commits_on_firehose(&pds.url).await, 600, "one #commit per acknowledged write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_keeps_its_rate() {
    let Some(bins) = binaries() else { return };
    let pds = start_pds(&bins).await;
    let mut opts = options(&pds.url, Loop::Open { rate: 100.0, max_in_flight: 16 });
    opts.writes = Some(200);
    opts.check = false;
    let f = drive(opts, &indicatif::ProgressBar::hidden()).await.unwrap();
    assert_eq!((f.writes_ok, f.writes_failed), (200, 0), "{:?}", f.errors);
    // Poisson arrivals at 100/s: 200 writes take about 2 s (generously bounded, a noisy machine).
    assert!((1.0..8.0).contains(&f.elapsed_s), "200 writes at 100/s took {}s", f.elapsed_s);
    // Without accounts the run is refused.
    let mut opts = options(&pds.url, Loop::Closed { concurrency: 2 });
    opts.create_accounts = 0;
    assert!(drive(opts, &indicatif::ProgressBar::hidden()).await.is_err(), "no accounts is an error");
}
