//! The MST against the interop fixtures: key heights, common prefixes, and the commit-proof
//! vectors (roots before and after, proof blocks, inversion from the proof alone).

mod common;

use atproto::blockstore::MemoryBlockStore;
use atproto::mst::invert::{invert, TreeOp};
use atproto::mst::proof::Blocks;
use atproto::mst::{key, Mst};
use atproto::Cid;
use serde::Deserialize;

#[derive(Deserialize)]
struct Height {
    key: String,
    height: u32,
}

#[derive(Deserialize)]
struct Prefix {
    left: String,
    right: String,
    len: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofCase {
    comment: String,
    leaf_value: String,
    keys: Vec<String>,
    adds: Vec<String>,
    dels: Vec<String>,
    root_before_commit: String,
    root_after_commit: String,
    blocks_in_proof: Vec<String>,
}

#[test]
fn key_heights() {
    let Some(cases) = common::interop_json::<Vec<Height>>("mst/key_heights.json") else { return };
    assert!(!cases.is_empty());
    for c in cases {
        assert_eq!(key::height(c.key.as_bytes()), c.height, "{:?}", c.key);
    }
}

#[test]
fn common_prefixes() {
    let Some(cases) = common::interop_json::<Vec<Prefix>>("mst/common_prefix.json") else { return };
    assert!(!cases.is_empty());
    for c in cases {
        assert_eq!(key::common_prefix_len(c.left.as_bytes(), c.right.as_bytes()), c.len, "{:?}/{:?}", c.left, c.right);
    }
}

fn cid(s: &str) -> Cid {
    atproto::cid::parse(s).unwrap()
}

#[test]
fn commit_proofs() {
    let Some(cases) = common::interop_json::<Vec<ProofCase>>("firehose/commit-proof-fixtures.json") else { return };
    assert!(cases.len() >= 6);
    for case in cases {
        let leaf = cid(&case.leaf_value);
        let mut tree = Mst::new(MemoryBlockStore::new());
        for k in &case.keys {
            tree.add(k, leaf).unwrap();
        }
        assert_eq!(tree.root().to_string(), case.root_before_commit, "{}: root before", case.comment);
        for k in &case.adds {
            tree.add(k, leaf).unwrap();
        }
        for k in &case.dels {
            assert_eq!(tree.delete(k).unwrap(), Some(leaf));
        }
        let after = tree.root();
        assert_eq!(after.to_string(), case.root_after_commit, "{}: root after", case.comment);

        let mut proof = Blocks::new();
        for k in case.adds.iter().chain(&case.dels) {
            tree.covering_proof(k, &mut proof).unwrap();
        }
        for expected in &case.blocks_in_proof {
            assert!(proof.contains_key(&cid(expected)), "{}: proof lacks {expected}", case.comment);
        }

        // The proof alone suffices to undo the commit.
        let store: MemoryBlockStore = proof.into_iter().collect();
        let mut ops: Vec<TreeOp> = case.adds.iter().map(|k| TreeOp::Create { key: k.clone(), cid: leaf }).collect();
        ops.extend(case.dels.iter().map(|k| TreeOp::Delete { key: k.clone(), prev: leaf }));
        for order in [ops.clone(), ops.iter().rev().cloned().collect()] {
            let before = invert(&store, after, &order).unwrap();
            assert_eq!(before.to_string(), case.root_before_commit, "{}: inverted root", case.comment);
        }
    }
}

/// The 156 example keys, inserted in file order and in reverse, give the same tree.
#[test]
fn example_keys_order_independent() {
    let Some(path) = atproto::fixtures::shared_path("interop/mst/example_keys.txt") else { return };
    let text = std::fs::read_to_string(path).unwrap();
    let keys: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let leaf = cid("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454");
    let build = |keys: &mut dyn Iterator<Item = &&str>| {
        let mut t = Mst::new(MemoryBlockStore::new());
        for k in keys {
            t.add(k, leaf).unwrap();
        }
        t.root()
    };
    assert_eq!(build(&mut keys.iter()), build(&mut keys.iter().rev()));
}
