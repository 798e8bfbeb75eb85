//! The shared corpus (150 real relay frames) through the writer, checked against production
//! Jetstream's view of the same events (`expected_v1.jsonl`): every record accounted for, by
//! collection; the same frames twice change nothing; deletes and updates are exact; the
//! query layer and backlinks answer from what was indexed.
//!
//! Skips with a notice when `../shared` is absent (a failure under `CI=true`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use atproto::firehose::SubscribeReposFrame;
use indexer::ingest::{apply_batch, Input};
use indexer::query::{Query, Viewer};
use indexer::search::Search;
use indexer::store::write::Writer;
use indexer::store::Store;

const CORPUS: &str = "corpus/bsky-network-2026-07-04";

fn corpus() -> Option<(Vec<Vec<u8>>, Vec<serde_json::Value>)> {
    let present = atproto::fixtures::shared_path(CORPUS).is_some();
    if !atproto::fixtures::available(present, "the shared corpus") {
        return None;
    }
    let dir = atproto::fixtures::shared_path(CORPUS).unwrap();
    let raw = zstd::decode_all(std::fs::File::open(dir.join("frames.bin.zst")).unwrap()).unwrap();
    let frames = atproto::firehose::frame_file::split(&raw).unwrap();
    let expected = std::fs::read_to_string(dir.join("expected_v1.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Some((frames, expected))
}

fn inputs(frames: &[Vec<u8>]) -> Vec<Input> {
    frames.iter().map(|f| Input::Frame { source: 0, frame: Box::new(SubscribeReposFrame::decode(f).unwrap()) }).collect()
}

/// Records alive per collection after Jetstream's events, in order.
fn expected_counts(events: &[serde_json::Value]) -> BTreeMap<String, i64> {
    let mut live: HashMap<(String, String, String), bool> = HashMap::new();
    for e in events.iter().filter(|e| e["kind"] == "commit") {
        let c = &e["commit"];
        let key = (e["did"].as_str().unwrap().to_owned(), c["collection"].as_str().unwrap().to_owned(), c["rkey"].as_str().unwrap().to_owned());
        live.insert(key, c["operation"] != "delete");
    }
    let mut out = BTreeMap::new();
    for ((_, coll, _), alive) in live {
        if alive {
            *out.entry(coll).or_default() += 1;
        }
    }
    out
}

fn counts(store: &Store) -> BTreeMap<String, i64> {
    store.collection_counts().unwrap().into_iter().filter(|(_, n, _)| *n != 0).map(|(c, n, _)| (c, n)).collect()
}

fn invalid(store: &Store) -> i64 {
    store.collection_counts().unwrap().iter().map(|(_, _, i)| i).sum()
}

#[test]
fn every_corpus_record_is_accounted_for_by_collection_and_a_replay_changes_nothing() {
    let Some((frames, expected)) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut writer = Writer::new(store.clone()).unwrap();
    let sources = vec!["corpus".to_owned()];
    apply_batch(&mut writer, &inputs(&frames), &sources).unwrap();

    let want = expected_counts(&expected);
    assert_eq!(counts(&store), want, "records by collection differ from Jetstream's");
    assert_eq!(invalid(&store), 0, "no real record is invalid");
    assert_eq!(store.cursor("corpus").unwrap(), Some(31527015471));

    // The same frames again, in one batch and then frame by frame: nothing changes.
    apply_batch(&mut writer, &inputs(&frames), &sources).unwrap();
    for f in inputs(&frames) {
        apply_batch(&mut writer, &[f], &sources).unwrap();
    }
    assert_eq!(counts(&store), want);
    let before = store.repair_counts().unwrap();
    assert!(before > 0);
    assert_eq!(counts(&store), want, "counts recomputed from the edges agree with the merged counts");
}

#[test]
fn the_query_layer_and_backlinks_answer_from_the_corpus() {
    let Some((frames, expected)) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let search = Arc::new(Search::open(&dir.path().join("search")).unwrap());
    let mut writer = Writer::new(store.clone()).unwrap();
    apply_batch(&mut writer, &inputs(&frames), &["corpus".to_owned()]).unwrap();
    let q = Query { store: store.clone(), search };

    // Each like in the window is a backlink of its subject and counted on it.
    let mut likes: HashMap<String, i64> = HashMap::new();
    for e in expected.iter().filter(|e| e["kind"] == "commit" && e["commit"]["collection"] == "app.bsky.feed.like" && e["commit"]["operation"] == "create") {
        *likes.entry(e["commit"]["record"]["subject"]["uri"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(!likes.is_empty());
    for (subject, n) in &likes {
        assert_eq!(q.links_count(subject, "app.bsky.feed.like", ".subject.uri").unwrap(), *n as u64, "{subject}");
        let (page, total) = q.links(subject, "app.bsky.feed.like", ".subject.uri", &[], None, 100).unwrap();
        assert_eq!((page.items.len() as u64, total), (*n as u64, *n as u64));
    }

    // A post in the window has a view with its record and author.
    let post =
        expected.iter().find(|e| e["kind"] == "commit" && e["commit"]["collection"] == "app.bsky.feed.post" && e["commit"]["operation"] == "create").unwrap();
    let uri = format!("at://{}/app.bsky.feed.post/{}", post["did"].as_str().unwrap(), post["commit"]["rkey"].as_str().unwrap());
    let views = q.posts(Viewer(None), std::slice::from_ref(&uri)).unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].record, post["commit"]["record"]);
    assert_eq!(views[0].cid, post["commit"]["cid"].as_str().unwrap());
    let profile = q.profile(Viewer(None), post["did"].as_str().unwrap()).unwrap();
    assert!(profile.posts_count >= 1);
}

#[test]
fn indexer_ingest_streams_a_frame_file_and_stats_counts_it() {
    let Some((_, expected)) = corpus() else { return };
    let file = atproto::fixtures::shared_path(CORPUS).unwrap().join("frames.bin.zst");
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_indexer");
    let out = std::process::Command::new(bin).args(["ingest", "--json", "--data"]).arg(dir.path()).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = expected_counts(&expected);
    assert_eq!(report["frames"], 150);
    assert_eq!(report["records"], want.values().sum::<i64>());
    let out = std::process::Command::new(bin).args(["stats", "--json", "--compact", "--data"]).arg(dir.path()).output().unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: BTreeMap<String, i64> = stats["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["records"] != 0)
        .map(|c| (c["collection"].as_str().unwrap().to_owned(), c["records"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, want);
    assert!(stats["bytes_per_record"].as_f64().unwrap() > 0.0 && stats["search_backlog"] == 0, "{stats:#}");
    // A truncated file is an error with the file's name, not a panic.
    let raw = zstd::decode_all(std::fs::File::open(&file).unwrap()).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &raw[..raw.len() - 10]).unwrap();
    let out = std::process::Command::new(bin).args(["ingest", "--data"]).arg(dir.path().join("second")).arg(&cut).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated frame"), "{}", String::from_utf8_lossy(&out.stderr));
}
