use super::*;
use crate::blockstore::{BlockSink, MemoryBlockStore};

fn leaf() -> Cid {
    crate::cid::parse("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454").unwrap()
}

fn key(i: usize) -> String {
    format!("com.example.record/{i:08}")
}

#[test]
fn empty_tree_root() {
    let mut t = Mst::new(MemoryBlockStore::new());
    assert_eq!(t.root().to_string(), "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
}

#[test]
fn insert_get_delete_back_to_empty() {
    let mut t = Mst::new(MemoryBlockStore::new());
    let empty = t.root();
    for i in 0..500 {
        assert_eq!(t.insert(&key(i), leaf()).unwrap(), None);
    }
    for i in 0..500 {
        assert_eq!(t.get(&key(i)).unwrap(), Some(leaf()));
    }
    assert_eq!(t.get("com.example.record/missing").unwrap(), None);
    assert_eq!(t.entries().unwrap().len(), 500);
    for i in 0..500 {
        assert_eq!(t.delete(&key(i)).unwrap(), Some(leaf()), "{i}");
    }
    assert_eq!(t.root(), empty);
}

#[test]
fn reloaded_tree_matches_and_edits_identically() {
    let mut store = MemoryBlockStore::new();
    let mut t = Mst::new(MemoryBlockStore::new());
    for i in 0..300 {
        t.insert(&key(i), leaf()).unwrap();
    }
    let root = t.root();
    for (cid, bytes) in t.take_new_blocks() {
        store.put(cid, bytes).unwrap();
    }
    let mut loaded = Mst::load(&store, root).unwrap();
    assert_eq!(loaded.entries().unwrap(), t.entries().unwrap());
    assert_eq!(diff::leaves(&store, root).unwrap(), t.entries().unwrap());
    loaded.delete(&key(7)).unwrap();
    t.delete(&key(7)).unwrap();
    assert_eq!(loaded.root(), t.root());
}

#[test]
fn diff_reports_changes() {
    let mut store = MemoryBlockStore::new();
    let mut t = Mst::new(MemoryBlockStore::new());
    for i in 0..200 {
        t.insert(&key(i), leaf()).unwrap();
    }
    let before = t.root();
    let other = crate::cid::for_raw(b"x");
    t.delete(&key(3)).unwrap();
    t.insert(&key(50), other).unwrap();
    t.insert(&key(1000), leaf()).unwrap();
    let after = t.root();
    for (cid, bytes) in t.take_new_blocks() {
        store.put(cid, bytes).unwrap();
    }
    let d = diff::diff(&store, Some(before), Some(after)).unwrap();
    assert_eq!(
        d,
        vec![
            diff::DiffEntry { key: key(3), old: Some(leaf()), new: None },
            diff::DiffEntry { key: key(50), old: Some(leaf()), new: Some(other) },
            diff::DiffEntry { key: key(1000), old: None, new: Some(leaf()) },
        ]
    );
    assert_eq!(diff::diff(&store, None, Some(before)).unwrap().len(), 200);
}

#[test]
fn invalid_keys_are_refused() {
    let mut t = Mst::new(MemoryBlockStore::new());
    assert!(matches!(t.insert("no-slash", leaf()), Err(MstError::InvalidKey(_))));
    assert!(matches!(t.add(&key(1), leaf()), Ok(())));
    assert!(matches!(t.add(&key(1), leaf()), Err(MstError::KeyExists(_))));
    assert!(matches!(t.update(&key(2), leaf()), Err(MstError::KeyNotFound(_))));
}

#[test]
fn direct_node_encoding_matches_serde() {
    let mut t = Mst::new(MemoryBlockStore::new());
    for i in 0..2000 {
        t.insert(&key(i * 37), crate::cid::for_raw(&i.to_be_bytes())).unwrap();
        if i % 97 == 0 {
            t.root();
            check_encodings(&t.root);
        }
    }
    t.root();
    check_encodings(&t.root);
    assert_eq!(Node::empty(0).encode(), Node::empty(0).encode_generic());
}

fn check_encodings(node: &Node) {
    assert_eq!(node.encode(), node.encode_generic());
    for i in 0..=node.entries.len() {
        if let Some(Sub::Loaded(child)) = node.slot(i) {
            check_encodings(child);
        }
    }
}
