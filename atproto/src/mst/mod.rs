//! The Merkle Search Tree (MST): the ordered key → CID map at the heart of a repository.
//!
//! Each key's layer comes from the leading zero bits of its SHA-256 ([`key::height`]); a node
//! holds the keys of one layer and points to subtrees one layer down between them, so the tree
//! shape, and its root CID, depend only on the set of keys and values. Nodes are read lazily
//! from a [`BlockStore`] and only the edited path is re-encoded.
//!
//! Besides get/insert/delete and ordered listing this module owns [`diff`] between two roots,
//! [`proof`] (the blocks that prove a key's presence or absence, Sync 1.1 "covering proofs")
//! and [`invert`] (undoing a commit's operations on its partial tree to recover `prevData`).

pub mod diff;
pub mod invert;
pub mod key;
mod node;
pub mod proof;

use ::cid::Cid;
use bytes::Bytes;

use crate::blockstore::{BlockStore, BlockStoreError};
use node::{Entry, Node, Sub};

#[derive(Debug, thiserror::Error)]
/// CIDs in the variants are text: an error carries them to be read, and `Cid`s would make
/// every `Result` of the tree larger.
pub enum MstError {
    #[error(transparent)]
    Store(#[from] BlockStoreError),
    #[error("MST node {cid} does not decode: {reason}")]
    Decode { cid: String, reason: String },
    #[error("invalid MST key {0:?}")]
    InvalidKey(String),
    #[error("malformed MST: {0}")]
    Corrupt(String),
    #[error("key {0:?} is already in the tree")]
    KeyExists(String),
    #[error("key {0:?} is not in the tree")]
    KeyNotFound(String),
    #[error("key {key:?} holds {found:?}, expected {expected:?}")]
    ValueMismatch { key: String, expected: Option<String>, found: Option<String> },
}

/// A Merkle Search Tree over a block store, edited in memory.
///
/// Edits are cheap; [`Mst::root`] re-encodes the edited nodes and queues their blocks, which
/// [`Mst::take_new_blocks`] hands over for storage. The blocks of nodes the edits replaced are
/// collected too ([`Mst::take_removed`]), so a store can drop what the tree no longer uses.
pub struct Mst<S> {
    store: S,
    root: Box<Node>,
    new_blocks: Vec<(Cid, Bytes)>,
    /// CIDs of stored nodes that edits changed or removed.
    removed: Vec<Cid>,
}

impl<S: BlockStore> Mst<S> {
    /// An empty tree.
    pub fn new(store: S) -> Self {
        Mst { store, root: Box::new(Node::empty(0)), new_blocks: Vec::new(), removed: Vec::new() }
    }

