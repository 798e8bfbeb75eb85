//! Covering proofs: the MST nodes that show a key's value (or its absence) together with its
//! neighbours on both sides, so that a consumer holding only these blocks can check an
//! operation and undo it (Sync 1.1). The rules follow the reference implementation's
//! `proofForKey`, `proofForLeftSib` and `proofForRightSib`, over a node's interleaved view of
//! subtrees and leaves.

use std::collections::BTreeMap;

use ::cid::Cid;
use bytes::Bytes;

use super::node::Node;
use super::{Mst, MstError};
use crate::blockstore::BlockStore;

/// A block set keyed by CID.
pub type Blocks = BTreeMap<Cid, Bytes>;

#[derive(Clone, Copy)]
enum Item {
    /// A subtree, by slot index.
    Tree(usize),
    /// A leaf, by entry index.
    Leaf(usize),
}

fn items(node: &Node) -> Vec<Item> {
    let mut out = Vec::with_capacity(node.entries.len() * 2 + 1);
    for i in 0..=node.entries.len() {
        if node.slot(i).is_some() {
            out.push(Item::Tree(i));
        }
        if i < node.entries.len() {
            out.push(Item::Leaf(i));
        }
    }
    out
}

/// Index in `items` of the first leaf whose key is `>= key`, or `items.len()`.
fn gte(node: &Node, items: &[Item], key: &str) -> usize {
    items.iter().position(|it| matches!(it, Item::Leaf(e) if node.entries[*e].key.as_str() >= key)).unwrap_or(items.len())
}

fn add(node: &Node, out: &mut Blocks) {
    let cid = node.cid.expect("proofs are taken after the root is computed");
    out.entry(cid).or_insert_with(|| node.encode().into());
}

fn descend<'a>(store: &impl BlockStore, node: &'a mut Node, slot: usize) -> Result<&'a mut Node, MstError> {
    let layer = node.child_layer()?;
    node.slot_mut(slot).as_mut().expect("slot holds a subtree").load_mut(store, layer)
}

fn for_key(store: &impl BlockStore, node: &mut Node, key: &str, out: &mut Blocks) -> Result<bool, MstError> {
    let it = items(node);
    let i = gte(node, &it, key);
    let found = matches!(it.get(i), Some(Item::Leaf(e)) if node.entries[*e].key == key);
    if !found {
        match i.checked_sub(1).map(|j| it[j]) {
            Some(Item::Tree(slot)) => {
                for_key(store, descend(store, node, slot)?, key, out)?;
            }
            _ => return Ok(false),
        }
    }
    add(node, out);
    Ok(true)
}

fn for_left_sibling(store: &impl BlockStore, node: &mut Node, key: &str, out: &mut Blocks) -> Result<(), MstError> {
    let it = items(node);
    let i = gte(node, &it, key);
    if let Some(Item::Tree(slot)) = i.checked_sub(1).map(|j| it[j]) {
        for_left_sibling(store, descend(store, node, slot)?, key, out)?;
    }
    add(node, out);
    Ok(())
}

fn for_right_sibling(store: &impl BlockStore, node: &mut Node, key: &str, out: &mut Blocks) -> Result<(), MstError> {
    let it = items(node);
    let i = gte(node, &it, key);
    let found = it.get(i).or_else(|| i.checked_sub(1).map(|j| &it[j])).copied();
    let next = match found {
        Some(Item::Tree(slot)) => Some(slot),
        Some(Item::Leaf(e)) => {
            let neighbour = if node.entries[e].key == key { it.get(i + 1) } else { i.checked_sub(1).map(|j| &it[j]) };
            match neighbour {
                Some(Item::Tree(slot)) => Some(*slot),
                _ => None,
            }
        }
        None => None,
    };
    if let Some(slot) = next {
        for_right_sibling(store, descend(store, node, slot)?, key, out)?;
    }
    add(node, out);
    Ok(())
}

impl<S: BlockStore> Mst<S> {
    /// Adds to `out` the covering proof for `key` in the current tree.
    pub fn covering_proof(&mut self, key: &str, out: &mut Blocks) -> Result<(), MstError> {
        self.root();
        for_key(&self.store, &mut self.root, key, out)?;
        for_left_sibling(&self.store, &mut self.root, key, out)?;
        for_right_sibling(&self.store, &mut self.root, key, out)?;
        Ok(())
    }

    /// The nodes on the path from the root to `key` (or to where it would be): what
    /// `com.atproto.sync.getRecord` returns to prove a record's presence or absence.
    pub fn path_proof(&mut self, key: &str, out: &mut Blocks) -> Result<(), MstError> {
        self.root();
        let store = &self.store;
        let mut node = &mut *self.root;
        loop {
            add(node, out);
            let Err(i) = node.search(key) else { return Ok(()) };
            if node.slot(i).is_none() {
                return Ok(());
            }
            node = descend(store, node, i)?;
        }
    }
}
