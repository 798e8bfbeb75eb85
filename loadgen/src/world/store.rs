//! A block store shared between an account's repository (which reads nodes from it) and the
//! host that serves `getRepo` (which exports it), with the generator adding each commit's
//! new blocks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use atproto::blockstore::{BlockStore, BlockStoreError};
use atproto::Cid;
use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct SharedStore(Arc<RwLock<HashMap<Cid, Bytes>>>);

impl SharedStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn extend(&self, blocks: impl IntoIterator<Item = (Cid, Bytes)>) {
        self.0.write().expect("store lock").extend(blocks);
    }

    /// Every block, for a CAR export.
    pub fn snapshot(&self) -> Vec<(Cid, Bytes)> {
        self.0.read().expect("store lock").iter().map(|(c, b)| (*c, b.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.0.read().expect("store lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BlockStore for SharedStore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockStoreError> {
        Ok(self.0.read().expect("store lock").get(cid).cloned())
    }
}
