//! Properties: DAG-CBOR round-trips; the MST's shape depends only on its contents; edits undo
//! cleanly; diffs and Sync 1.1 inversion agree with what was changed.

use std::collections::{BTreeMap, BTreeSet};

use atproto::blockstore::{BlockSink, MemoryBlockStore};
use atproto::firehose::{CommitEvent, RepoOp};
use atproto::mst::diff::{diff, DiffEntry};
use atproto::mst::invert::{invert, TreeOp};
use atproto::mst::proof::Blocks;
use atproto::mst::Mst;
use atproto::{Cid, Ipld};
use proptest::prelude::*;

fn ipld() -> impl Strategy<Value = Ipld> {
    let leaf = prop_oneof![
        Just(Ipld::Null),
        any::<bool>().prop_map(Ipld::Bool),
        any::<i64>().prop_map(|i| Ipld::Integer(i.into())),
        ".{0,20}".prop_map(Ipld::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Ipld::Bytes),
        any::<[u8; 8]>().prop_map(|b| Ipld::Link(atproto::cid::for_cbor(&b))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Ipld::List),
            proptest::collection::btree_map(".{0,12}", inner, 0..8).prop_map(Ipld::Map),
        ]
    })
}

fn value(i: u32) -> Cid {
    atproto::cid::for_cbor(&i.to_be_bytes())
}

/// Distinct keys shaped like repository paths.
fn keys(max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-c]{1,2}\\.[a-z]{1,3}/[a-z0-9]{1,6}", 1..max).prop_map(|s| s.into_iter().collect())
}

fn build(keys: &[String]) -> Mst<MemoryBlockStore> {
    let mut t = Mst::new(MemoryBlockStore::new());
    for (i, k) in keys.iter().enumerate() {
        t.insert(k, value(i as u32)).unwrap();
    }
    t
}

fn persist(t: &mut Mst<MemoryBlockStore>, store: &mut MemoryBlockStore) -> Cid {
    let root = t.root();
    for (cid, bytes) in t.take_new_blocks() {
        store.put(cid, bytes).unwrap();
    }
    root
}