    /// The tree whose root node is `root` in `store`.
    pub fn load(store: S, root: Cid) -> Result<Self, MstError> {
        let mut node = Node::load(&store, &root, None)?;
        if node.entries.is_empty() {
            node.layer = match &mut node.left {
                None => 0,
                // A root with only a subtree is not canonical, but a partial tree may have one.
                Some(sub) => resolve_layer(&store, sub)? + 1,
            };
        }
        Ok(Mst { store, root: Box::new(node), new_blocks: Vec::new(), removed: Vec::new() })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The root CID, encoding any edited nodes.
    pub fn root(&mut self) -> Cid {
        let before = self.new_blocks.len();
        let root = self.root.ensure_cid(&mut self.new_blocks);
        // An edit can restore a node's earlier content (add a key, then delete it): that
        // block is in use again.
        let encoded = &self.new_blocks[before..];
        if !self.removed.is_empty() && !encoded.is_empty() {
            self.removed.retain(|c| !encoded.iter().any(|(n, _)| n == c));
        }
        root
    }

    /// The blocks encoded since the last call (new and edited nodes), for storage.
    pub fn take_new_blocks(&mut self) -> Vec<(Cid, Bytes)> {
        std::mem::take(&mut self.new_blocks)
    }

    /// The stored nodes that edits since the last call replaced or removed, as of the last
    /// [`Mst::root`]: blocks the current tree no longer uses.
    pub fn take_removed(&mut self) -> Vec<Cid> {
        std::mem::take(&mut self.removed)
    }

    /// Forgets decoded nodes below the root, to bound memory; they are read from the store
    /// again when needed. Every node must match a block the store holds: call after
    /// [`Mst::root`], once the new blocks are stored.
    pub fn unload(&mut self) {
        self.root();
        for i in 0..=self.root.entries.len() {
            let slot = self.root.slot_mut(i);
            if let Some(Sub::Loaded(node)) = slot {
                let cid = node.cid.expect("encoded by root()");
                *slot = Some(Sub::Stored(cid));
            }
        }
    }

    /// The value at `key`.
    pub fn get(&mut self, key: &str) -> Result<Option<Cid>, MstError> {
        let mut node = &mut *self.root;
        loop {
            match node.search(key) {
                Ok(i) => return Ok(Some(node.entries[i].value)),
                Err(i) => {
                    if node.layer == 0 {
                        return Ok(None);
                    }
                    let layer = node.layer - 1;
                    match node.slot_mut(i) {
                        None => return Ok(None),
                        Some(sub) => node = sub.load_mut(&self.store, layer)?,
                    }
                }
            }
        }
    }

    /// Sets `key` to `value`, returning the previous value.
    pub fn insert(&mut self, key: &str, value: Cid) -> Result<Option<Cid>, MstError> {
        if !key::is_valid(key) {
            return Err(MstError::InvalidKey(key.into()));
        }
        let h = key::height(key.as_bytes());
        let removed = &mut self.removed;
        if self.root.is_empty() {
            self.root.touch(removed);
            *self.root = Node::empty(h);
        }
        if h > self.root.layer {
            // The key sits above the current root: split the whole tree around it.
            let old = std::mem::replace(&mut self.root, Box::new(Node::empty(h)));
            let old_layer = old.layer;
            let (mut left, mut right) = split(&self.store, removed, Some(Sub::Loaded(old)), key, old_layer)?;
            for layer in old_layer + 1..h {
                left = left.map(|s| wrap(s, layer));
                right = right.map(|s| wrap(s, layer));
            }
            self.root.left = left;
            self.root.entries.push(Entry { key: key.into(), value, right });
            return Ok(None);
        }
        insert_at(&self.store, removed, &mut self.root, key, h, value)
    }

    /// Adds a key that must not exist yet.
    pub fn add(&mut self, key: &str, value: Cid) -> Result<(), MstError> {
        match self.get(key)? {
            Some(_) => Err(MstError::KeyExists(key.into())),
            None => self.insert(key, value).map(|_| ()),
        }
    }

    /// Changes the value of a key that must exist, returning the old value.
    pub fn update(&mut self, key: &str, value: Cid) -> Result<Cid, MstError> {
        match self.get(key)? {
            None => Err(MstError::KeyNotFound(key.into())),
            Some(_) => Ok(self.insert(key, value)?.expect("key present")),
        }
    }

    /// Removes a key, returning its value (`None` if it was absent).
    pub fn delete(&mut self, key: &str) -> Result<Option<Cid>, MstError> {
        let h = key::height(key.as_bytes());
        if h > self.root.layer {
            return Ok(None);
        }
        let removed = delete_at(&self.store, &mut self.removed, &mut self.root, key, h)?;
        // Drop root levels left holding nothing but a subtree.
        while self.root.entries.is_empty() {
            let Some(sub) = self.root.left.take() else {
                self.root.layer = 0;
                break;
            };
            self.root.touch(&mut self.removed);
            let layer = self.root.child_layer()?;
            self.root = sub.into_node(&self.store, layer)?;
        }
        Ok(removed)
    }

    /// Every key and value, in key order.
    pub fn entries(&mut self) -> Result<Vec<(String, Cid)>, MstError> {
        let mut out = Vec::new();
        collect(&self.store, &mut self.root, &mut out)?;
        Ok(out)
    }
}

/// Wraps a subtree in a node of `layer` that holds nothing else.
fn wrap(sub: Sub, layer: u32) -> Sub {
    let mut node = Node::empty(layer);
    node.left = Some(sub);
    Sub::Loaded(Box::new(node))
}

fn non_empty(node: Box<Node>) -> Option<Sub> {
    (!node.is_empty()).then_some(Sub::Loaded(node))
}

/// Layer of a subtree whose parent's layer is unknown (a root without entries).
fn resolve_layer(store: &impl BlockStore, sub: &mut Sub) -> Result<u32, MstError> {
    if let Sub::Stored(cid) = sub {
        let mut node = Node::load(store, cid, None)?;
        if node.entries.is_empty() {
            node.layer = match &mut node.left {
                None => return Err(MstError::Corrupt(format!("empty inner node {cid}"))),
                Some(child) => resolve_layer(store, child)? + 1,
            };
        }
        *sub = Sub::Loaded(Box::new(node));
    }
    match sub {
        Sub::Loaded(node) => Ok(node.layer),
        Sub::Stored(_) => unreachable!(),
    }
}

fn insert_at(store: &impl BlockStore, removed: &mut Vec<Cid>, node: &mut Node, key: &str, h: u32, value: Cid) -> Result<Option<Cid>, MstError> {
    let i = match node.search(key) {
        Ok(i) => {
            let old = std::mem::replace(&mut node.entries[i].value, value);
            if old != value {
                node.touch(removed);
            }
            return Ok(Some(old));
        }
        Err(i) => i,
    };
    if h == node.layer {
        let gap = node.slot_mut(i).take();
        let (left, right) = match gap {
            None => (None, None),
            gap => split(store, removed, gap, key, node.child_layer()?)?,
        };
        *node.slot_mut(i) = left;
        node.entries.insert(i, Entry { key: key.into(), value, right });
        node.touch(removed);
        return Ok(None);
    }
    let layer = node.child_layer()?;
    let slot = node.slot_mut(i);
    let child = slot.get_or_insert_with(|| Sub::Loaded(Box::new(Node::empty(layer))));
    let old = insert_at(store, removed, child.load_mut(store, layer)?, key, h, value)?;
    if old != Some(value) {
        node.touch(removed);
    }
    Ok(old)
}

/// Splits a subtree of `layer` into the parts before and after `key` (which it must not hold).
fn split(store: &impl BlockStore, removed: &mut Vec<Cid>, sub: Option<Sub>, key: &str, layer: u32) -> Result<(Option<Sub>, Option<Sub>), MstError> {
    let Some(sub) = sub else { return Ok((None, None)) };
    let mut node = sub.into_node(store, layer)?;
    let i = node.search(key).err().ok_or_else(|| MstError::KeyExists(key.into()))?;
    let right_entries = node.entries.split_off(i);
    let gap = node.slot_mut(i).take();
    let (gap_left, gap_right) = match gap {
        None => (None, None),
        gap => split(store, removed, gap, key, node.child_layer()?)?,
    };
    *node.slot_mut(i) = gap_left;
    node.touch(removed);
    let right = Box::new(Node { layer, left: gap_right, entries: right_entries, cid: None });
    Ok((non_empty(node), non_empty(right)))
}

fn delete_at(store: &impl BlockStore, removed: &mut Vec<Cid>, node: &mut Node, key: &str, h: u32) -> Result<Option<Cid>, MstError> {
    match node.search(key) {
        Ok(i) => {
            let entry = node.entries.remove(i);
            let left = node.slot_mut(i).take();
            let merged = match node.layer {
                0 => None,
                l => merge(store, removed, left, entry.right, l - 1)?,
            };
            *node.slot_mut(i) = merged;
            node.touch(removed);
            Ok(Some(entry.value))
        }
        Err(_) if h >= node.layer => Ok(None),
        Err(i) => {
            let layer = node.child_layer()?;
            let Some(sub) = node.slot_mut(i) else { return Ok(None) };
            let child = sub.load_mut(store, layer)?;
            let value = delete_at(store, removed, child, key, h)?;
            if value.is_some() {
                if child.is_empty() {
                    *node.slot_mut(i) = None;
                }
                node.touch(removed);
            }
            Ok(value)
        }
    }
}

/// Joins two adjacent subtrees of `layer` (every key of `a` below every key of `b`).
fn merge(store: &impl BlockStore, removed: &mut Vec<Cid>, a: Option<Sub>, b: Option<Sub>, layer: u32) -> Result<Option<Sub>, MstError> {
    let (a, b) = match (a, b) {
        (None, x) | (x, None) => return Ok(x),
        (Some(a), Some(b)) => (a.into_node(store, layer)?, b.into_node(store, layer)?),
    };
    let (mut a, mut b) = (a, b);
    let last = a.entries.len();
    let a_edge = a.slot_mut(last).take();
    let b_edge = b.left.take();
    let middle = match (a_edge, b_edge) {
        (None, None) => None,
        (x, y) => merge(store, removed, x, y, a.child_layer()?)?,
    };
    *a.slot_mut(last) = middle;
    a.entries.append(&mut b.entries);
    a.touch(removed);
    b.touch(removed);
    Ok(Some(Sub::Loaded(a)))
}

fn collect(store: &impl BlockStore, node: &mut Node, out: &mut Vec<(String, Cid)>) -> Result<(), MstError> {
    let child_layer = node.layer.saturating_sub(1);
    for i in 0..=node.entries.len() {
        if let Some(sub) = node.slot_mut(i) {
            collect(store, sub.load_mut(store, child_layer)?, out)?;
        }
        if let Some(e) = node.entries.get(i) {
            out.push((e.key.clone(), e.value));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
