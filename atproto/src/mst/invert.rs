//! Sync 1.1 operation inversion: given the partial tree a commit carries and its operations,
//! undo each operation and recompute the previous root, to compare with the commit's `prevData`.
//!
//! An operation is checked against the new tree before it is undone: a create or update must
//! hold its CID, a delete must be absent. Blocks the commit did not include are an error.

use ::cid::Cid;

use super::{Mst, MstError};
use crate::blockstore::BlockStore;

/// A repository operation as far as the tree is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeOp {
    Create { key: String, cid: Cid },
    Update { key: String, cid: Cid, prev: Cid },
    Delete { key: String, prev: Cid },
}

impl TreeOp {
    pub fn key(&self) -> &str {
        match self {
            TreeOp::Create { key, .. } | TreeOp::Update { key, .. } | TreeOp::Delete { key, .. } => key,
        }
    }
}

/// Undoes `ops` on the tree rooted at `data` (with blocks from `store`) and returns the
/// previous root.
pub fn invert(store: impl BlockStore, data: Cid, ops: &[TreeOp]) -> Result<Cid, MstError> {
    let mut tree = Mst::load(store, data)?;
    for op in ops {
        let (expected, previous) = match op {
            TreeOp::Create { cid, .. } => (Some(*cid), None),
            TreeOp::Update { cid, prev, .. } => (Some(*cid), Some(*prev)),
            TreeOp::Delete { prev, .. } => (None, Some(*prev)),
        };
        let found = tree.get(op.key())?;
        if found != expected {
            let text = |c: Option<Cid>| c.map(|c| c.to_string());
            return Err(MstError::ValueMismatch { key: op.key().into(), expected: text(expected), found: text(found) });
        }
        match previous {
            Some(prev) => {
                tree.insert(op.key(), prev)?;
            }
            None => {
                tree.delete(op.key())?;
            }
        }
    }
    Ok(tree.root())
}
