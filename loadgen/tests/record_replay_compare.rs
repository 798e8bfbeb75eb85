//! Record, replay and compare over real sockets on 127.0.0.1, with the shared network corpus:
//! a replay reproduces the corpus byte for byte, cursors select the right frames, and
//! `compare` sees exactly the events a lossy host dropped.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use loadgen::compare::{compare, CompareOptions, Source, SourceKind};
use loadgen::framefile::read_frames;
use loadgen::record::{record, RecordOptions};
use loadgen::replay::{ReplayOptions, ReplayServer, Speed};
use loadgen::resolve::Resolver;
use loadgen::subscribe::{stream_url, SUBSCRIBE_REPOS};

fn corpus(file: &str) -> Option<PathBuf> {
    atproto::fixtures::shared_path(&format!("corpus/bsky-network-2026-07-04/{file}"))
}

async fn replay(frames: Vec<Vec<u8>>, speed: Speed, drop_every: Option<u64>) -> ReplayServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ReplayServer::start(listener, frames, ReplayOptions { speed, drop_every }).unwrap()
}

async fn record_from(server: &ReplayServer, cursor: Option<i64>, max_events: Option<u64>, out: PathBuf) -> Vec<Vec<u8>> {
    let opts = RecordOptions {
        url: stream_url(&server.url(), SUBSCRIBE_REPOS).unwrap(),
        cursor,
        duration: Some(Duration::from_secs(20)),
        max_events,
        out: out.clone(),
        idle: None,
        jetstream: false,
    };
    let figures = record(&opts, &indicatif::ProgressBar::hidden()).await.unwrap();
    let frames = read_frames(&out).unwrap();
    assert_eq!(figures.frames as usize, frames.len());
    frames
}

fn seq(frame: &[u8]) -> i64 {
    SubscribeReposFrame::decode(frame).unwrap().seq().unwrap()
}

