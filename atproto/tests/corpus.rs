//! The real network corpus (`../shared/corpus/bsky-network-2026-07-04`): every frame decodes,
//! every `#commit` verifies against its DID document (signature and inversion), mutated
//! copies fail, and the repository CAR matches the pinned listing and commit.

mod common;

use atproto::car::CarLimits;
use atproto::firehose::{verify_commit, CommitEvent, SubscribeReposFrame, VerifyError};
use atproto::repo::Repo;

fn commits() -> Option<Vec<CommitEvent>> {
    let frames = common::corpus_frames()?;
    Some(
        frames
            .iter()
            .filter_map(|f| match SubscribeReposFrame::decode(f).unwrap() {
                SubscribeReposFrame::Commit(c) => Some(c),
                _ => None,
            })
            .collect(),
    )
}

#[test]
fn every_frame_decodes_and_reencodes_identically() {
    let Some(frames) = common::corpus_frames() else { return };
    assert_eq!(frames.len(), 150);
    let mut kinds = std::collections::BTreeMap::new();
    let mut seqs = Vec::new();
    for bytes in &frames {
        let frame = SubscribeReposFrame::decode(bytes).unwrap();
        *kinds.entry(frame.kind().unwrap().to_string()).or_insert(0) += 1;
        seqs.push(frame.seq().unwrap());
        assert_eq!(&frame.encode(), bytes, "{:?} re-encodes differently", frame.kind());
    }
    assert_eq!(kinds["#commit"], 148);
    assert_eq!(kinds["#identity"], 1);
    assert_eq!(kinds["#account"], 1);
    assert_eq!(seqs.first(), Some(&31527015322));
    assert_eq!(seqs.last(), Some(&31527015471));
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn every_commit_verifies() {
    let (Some(commits), Some(docs)) = (commits(), common::corpus_did_docs()) else { return };
    assert_eq!(commits.len(), 148);
    let (mut creates, mut updates, mut deletes) = (0, 0, 0);
    for c in &commits {
        let key = docs[&c.repo].signing_key().unwrap();
        let verified = verify_commit(c, &key).unwrap_or_else(|e| panic!("seq {}: {e}", c.seq));
        assert_eq!(verified.commit.did, c.repo);
        for op in &c.ops {
            match op.action.as_str() {
                "create" => creates += 1,
                "update" => updates += 1,
                _ => deletes += 1,
            }
        }
    }
    assert_eq!((creates, updates, deletes), (144, 2, 4));
}

/// A copy of each commit with one thing changed: a record byte, the signature, an op's CID.
#[test]
fn mutated_commits_fail() {
    let (Some(commits), Some(docs)) = (commits(), common::corpus_did_docs()) else { return };
    let (mut records, mut sigs, mut ops) = (0, 0, 0);
    for c in &commits {
        let key = docs[&c.repo].signing_key().unwrap();
        let car = atproto::car::read(&c.blocks, CarLimits::firehose()).unwrap();

        // One byte of a record block: the block no longer matches its CID.
        if let Some(record_cid) = c.ops.iter().find_map(|op| op.cid) {
            let mut bad = c.clone();
            let blocks: Vec<(atproto::Cid, Vec<u8>)> = car
                .blocks
                .iter()
                .map(|(cid, b)| {
                    let mut b = b.to_vec();
                    if *cid == record_cid {
                        let last = b.len() - 1;
                        b[last] ^= 0x01;
                    }
                    (*cid, b)
                })
                .collect();
            bad.blocks = atproto::car::write(&car.roots, blocks.iter().map(|(c, b)| (c, b.as_slice())));
            assert!(verify_commit(&bad, &key).is_err(), "seq {}: record mutation accepted", c.seq);
            records += 1;
        }

        // The signature: re-encode the commit block with one signature bit flipped.
        let commit_bytes = &car.blocks.iter().find(|(cid, _)| *cid == c.commit).unwrap().1;
        let mut commit = atproto::repo::Commit::decode(commit_bytes).unwrap();
        commit.sig[10] ^= 0x80;
        let forged = commit.encode();
        let forged_cid = atproto::cid::for_cbor(&forged);
        let mut blocks: Vec<(atproto::Cid, Vec<u8>)> = car.blocks.iter().filter(|(cid, _)| *cid != c.commit).map(|(c, b)| (*c, b.to_vec())).collect();
        blocks.push((forged_cid, forged));
        let mut bad = c.clone();
        bad.commit = forged_cid;
        bad.blocks = atproto::car::write(&[forged_cid], blocks.iter().map(|(c, b)| (c, b.as_slice())));
        assert!(matches!(verify_commit(&bad, &key), Err(VerifyError::Commit(_))), "seq {}: forged signature accepted", c.seq);
        sigs += 1;

        // An op's CID (or, for a delete, its prev).
        let mut bad = c.clone();
        let other = atproto::cid::for_cbor(b"\xa0");
        let op = &mut bad.ops[0];
        match op.cid {
            Some(_) => op.cid = Some(other),
            None => op.prev = Some(other),
        }
        assert!(verify_commit(&bad, &key).is_err(), "seq {}: op mutation accepted", c.seq);
        ops += 1;
    }
    assert!(records >= 140 && sigs == 148 && ops == 148, "{records} {sigs} {ops}");
}

#[test]
fn wrong_key_or_missing_prev_data_fails() {
    let (Some(commits), Some(docs)) = (commits(), common::corpus_did_docs()) else { return };
    let c = &commits[0];
    let other = docs.iter().find(|(did, _)| **did != c.repo).unwrap().1.signing_key().unwrap();
    assert!(verify_commit(c, &other).is_err());
    let key = docs[&c.repo].signing_key().unwrap();
    let mut no_prev = c.clone();
    no_prev.prev_data = None;
    assert!(matches!(verify_commit(&no_prev, &key), Err(VerifyError::MissingPrevData)));
    let mut wrong_prev = c.clone();
    wrong_prev.prev_data = Some(atproto::cid::for_cbor(b"\xa0"));
    assert!(matches!(verify_commit(&wrong_prev, &key), Err(VerifyError::PrevDataMismatch { .. })));
    let mut truncated = c.clone();
    truncated.blocks.truncate(c.blocks.len() / 2);
    assert!(matches!(verify_commit(&truncated, &key), Err(VerifyError::Car(_))));
}

#[test]
fn repo_car_matches_pinned_outputs() {
    let Some(car_path) = common::corpus_path("repo.car") else { return };
    let bytes = std::fs::read(car_path).unwrap();
    let mut repo = Repo::from_car(&bytes, CarLimits::default()).unwrap();

    let expected_commit = std::fs::read_to_string(common::corpus_path("car_expected_commit.txt").unwrap()).unwrap();
    let field =
        |name: &str| expected_commit.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(repo.commit.did, field("DID:"));
    assert_eq!(repo.commit.data.to_string(), field("Data CID:"));
    assert_eq!(repo.commit.rev, field("Revision:"));
    assert_eq!(repo.commit.version.to_string(), field("ATProto Repo Spec Version:"));
    assert_eq!(repo.commit.prev, None);

    let listing: Vec<String> = repo.records().unwrap().iter().map(|(k, v)| format!("{k}\t{v}")).collect();
    let expected = std::fs::read_to_string(common::corpus_path("car_expected_records.tsv").unwrap()).unwrap();
    let expected: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(listing, expected);

    // Every record block is present and decodes.
    for (path, _) in repo.records().unwrap() {
        assert!(repo.record(&path).unwrap().is_some(), "{path}");
    }

    // Rebuilding the tree from the records alone gives the commit's data CID.
    let mut rebuilt = atproto::mst::Mst::new(atproto::blockstore::MemoryBlockStore::new());
    for (path, cid) in repo.records().unwrap() {
        rebuilt.add(&path, cid).unwrap();
    }
    assert_eq!(rebuilt.root(), repo.commit.data);
}
