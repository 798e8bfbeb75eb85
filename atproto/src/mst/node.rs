//! MST nodes: the wire form `{l, e: [{p, k, v, t}]}` and the in-memory form the tree edits.
//!
//! In memory a node holds full keys and its children either as a CID still in the block store
//! or loaded. Slot `0` is the left subtree `l`; slot `i + 1` is entry `i`'s right subtree `t`.

use ::cid::Cid;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{key, MstError};
use crate::blockstore::BlockStore;
use crate::cbor::write;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeData {
    l: Option<Cid>,
    e: Vec<EntryData>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryData {
    p: u64,
    #[serde(with = "serde_bytes")]
    k: Vec<u8>,
    v: Cid,
    t: Option<Cid>,
}

/// A subtree pointer: not yet read from the store, or loaded (and possibly edited).
#[derive(Debug, Clone)]
pub(crate) enum Sub {
    Stored(Cid),
    Loaded(Box<Node>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub value: Cid,
    pub right: Option<Sub>,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub layer: u32,
    pub left: Option<Sub>,
    pub entries: Vec<Entry>,
    /// The node's CID while it matches the stored block; `None` once edited.
    pub cid: Option<Cid>,
}

impl Node {
    pub fn empty(layer: u32) -> Self {
        Node { layer, left: None, entries: Vec::new(), cid: None }
    }

    /// Marks the node edited; the block it was stored as, if any, joins `removed`.
    pub fn touch(&mut self, removed: &mut Vec<Cid>) {
        if let Some(cid) = self.cid.take() {
            removed.push(cid);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.left.is_none()
    }

    /// `Ok(i)` if entry `i` has `key`, else `Err(i)`: the key belongs in slot `i`.
    pub fn search(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key.as_str().cmp(key))
    }

    pub fn slot(&self, i: usize) -> &Option<Sub> {
        if i == 0 {
            &self.left
        } else {
            &self.entries[i - 1].right
        }
    }

    pub fn slot_mut(&mut self, i: usize) -> &mut Option<Sub> {
        if i == 0 {
            &mut self.left
        } else {
            &mut self.entries[i - 1].right
        }
    }

    pub fn child_layer(&self) -> Result<u32, MstError> {
        self.layer.checked_sub(1).ok_or_else(|| MstError::Corrupt("subtree below layer 0".into()))
    }

    /// Reads and checks a node. `layer` is the layer its parent implies, if known.
    pub fn load(store: &impl BlockStore, cid: &Cid, layer: Option<u32>) -> Result<Node, MstError> {
        let bytes = store.require(cid)?;
        let data: NodeData = crate::cbor::decode(&bytes).map_err(|e| MstError::Decode { cid: cid.to_string(), reason: e.to_string() })?;
        let mut entries = Vec::with_capacity(data.e.len());
        let mut prev: &[u8] = &[];
        let mut node_layer = None;
        for e in &data.e {
            let p = usize::try_from(e.p).ok().filter(|p| *p <= prev.len());
            let Some(p) = p else {
                return Err(MstError::Corrupt(format!("prefix length {} too long in node {cid}", e.p)));
            };
            let mut full = prev[..p].to_vec();
            full.extend_from_slice(&e.k);
            let key = String::from_utf8(full).map_err(|_| MstError::Corrupt(format!("non-UTF-8 key in node {cid}")))?;
            if !key::is_valid(&key) {
                return Err(MstError::InvalidKey(key));
            }
            if entries.last().is_some_and(|last: &Entry| last.key >= key) {
                return Err(MstError::Corrupt(format!("keys out of order in node {cid}")));
            }
            let h = key::height(key.as_bytes());
            if *node_layer.get_or_insert(h) != h {
                return Err(MstError::Corrupt(format!("keys of different layers in node {cid}")));
            }
            entries.push(Entry { key, value: e.v, right: e.t.map(Sub::Stored) });
            prev = entries.last().map(|e| e.key.as_bytes()).unwrap_or_default();
        }
        let layer = match (node_layer, layer) {
            (Some(found), Some(expected)) if found != expected => {
                return Err(MstError::Corrupt(format!("node {cid} is at layer {found} where layer {expected} belongs")))
            }
            (Some(l), _) | (None, Some(l)) => l,
            // A root without entries: its layer is one above its child's, found on descent.
            (None, None) => u32::MAX,
        };
        Ok(Node { layer, left: data.l.map(Sub::Stored), entries, cid: Some(*cid) })
    }

    /// The CID of a child slot; loaded children must have had their CID computed.
    fn slot_cid(slot: &Option<Sub>) -> Option<Cid> {
        slot.as_ref().map(|s| match s {
            Sub::Stored(c) => *c,
            Sub::Loaded(n) => n.cid.expect("child CID computed before its parent is encoded"),
        })
    }

    /// Encodes the node in canonical form (children's CIDs must be known).
    ///
    /// Written directly rather than through serde: the shape is fixed and its keys are already
    /// in canonical order (`e` < `l`; `k` < `p` < `t` < `v`), so nothing needs buffering and
    /// sorting, and re-encoding edited nodes is the main cost of undoing a commit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.entries.len() * 96);
        out.extend_from_slice(&[0xa2, 0x61, b'e']);
        write::head(&mut out, 4, self.entries.len() as u64);
        let mut prev: &str = "";
        for entry in &self.entries {
            let p = key::common_prefix_len(prev.as_bytes(), entry.key.as_bytes());
            let suffix = &entry.key.as_bytes()[p..];
            prev = &entry.key;
            out.extend_from_slice(&[0xa4, 0x61, b'k']);
            write::head(&mut out, 2, suffix.len() as u64);
            out.extend_from_slice(suffix);
            out.extend_from_slice(&[0x61, b'p']);
            write::head(&mut out, 0, p as u64);
            out.extend_from_slice(&[0x61, b't']);
            write::link(&mut out, Self::slot_cid(&entry.right).as_ref());
            out.extend_from_slice(&[0x61, b'v']);
            write::link(&mut out, Some(&entry.value));
        }
        out.extend_from_slice(&[0x61, b'l']);
        write::link(&mut out, Self::slot_cid(&self.left).as_ref());
        out
    }

    /// The same encoding through the generic serde path, to check [`Node::encode`] against.
    #[cfg(test)]
    pub fn encode_generic(&self) -> Vec<u8> {
        let mut prev: &str = "";
        let e = self
            .entries
            .iter()
            .map(|entry| {
                let p = key::common_prefix_len(prev.as_bytes(), entry.key.as_bytes());
                prev = &entry.key;
                EntryData { p: p as u64, k: entry.key.as_bytes()[p..].to_vec(), v: entry.value, t: Self::slot_cid(&entry.right) }
            })
            .collect();
        crate::cbor::encode(&NodeData { l: Self::slot_cid(&self.left), e }).expect("MST node encodes")
    }

    /// Computes CIDs bottom-up for edited nodes, collecting each new block in `out`.
    pub fn ensure_cid(&mut self, out: &mut Vec<(Cid, Bytes)>) -> Cid {
        if let Some(cid) = self.cid {
            return cid;
        }
        for i in 0..=self.entries.len() {
            if let Some(Sub::Loaded(child)) = self.slot_mut(i) {
                child.ensure_cid(out);
            }
        }
        let bytes = self.encode();
        let cid = crate::cid::for_cbor(&bytes);
        out.push((cid, bytes.into()));
        self.cid = Some(cid);
        cid
    }
}

impl Sub {
    /// Loads the subtree in place if needed and returns the node.
    pub fn load_mut(&mut self, store: &impl BlockStore, layer: u32) -> Result<&mut Node, MstError> {
        if let Sub::Stored(cid) = self {
            *self = Sub::Loaded(Box::new(Node::load(store, cid, Some(layer))?));
        }
        match self {
            Sub::Loaded(node) => Ok(node),
            Sub::Stored(_) => unreachable!("loaded above"),
        }
    }

    /// Takes the subtree's node out, loading it if needed.
    pub fn into_node(self, store: &impl BlockStore, layer: u32) -> Result<Box<Node>, MstError> {
        match self {
            Sub::Stored(cid) => Ok(Box::new(Node::load(store, &cid, Some(layer))?)),
            Sub::Loaded(node) => Ok(node),
        }
    }
}
