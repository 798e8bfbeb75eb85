//! Differences between two trees, and ordered walks over a stored tree.
//!
//! Both walk in key order over a stream of leaves and subtrees; identical subtrees (same CID)
//! are skipped without being read, so a diff costs in proportion to what changed.

use ::cid::Cid;

use super::node::{Node, Sub};
use super::MstError;
use crate::blockstore::BlockStore;

/// One key whose value differs: absent before (`old: None`), absent after (`new: None`), or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    pub key: String,
    pub old: Option<Cid>,
    pub new: Option<Cid>,
}

enum Item {
    Leaf(String, Cid),
    Tree(Cid, Option<u32>),
}

/// An in-order stream over a stored tree, expanding subtrees on demand.
struct Walker<'s, S> {
    store: &'s S,
    /// Upcoming items, next on top.
    stack: Vec<Item>,
}

impl<'s, S: BlockStore> Walker<'s, S> {
    fn new(store: &'s S, root: Option<Cid>) -> Self {
        Walker { store, stack: root.map(|c| Item::Tree(c, None)).into_iter().collect() }
    }

    fn expand(&mut self) -> Result<(), MstError> {
        let Some(Item::Tree(cid, layer)) = self.stack.pop() else { return Ok(()) };
        let node = Node::load(self.store, &cid, layer)?;
        // A node without entries knows its layer only from its parent.
        let child_layer = (node.layer != u32::MAX).then(|| node.layer.checked_sub(1)).flatten();
        let tree = |s: &Option<Sub>| match s {
            Some(Sub::Stored(c)) => Some(Item::Tree(*c, child_layer)),
            _ => None,
        };
        let mut items: Vec<Item> = tree(&node.left).into_iter().collect();
        for e in &node.entries {
            items.push(Item::Leaf(e.key.clone(), e.value));
            items.extend(tree(&e.right));
        }
        self.stack.extend(items.into_iter().rev());
        Ok(())
    }

    /// The next leaf in key order.
    fn next_leaf(&mut self) -> Result<Option<(String, Cid)>, MstError> {
        loop {
            match self.stack.pop() {
                None => return Ok(None),
                Some(Item::Leaf(k, v)) => return Ok(Some((k, v))),
                Some(tree) => {
                    self.stack.push(tree);
                    self.expand()?;
                }
            }
        }
    }
}

/// Every key and value of the tree at `root`, in key order.
pub fn leaves(store: &impl BlockStore, root: Cid) -> Result<Vec<(String, Cid)>, MstError> {
    let mut walker = Walker::new(store, Some(root));
    let mut out = Vec::new();
    while let Some(leaf) = walker.next_leaf()? {
        out.push(leaf);
    }
    Ok(out)
}

/// The keys whose values differ between the trees at `from` and `to` (`None` is the empty
/// tree), in key order. Both trees' blocks must be in `store`.
pub fn diff(store: &impl BlockStore, from: Option<Cid>, to: Option<Cid>) -> Result<Vec<DiffEntry>, MstError> {
    let mut out = Vec::new();
    if from == to {
        return Ok(out);
    }
    let (mut a, mut b) = (Walker::new(store, from), Walker::new(store, to));
    loop {
        match (a.stack.last(), b.stack.last()) {
            (None, None) => return Ok(out),
            (Some(Item::Tree(x, lx)), Some(Item::Tree(y, ly))) => {
                if x == y {
                    a.stack.pop();
                    b.stack.pop();
                } else {
                    // Expand the taller subtree first, so equal subtrees can line up.
                    let (lx, ly) = (lx.unwrap_or(u32::MAX), ly.unwrap_or(u32::MAX));
                    if lx >= ly {
                        a.expand()?;
                    }
                    if ly >= lx {
                        b.expand()?;
                    }
                }
            }
            (Some(Item::Tree(..)), _) => a.expand()?,
            (_, Some(Item::Tree(..))) => b.expand()?,
            (Some(Item::Leaf(ka, va)), Some(Item::Leaf(kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        out.push(DiffEntry { key: ka.clone(), old: Some(*va), new: Some(*vb) });
                    }
                    a.stack.pop();
                    b.stack.pop();
                }
                std::cmp::Ordering::Less => {
                    out.push(DiffEntry { key: ka.clone(), old: Some(*va), new: None });
                    a.stack.pop();
                }
                std::cmp::Ordering::Greater => {
                    out.push(DiffEntry { key: kb.clone(), old: None, new: Some(*vb) });
                    b.stack.pop();
                }
            },
            (Some(Item::Leaf(k, v)), None) => {
                out.push(DiffEntry { key: k.clone(), old: Some(*v), new: None });
                a.stack.pop();
            }
            (None, Some(Item::Leaf(k, v))) => {
                out.push(DiffEntry { key: k.clone(), old: None, new: Some(*v) });
                b.stack.pop();
            }
        }
    }
}