#[tokio::test]
async fn replay_of_the_corpus_records_back_byte_for_byte() {
    let Some(path) = corpus("frames.bin.zst") else { return };
    let frames = read_frames(&path).unwrap();
    assert_eq!(frames.len(), 150);
    let server = replay(frames.clone(), Speed::Max, None).await;
    let dir = tempfile::tempdir().unwrap();

    let all = record_from(&server, None, Some(frames.len() as u64), dir.path().join("all.zst")).await;
    assert!(all == frames, "recorded frames differ from the corpus");

    // A cursor resumes after that seq.
    let cursor = seq(&frames[99]);
    let tail = record_from(&server, Some(cursor), Some(50), dir.path().join("tail.zst")).await;
    assert!(tail == frames[100..], "cursor replay differs");

    // A cursor beyond the end gets FutureCursor and a closed stream.
    let future = record_from(&server, Some(seq(&frames[149]) + 10), None, dir.path().join("future.zst")).await;
    assert_eq!(future.len(), 1);
    match SubscribeReposFrame::decode(&future[0]).unwrap() {
        SubscribeReposFrame::Error(e) => assert_eq!(e.error, "FutureCursor"),
        other => panic!("expected an error frame, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn paced_replay_follows_event_times() {
    let Some(path) = corpus("frames.bin.zst") else { return };
    let frames = read_frames(&path).unwrap();
    let time = |f: &[u8]| {
        let frame = SubscribeReposFrame::decode(f).unwrap();
        loadgen::util::rfc3339_millis(&loadgen::replay::frame_time(&frame).unwrap()).unwrap()
    };
    let span_ms = (time(&frames[149]) - time(&frames[0])) as f64;
    // Pick a factor that makes the whole corpus take about a second.
    let factor = (span_ms / 1000.0).max(1.0);
    let server = replay(frames.clone(), Speed::Factor(factor), None).await;
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let got = record_from(&server, None, Some(150), dir.path().join("paced.zst")).await;
    let took = started.elapsed().as_secs_f64();
    assert!(got == frames);
    let expected = span_ms / factor / 1000.0;
    assert!(took >= expected * 0.9, "took {took}s, expected about {expected}s");
    server.shutdown().await;
}

#[tokio::test]
async fn compare_reports_exactly_the_dropped_events() {
    let (Some(path), Some(docs)) = (corpus("frames.bin.zst"), corpus("did_docs.json.zst")) else { return };
    let frames = read_frames(&path).unwrap();
    let full = replay(frames.clone(), Speed::Max, None).await;
    let lossy = replay(frames.clone(), Speed::Max, Some(10)).await;
    let mut resolver = Resolver::new(None, false).unwrap();
    resolver.load_file(&docs).unwrap();
    let source =
        |name: &str, server: &ReplayServer| Source { name: name.into(), url: stream_url(&server.url(), SUBSCRIBE_REPOS).unwrap(), kind: SourceKind::Firehose };
    let opts = CompareOptions { sources: vec![source("full", &full), source("lossy", &lossy)], duration: Duration::from_secs(5), cursor: None };
    let figures = compare(&opts, Some(Arc::new(resolver)), Arc::new(AtomicU64::new(0))).await;
    full.shutdown().await;
    lossy.shutdown().await;

    let commits = frames.iter().filter(|f| matches!(SubscribeReposFrame::decode(f), Ok(SubscribeReposFrame::Commit(_)))).count() as u64;
    let dropped = (frames.len() / 10) as u64;
    assert_eq!(figures.union_events, frames.len() as u64);
    let (a, b) = (&figures.sources[0], &figures.sources[1]);
    assert_eq!((a.unique_events, a.missed), (150, 0));
    assert_eq!((b.unique_events, b.missed), (150 - dropped, dropped));
    assert!((a.coverage - 1.0).abs() < 1e-12);
    assert!((b.coverage - 0.9).abs() < 1e-12);
    // The lossy host's gaps: every dropped frame except the very last one is followed by another.
    assert_eq!((a.seq_gaps, b.seq_gaps, b.seq_skipped), (0, dropped - 1, dropped - 1));
    // Every corpus commit verifies against its DID document.
    let va = a.verify.as_ref().unwrap();
    assert_eq!((va.verified, va.failed, va.unresolved), (commits, 0, 0), "{:?}", va.failures);
    assert_eq!(a.reconnects + b.reconnects, 0);
    assert!(a.lag.p50_ms.is_some() && a.lag.p99_ms >= a.lag.p50_ms);
    let table = loadgen::compare::table(&figures);
    assert!(table.contains("lossy") && table.contains("90.00%"), "{table}");
}

/// Signing keys can come from a PLC directory (`GET {plc}/{did}`) instead of a file.
#[tokio::test]
async fn compare_resolves_keys_from_a_plc_directory() {
    use axum::extract::{Path, State};
    use std::collections::HashMap;
    let (Some(path), Some(docs)) = (corpus("frames.bin.zst"), corpus("did_docs.json.zst")) else { return };
    let docs: HashMap<String, serde_json::Value> = serde_json::from_slice(&zstd::decode_all(std::fs::File::open(docs).unwrap()).unwrap()).unwrap();
    let docs = Arc::new(docs);
    async fn doc(
        State(docs): State<Arc<HashMap<String, serde_json::Value>>>,
        Path(did): Path<String>,
    ) -> Result<axum::Json<serde_json::Value>, axum::http::StatusCode> {
        docs.get(&did).cloned().map(axum::Json).ok_or(axum::http::StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new().route("/{did}", axum::routing::get(doc)).with_state(docs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plc: url::Url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let frames = read_frames(&path).unwrap();
    let host = replay(frames.clone(), Speed::Max, None).await;
    let source = Source { name: "host".into(), url: stream_url(&host.url(), SUBSCRIBE_REPOS).unwrap(), kind: SourceKind::Firehose };
    let opts = CompareOptions { sources: vec![source], duration: Duration::from_secs(4), cursor: None };
    let figures = compare(&opts, Some(Arc::new(Resolver::new(Some(plc), false).unwrap())), Arc::new(AtomicU64::new(0))).await;
    host.shutdown().await;
    let commits = frames.iter().filter(|f| matches!(SubscribeReposFrame::decode(f), Ok(SubscribeReposFrame::Commit(_)))).count() as u64;
    let v = figures.sources[0].verify.as_ref().unwrap();
    assert_eq!((v.verified, v.failed, v.unresolved), (commits, 0, 0), "{:?}", v.failures);
}
