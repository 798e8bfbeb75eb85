//! Shared loaders for the public test data in `../shared` (see `atproto::fixtures`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use atproto::did_doc::DidDocument;

pub const CORPUS: &str = "corpus/bsky-network-2026-07-04";

pub fn corpus_path(file: &str) -> Option<PathBuf> {
    atproto::fixtures::shared_path(&format!("{CORPUS}/{file}"))
}

/// The corpus frames: a zstd-compressed frame sequence.
pub fn corpus_frames() -> Option<Vec<Vec<u8>>> {
    let raw = zstd::decode_all(std::fs::File::open(corpus_path("frames.bin.zst")?).unwrap()).unwrap();
    Some(atproto::firehose::frame_file::split(&raw).unwrap())
}

/// DID → DID document for every account with a commit in the corpus.
pub fn corpus_did_docs() -> Option<HashMap<String, DidDocument>> {
    let raw = zstd::decode_all(std::fs::File::open(corpus_path("did_docs.json.zst")?).unwrap()).unwrap();
    Some(serde_json::from_slice(&raw).unwrap())
}

pub fn interop_json<T: serde::de::DeserializeOwned>(rel: &str) -> Option<T> {
    let path = atproto::fixtures::shared_path(&format!("interop/{rel}"))?;
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}
