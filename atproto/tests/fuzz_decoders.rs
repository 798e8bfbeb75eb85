//! Untrusted-input decoders never panic: arbitrary bytes, and mutations of real frames, fed to
//! the DAG-CBOR, CAR and firehose frame decoders (and, for frames, to `verify_commit`).
//!
//! Case counts default to one million arbitrary inputs per decoder; set `SONDE_FUZZ_CASES`
//! to change it.

mod common;

use atproto::car::CarLimits;
use atproto::firehose::{verify_commit, SubscribeReposFrame};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("SONDE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Bytes biased towards CBOR structure: valid heads are far likelier than in uniform noise.
fn cbor_ish() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0x00, 0x18, 0x19, 0x1a, 0x1b, 0x20, 0x40, 0x58, 0x60, 0x61, 0x78, 0x80, 0x81, 0x9f, 0xa0, 0xa1, 0xa2, 0xbf, 0xd8, 0x2a, 0xf4, 0xf5, 0xf6, 0xfb,
            0xff, 0x01, 0x71, 0x12
        ]),
    ];
    proptest::collection::vec(byte, 0..96)
}

#[test]
fn cbor_decoder_never_panics() {
    runner(cases())
        .run(&cbor_ish(), |bytes| {
            if let Ok(v) = atproto::cbor::decode_value(&bytes) {
                // Whatever decodes is canonical: it re-encodes to the same bytes.
                prop_assert_eq!(&atproto::cbor::encode(&v).unwrap(), &bytes);
            }
            let _ = atproto::cbor::item_len(&bytes);
            Ok(())
        })
        .unwrap();
}

#[test]
fn car_decoder_never_panics() {
    // A valid header followed by noise reaches the section parser more often.
    let header = atproto::car::write(&[atproto::cid::for_cbor(b"\xa0")], std::iter::empty());
    let strategy = (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..160));
    runner(cases())
        .run(&strategy, |(with_header, tail)| {
            let mut bytes = if with_header { header.clone() } else { Vec::new() };
            bytes.extend(tail);
            let _ = atproto::car::read(&bytes, CarLimits::firehose());
            let _ = atproto::car::CarReader::new(bytes.as_slice(), CarLimits::firehose()).map(|mut r| while let Ok(Some(_)) = r.next_block() {});
            Ok(())
        })
        .unwrap();
}

#[test]
fn frame_decoder_never_panics() {
    let header = atproto::cbor::encode(&serde_json::json!({"op": 1, "t": "#commit"})).unwrap();
    let strategy = (0..3u8, cbor_ish());
    runner(cases())
        .run(&strategy, |(prefix, tail)| {
            let mut bytes = match prefix {
                0 => Vec::new(),
                1 => header.clone(),
                _ => vec![0xa1, 0x62, b'o', b'p', 0x20],
            };
            bytes.extend(tail);
            let _ = SubscribeReposFrame::decode(&bytes);
            Ok(())
        })
        .unwrap();
}

/// Real frames with bytes flipped, inserted, removed or cut: decoding and verification return
/// errors or results, never panic, and a mutation that still verifies must not have changed
/// what was signed.
#[test]
fn mutated_real_frames_never_panic() {
    let (Some(frames), Some(docs)) = (common::corpus_frames(), common::corpus_did_docs()) else { return };
    let n = (cases() / 20).max(1000);
    let strategy = (0..frames.len(), proptest::collection::vec((any::<u16>(), any::<u8>(), 0..4u8), 1..4));
    runner(n)
        .run(&strategy, |(i, edits)| {
            let mut bytes = frames[i].clone();
            for (pos, b, how) in edits {
                if bytes.is_empty() {
                    break;
                }
                let pos = pos as usize % bytes.len();
                match how {
                    0 => bytes[pos] ^= b | 1,
                    1 => bytes.insert(pos, b),
                    2 if bytes.len() > 1 => {
                        bytes.remove(pos);
                    }
                    _ => bytes.truncate(pos),
                }
            }
            if let Ok(SubscribeReposFrame::Commit(c)) = SubscribeReposFrame::decode(&bytes) {
                if let Some(key) = docs.get(&c.repo).and_then(|d| d.signing_key().ok()) {
                    if let Ok(v) = verify_commit(&c, &key) {
                        let original = match SubscribeReposFrame::decode(&frames[i]).unwrap() {
                            SubscribeReposFrame::Commit(o) => o,
                            _ => unreachable!(),
                        };
                        prop_assert_eq!(v.commit.cid(), original.commit);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
