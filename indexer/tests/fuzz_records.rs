//! Bad input never panics the indexer and never breaks its store: arbitrary bytes and
//! mutations of real records fed to the record decoders of every collection, and mutated
//! real frames fed to the writer (each is indexed, counted invalid, or skipped).
//!
//! Case counts default to 200,000 per decoder and 2,000 frames for the writer; set
//! `SONDE_FUZZ_CASES` to change the first. Mutations of real records need `../shared`.

use atproto::blockstore::BlockStore;
use atproto::car::CarLimits;
use atproto::firehose::SubscribeReposFrame;
use indexer::index;
use indexer::ingest::{apply_batch, Input};
use indexer::store::write::Writer;
use indexer::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const COLLECTIONS: &[&str] = &[
    index::PROFILE,
    index::POST,
    index::LIKE,
    index::REPOST,
    index::GENERATOR,
    index::THREADGATE,
    index::FOLLOW,
    index::BLOCK,
    index::LIST,
    index::LISTITEM,
    "com.example.other",
];

fn cases() -> u32 {
    std::env::var("SONDE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

fn cbor_ish() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0x00, 0x18, 0x20, 0x40, 0x58, 0x60, 0x61, 0x64, 0x65, 0x78, 0x80, 0x81, 0xa0, 0xa1, 0xa2, 0xa3, 0xd8, 0x2a, 0xf4, 0xf5, 0xf6
        ]),
    ];
    proptest::collection::vec(byte, 0..96)
}

fn corpus_frames() -> Option<Vec<Vec<u8>>> {
    let dir = atproto::fixtures::shared_path("corpus/bsky-network-2026-07-04");
    if !atproto::fixtures::available(dir.is_some(), "the shared corpus") {
        return None;
    }
    let raw = zstd::decode_all(std::fs::File::open(dir.unwrap().join("frames.bin.zst")).unwrap()).unwrap();
    Some(atproto::firehose::frame_file::split(&raw).unwrap())
}

/// Every record block of the corpus, with its collection.
fn corpus_records(frames: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in frames {
        let Ok(SubscribeReposFrame::Commit(ev)) = SubscribeReposFrame::decode(f) else { continue };
        let blocks = atproto::car::read(&ev.blocks, CarLimits::firehose()).unwrap().into_store();
        for op in &ev.ops {
            if let (Some(cid), Some((coll, _))) = (op.cid, op.path.split_once('/')) {
                if let Ok(Some(b)) = blocks.get(&cid) {
                    out.push((coll.to_owned(), b.to_vec()));
                }
            }
        }
    }
    out
}

#[test]
fn record_decoders_never_panic_on_arbitrary_bytes() {
    runner(cases())
        .run(&(cbor_ish(), 0..COLLECTIONS.len()), |(bytes, i)| {
            let _ = index::record(COLLECTIONS[i], &bytes);
            Ok(())
        })
        .unwrap();
}

#[test]
fn record_decoders_never_panic_on_mutated_real_records() {
    let Some(frames) = corpus_frames() else { return };
    let records = corpus_records(&frames);
    assert!(records.len() > 100);
    let strategy = (0..records.len(), proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), 0..COLLECTIONS.len());
    runner(cases() / 4)
        .run(&strategy, |(i, flips, c)| {
            let (coll, mut bytes) = records[i].clone();
            // Every real record indexes as its own collection.
            prop_assert!(index::record(&coll, &bytes).is_ok(), "{coll}");
            for (at, b) in flips {
                let at = at.index(bytes.len());
                bytes[at] = b;
            }
            let _ = index::record(&coll, &bytes);
            let _ = index::record(COLLECTIONS[c], &bytes);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_writer_takes_mutated_frames_without_panicking_or_failing() {
    let Some(frames) = corpus_frames() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let writer = std::cell::RefCell::new(Writer::new(store.clone()).unwrap());
    let sources = vec!["fuzz".to_owned()];
    let strategy = (0..frames.len(), proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6));
    runner(2_000)
        .run(&strategy, |(i, flips)| {
            let mut f = frames[i].clone();
            for (at, b) in flips {
                let at = at.index(f.len());
                f[at] = b;
            }
            if let Ok(frame) = SubscribeReposFrame::decode(&f) {
                // Store errors would be ours: a mutated frame must never cause one.
                let input = Input::Frame { source: 0, frame: Box::new(frame) };
                let applied = apply_batch(&mut writer.borrow_mut(), &[input], &sources);
                prop_assert!(applied.is_ok(), "{:?}", applied.err());
            }
            Ok(())
        })
        .unwrap();
    for (coll, records, _) in store.collection_counts().unwrap() {
        assert!(records >= 0, "{coll} count went negative: {records}");
    }
}
