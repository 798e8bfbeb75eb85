//! Block stores: where repository blocks (commits, MST nodes, records) live, keyed by CID.
//!
//! The trait is synchronous: the on-disk store is RocksDB, whose API is synchronous, and the
//! relay's hot path reads blocks from an in-memory CAR slice.

use std::collections::HashMap;

use ::cid::Cid;
use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum BlockStoreError {
    #[error("block {0} is missing")]
    Missing(Cid),
    #[error("block store: {0}")]
    Backend(String),
}

/// Read access to blocks.
pub trait BlockStore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockStoreError>;

    /// Like [`BlockStore::get`], but a missing block is an error.
    fn require(&self, cid: &Cid) -> Result<Bytes, BlockStoreError> {
        self.get(cid)?.ok_or(BlockStoreError::Missing(*cid))
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockStoreError> {
        Ok(self.get(cid)?.is_some())
    }
}

impl<T: BlockStore + ?Sized> BlockStore for &T {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockStoreError> {
        (**self).get(cid)
    }
}

/// Write access to blocks.
pub trait BlockSink {
    fn put(&mut self, cid: Cid, bytes: Bytes) -> Result<(), BlockStoreError>;
}

/// Blocks held in memory: a CAR slice under verification, or a test repository.
#[derive(Debug, Default, Clone)]
pub struct MemoryBlockStore {
    blocks: HashMap<Cid, Bytes>,
}

impl MemoryBlockStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, cid: Cid, bytes: impl Into<Bytes>) {
        self.blocks.insert(cid, bytes.into());
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Cid, &Bytes)> {
        self.blocks.iter()
    }

    pub fn remove(&mut self, cid: &Cid) -> Option<Bytes> {
        self.blocks.remove(cid)
    }
}

impl FromIterator<(Cid, Bytes)> for MemoryBlockStore {
    fn from_iter<I: IntoIterator<Item = (Cid, Bytes)>>(iter: I) -> Self {
        Self { blocks: iter.into_iter().collect() }
    }
}

impl BlockStore for MemoryBlockStore {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockStoreError> {
        Ok(self.blocks.get(cid).cloned())
    }
}

impl BlockSink for MemoryBlockStore {
    fn put(&mut self, cid: Cid, bytes: Bytes) -> Result<(), BlockStoreError> {
        self.blocks.insert(cid, bytes);
        Ok(())
    }
}