fn commit_event() -> impl Strategy<Value = CommitEvent> {
    let cid = any::<u32>().prop_map(value);
    let op = ("[a-z]{1,8}", ".{0,40}", proptest::option::of(cid.clone()), proptest::option::of(cid.clone())).prop_map(|(action, path, cid, prev)| RepoOp {
        action,
        path,
        cid,
        prev,
    });
    let text = ".{0,30}";
    (
        (any::<i64>(), any::<bool>(), any::<bool>(), text, cid.clone(), text, proptest::option::of(text)),
        (
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(op, 0..4),
            proptest::collection::vec(cid.clone(), 0..3),
            proptest::option::of(cid),
            text,
        ),
    )
        .prop_map(|((seq, rebase, too_big, repo, commit, rev, since), (blocks, ops, blobs, prev_data, time))| CommitEvent {
            seq,
            rebase,
            too_big,
            repo,
            commit,
            rev,
            since,
            blocks,
            ops,
            blobs,
            prev_data,
            time,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hand_written_commit_encoding_matches_the_generic_one(e in commit_event()) {
        let mut fast = Vec::new();
        e.encode_into(&mut fast);
        prop_assert_eq!(&fast, &atproto::cbor::encode(&e).unwrap());
        prop_assert_eq!(atproto::cbor::decode::<CommitEvent>(&fast).unwrap(), e);
    }

    #[test]
    fn dag_cbor_roundtrips(v in ipld()) {
        let bytes = atproto::cbor::encode(&v).unwrap();
        let back = atproto::cbor::decode_value(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(atproto::cbor::encode(&back).unwrap(), bytes);
        // The JSON form maps back to the same value.
        let json = atproto::json::to_json(&v);
        if let Ok(from_json) = atproto::json::from_json(&json) {
            prop_assert_eq!(from_json, v);
        }
    }

    #[test]
    fn mst_root_is_insertion_order_independent(keys in keys(300), seed in any::<u64>()) {
        let mut shuffled: Vec<(usize, &String)> = keys.iter().enumerate().collect();
        // A seeded Fisher-Yates shuffle.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let mut a = build(&keys);
        let mut b = Mst::new(MemoryBlockStore::new());
        for (i, k) in shuffled {
            b.insert(k, value(i as u32)).unwrap();
        }
        prop_assert_eq!(a.root(), b.root());
        prop_assert_eq!(a.entries().unwrap(), b.entries().unwrap());
    }

    #[test]
    fn insert_then_delete_restores_root(keys in keys(200), extra in keys(40)) {
        let mut t = build(&keys);
        let before = t.root();
        let existing: BTreeSet<&String> = keys.iter().collect();
        let fresh: Vec<&String> = extra.iter().filter(|k| !existing.contains(k)).collect();
        for k in &fresh {
            t.insert(k, value(9999)).unwrap();
        }
        for k in &fresh {
            prop_assert_eq!(t.delete(k).unwrap(), Some(value(9999)));
        }
        prop_assert_eq!(t.root(), before);
    }

    #[test]
    fn removed_nodes_leave_exactly_the_live_tree(
        keys in keys(200),
        rounds in proptest::collection::vec((keys(12), proptest::collection::vec(any::<prop::sample::Index>(), 0..12)), 1..5),
    ) {
        // A store that starts with exactly the tree's nodes keeps exactly them when each round
        // stores the new blocks and drops the removed ones.
        let mut t = build(&keys);
        let mut store = MemoryBlockStore::new();
        persist(&mut t, &mut store);
        let mut live: BTreeMap<String, Cid> = keys.iter().enumerate().map(|(i, k)| (k.clone(), value(i as u32))).collect();
        for (r, (edits, deletes)) in rounds.iter().enumerate() {
            for d in deletes {
                let Some(k) = live.keys().nth(d.index(live.len().max(1))).cloned() else { break };
                live.remove(&k);
                prop_assert!(t.delete(&k).unwrap().is_some());
            }
            for (n, k) in edits.iter().enumerate() {
                if live.remove(k).is_some() {
                    prop_assert!(t.delete(k).unwrap().is_some());
                } else {
                    let v = value(0x4000_0000 | (r as u32) << 8 | n as u32);
                    t.insert(k, v).unwrap();
                    live.insert(k.clone(), v);
                }
            }
            // Undo the round's first edit in the same round: its nodes come back into use.
            if let Some(k) = edits.first() {
                match live.remove(k) {
                    Some(_) => { t.delete(k).unwrap(); }
                    None => { t.insert(k, value(7)).unwrap(); live.insert(k.clone(), value(7)); }
                }
            }
            persist(&mut t, &mut store);
            for cid in t.take_removed() {
                prop_assert!(store.remove(&cid).is_some(), "removed node {} was stored", cid);
            }
            let keys: Vec<String> = live.keys().cloned().collect();
            let mut fresh = Mst::new(MemoryBlockStore::new());
            for k in &keys {
                fresh.insert(k, live[k]).unwrap();
            }
            fresh.root();
            let expected: BTreeSet<Cid> = fresh.take_new_blocks().into_iter().map(|(c, _)| c).collect();
            let stored: BTreeSet<Cid> = store.iter().map(|(c, _)| *c).collect();
            prop_assert_eq!(stored, expected);
        }
        // A tree read from the store and unloaded reads and edits the same afterwards.
        let root = t.root();
        let mut u = Mst::load(store.clone(), root).unwrap();
        prop_assert_eq!(u.entries().unwrap(), live.clone().into_iter().collect::<Vec<_>>());
        u.unload();
        prop_assert_eq!(u.entries().unwrap(), live.into_iter().collect::<Vec<_>>());
        u.unload();
        u.insert("zz.z/unloaded", value(1)).unwrap();
        t.insert("zz.z/unloaded", value(1)).unwrap();
        prop_assert_eq!(u.root(), t.root());
    }

    #[test]
    fn diff_and_inversion_match_the_edits(keys in keys(200), edits in keys(20), seed in any::<u32>()) {
        let mut store = MemoryBlockStore::new();
        let mut t = build(&keys);
        let before = persist(&mut t, &mut store);
        let existing: BTreeMap<&String, Cid> =
            keys.iter().enumerate().map(|(i, k)| (k, value(i as u32))).collect();

        // Each edit key: delete it if present (or update, on odd seeds), else create it.
        let mut ops = Vec::new();
        let mut expected = Vec::new();
        for (n, k) in edits.iter().enumerate() {
            let new = value(seed.wrapping_add(n as u32) | 0x8000_0000);
            match existing.get(k) {
                Some(old) if (seed as usize + n).is_multiple_of(2) => {
                    t.delete(k).unwrap();
                    ops.push(TreeOp::Delete { key: k.clone(), prev: *old });
                    expected.push(DiffEntry { key: k.clone(), old: Some(*old), new: None });
                }
                Some(old) => {
                    t.insert(k, new).unwrap();
                    ops.push(TreeOp::Update { key: k.clone(), cid: new, prev: *old });
                    expected.push(DiffEntry { key: k.clone(), old: Some(*old), new: Some(new) });
                }
                None => {
                    t.insert(k, new).unwrap();
                    ops.push(TreeOp::Create { key: k.clone(), cid: new });
                    expected.push(DiffEntry { key: k.clone(), old: None, new: Some(new) });
                }
            }
        }
        let after = persist(&mut t, &mut store);
        expected.sort_by(|a, b| a.key.cmp(&b.key));
        prop_assert_eq!(diff(&store, Some(before), Some(after)).unwrap(), expected);

        // Covering proofs alone are enough to undo the edits, in any order.
        let mut proof = Blocks::new();
        for op in &ops {
            t.covering_proof(op.key(), &mut proof).unwrap();
        }
        let partial: MemoryBlockStore = proof.into_iter().collect();
        prop_assert_eq!(invert(&partial, after, &ops).unwrap(), before);
        ops.reverse();
        prop_assert_eq!(invert(&partial, after, &ops).unwrap(), before);
    }
}
