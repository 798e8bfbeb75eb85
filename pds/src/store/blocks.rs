//! Repository blocks in RocksDB, per repository: the [`BlockStore`] a [`atproto::repo::Repo`]
//! reads its MST and records from.

use std::sync::Arc;

use atproto::blockstore::{BlockStore, BlockStoreError};
use atproto::Cid;
use bytes::Bytes;
use rocksdb::{WriteBatch, DB};

use super::{did_key, StoreError, CF_BLOCKS};

/// One repository's blocks.
#[derive(Clone)]
pub struct DbBlocks {
    db: Arc<DB>,
    prefix: Vec<u8>,
}

fn block_key(prefix: &[u8], cid: &Cid) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend(cid.to_bytes());
    k
}

/// `rev` tags each block so `getRepo?since=` can find blocks newer than a revision.
fn encode_value(rev: &str, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + rev.len() + bytes.len());
    v.push(rev.len() as u8);
    v.extend_from_slice(rev.as_bytes());
    v.extend_from_slice(bytes);
    v
}

fn decode_value(v: &[u8]) -> Option<(&str, &[u8])> {
    let n = *v.first()? as usize;
    let rev = std::str::from_utf8(v.get(1..1 + n)?).ok()?;
    Some((rev, &v[1 + n..]))
}

impl DbBlocks {
    pub fn new(db: Arc<DB>, did: &str) -> Self {
        DbBlocks { db, prefix: did_key(did) }
    }

    /// Adds `blocks`, written at `rev`, to `batch`.
    pub fn put_all(&self, batch: &mut WriteBatch, rev: &str, blocks: &[(Cid, Bytes)]) {
        let cf = self.db.cf_handle(CF_BLOCKS).expect("blocks cf");
        for (cid, bytes) in blocks {
            batch.put_cf(cf, block_key(&self.prefix, cid), encode_value(rev, bytes));
        }
    }

    /// Every block of the repository written after `since` (all blocks if none).
    pub fn since(&self, since: Option<&str>) -> Result<Vec<(Cid, Bytes)>, StoreError> {
        let cf = self.db.cf_handle(CF_BLOCKS).expect("blocks cf");
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(cf, rocksdb::IteratorMode::From(&self.prefix, rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&self.prefix) {
                break;
            }
            let corrupt = |why: &str| StoreError::Corrupt { what: CF_BLOCKS, why: why.into() };
            let (rev, bytes) = decode_value(&v).ok_or_else(|| corrupt("bad value"))?;
            if since.is_some_and(|s| rev <= s) {
                continue;
            }
            let cid = Cid::try_from(&k[self.prefix.len()..]).map_err(|e| corrupt(&e.to_string()))?;
            out.push((cid, Bytes::copy_from_slice(bytes)));
        }
        Ok(out)
    }

    /// A block and the rev it was written at.
    pub fn get_with_rev(&self, cid: &Cid) -> Result<Option<(String, Bytes)>, StoreError> {
        let cf = self.db.cf_handle(CF_BLOCKS).expect("blocks cf");
        match self.db.get_pinned_cf(cf, block_key(&self.prefix, cid))? {
            None => Ok(None),
            Some(v) => {
                let (rev, bytes) = decode_value(&v).ok_or(StoreError::Corrupt { what: CF_BLOCKS, why: format!("block {cid}") })?;
                Ok(Some((rev.to_string(), Bytes::copy_from_slice(bytes))))
            }
        }
    }

    /// Deletes every block of the repository.
    pub fn delete_all(&self, batch: &mut WriteBatch) {
        let cf = self.db.cf_handle(CF_BLOCKS).expect("blocks cf");
        let mut end = self.prefix.clone();
        *end.last_mut().unwrap() = 1;
        batch.delete_range_cf(cf, &self.prefix, &end);
    }
}

impl BlockStore for DbBlocks {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockStoreError> {
        let cf = self.db.cf_handle(CF_BLOCKS).expect("blocks cf");
        let v = self.db.get_pinned_cf(cf, block_key(&self.prefix, cid)).map_err(|e| BlockStoreError::Backend(e.to_string()))?;
        match v {
            None => Ok(None),
            Some(v) => {
                let (_, bytes) = decode_value(&v).ok_or_else(|| BlockStoreError::Backend(format!("corrupt block {cid}")))?;
                Ok(Some(Bytes::copy_from_slice(bytes)))
            }
        }
    }
}
