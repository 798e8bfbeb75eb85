//! The indexer's RocksDB store: small on purpose. DIDs, collections, paths, link targets and
//! non-TID record keys are interned to integers ([`keys`]); a record is `[actor u32][collection
//! u16][rkey u64]`, and a record anyone refers to gets a 5-byte [`RecordId`].
//!
//! | column family | key | value |
//! |---|---|---|
//! | `meta` | `cursor/<source URL>`, `next/<kind>` | i64 / u64, big-endian |
//! | `did` | DID | [`ActorId`] |
//! | `actor` | [`ActorId`] | [`rows::ActorRow`]: DID, handle, status |
//! | `rev` | [`ActorId`] | the last commit rev applied (replays at or below it are skipped) |
//! | `intern` | `c<nsid>`, `p<path>`, `r<rkey>`, `t<target>` (and `C`,`P`,`R`,`T` + id back); `h<handle>` | ids; names; the handle's [`ActorId`] |
//! | `rid` | [`RecordKey`] (14 B) | [`RecordId`] (5 B) |
//! | `rid_key` | [`RecordId`] | [`RecordKey`] |
//! | `doc` | [`RecordKey`] | [`rows::DocRow`]: indexed time and the record's DAG-CBOR (profiles, posts, lists, generators, threadgates) |
//! | `like_fwd`, `repost_fwd` | `[actor][rkey]` | subject [`RecordId`] |
//! | `like_rev`, `repost_rev` | `[subject RecordId][actor]` | rkey |
//! | `follow_fwd`, `block_fwd` | `[actor][rkey]` | subject [`ActorId`] |
//! | `follow_rev`, `block_rev` | `[subject][actor]` | rkey |
//! | `listitem_fwd` | `[owner][rkey]` | list [`RecordId`], subject [`ActorId`] |
//! | `listitem_rev` | `[list RecordId][subject]` | rkey |
//! | `reply` | `[parent RecordId][child RecordId]` | empty |
//! | `quote` | `[quoted RecordId][quoting RecordId]` | empty |
//! | `notif` | `[recipient][rkey][author][reason u8]` | [`rows::NotifRow`]: the subject, and for a like, repost or follow its creation time and subject CID (the record is rebuilt from them, [`crate::index::edge_record`]) or, when it holds more, its CID and bytes |
//! | `seen` | [`ActorId`] | µs of the last `updateSeen` |
//! | `count` | `[kind u8][id]` | i64 little-endian, summed by a merge operator |
//! | `link` | `[target u40][collection][path u16][source RecordId]` | empty (backlinks) |
//! | `link_fwd` | [`RecordKey`] | the record's `(target, path)` pairs, to undo them |
//! | `search_queue` | u64 | a [`crate::search::SearchOp`] not yet committed to Tantivy |
//! | `identity_queue` | [`ActorId`] | empty: an actor whose handle needs (re)checking |
//! | `backfill_queue` | DID | empty: a repository to fetch whole (listed, or after `#sync`) |
//!
//! Edges (likes, reposts, follows, blocks) are two entries: the forward one by the author's
//! record key (to undo a delete and list an actor's edges) and the reverse one by subject
//! (to list and count who points at it, and to answer "does the viewer like this" with one
//! read). Reverse lists are in author-id order, not time order: a third, time-ordered entry
//! would break the 32-byte budget per edge. Notifications sort by the record key's TID time.
//!
//! Every ingest batch, cursor included, is one `WriteBatch` ([`write::Batch`]): after
//! `kill -9` the store and its cursors agree. Writes go to the WAL without fsync per batch (a
//! killed process loses nothing the OS has).

pub mod keys;
pub mod read;
pub mod repair;
pub mod rows;
pub mod write;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, MergeOperands, Options, DB};

pub use keys::{ActorId, CollId, RecordId, RecordKey, Rkey};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt {what} entry: {why}")]
    Corrupt { what: &'static str, why: String },
    #[error("id space for {0} is exhausted")]
    Exhausted(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Every column family, in the order the key table lists them.
pub const CFS: &[&str] = &[
    "meta",
    "did",
    "actor",
    "rev",
    "intern",
    "rid",
    "rid_key",
    "doc",
    "like_fwd",
    "like_rev",
    "repost_fwd",
    "repost_rev",
    "follow_fwd",
    "follow_rev",
    "block_fwd",
    "block_rev",
    "listitem_fwd",
    "listitem_rev",
    "reply",
    "quote",
    "notif",
    "seen",
    "count",
    "link",
    "link_fwd",
    "search_queue",
    "identity_queue",
    "backfill_queue",
];

/// The edge column families whose bytes the per-edge size target counts.
pub const EDGE_CFS: &[&str] = &["like_fwd", "like_rev", "repost_fwd", "repost_rev", "follow_fwd", "follow_rev"];

/// Column families read by point lookups that mostly miss (interning, uniqueness checks):
/// these get Bloom filters. Edge and list families do not, to keep edges small.
const BLOOM_CFS: &[&str] = &["did", "intern", "rid", "rev"];

/// The store; share it behind an `Arc` (reads are concurrent, one [`write::Writer`] writes).
pub struct Store {
    pub(crate) db: DB,
}

fn add_merge(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut sum = existing.map_or(0, read_i64);
    for op in operands {
        sum = sum.wrapping_add(read_i64(op));
    }
    Some(sum.to_le_bytes().to_vec())
}

pub(crate) fn read_i64(b: &[u8]) -> i64 {
    b.try_into().map(i64::from_le_bytes).unwrap_or(0)
}

impl Store {
    pub fn open(path: &Path) -> Result<Arc<Store>> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        let cache = rocksdb::Cache::new_lru_cache(256 << 20);
        let descriptors = CFS.iter().map(|name| {
            let mut o = Options::default();
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_bottommost_compression_type(rocksdb::DBCompressionType::Lz4);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_block_size(16 << 10);
            if BLOOM_CFS.contains(name) {
                table.set_bloom_filter(10.0, false);
            }
            o.set_block_based_table_factory(&table);
            if *name == "count" {
                o.set_merge_operator_associative("add", add_merge);
            }
            ColumnFamilyDescriptor::new(*name, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, descriptors)?;
        Ok(Arc::new(Store { db }))
    }

    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // Every name used is in CFS, and all of them are opened.
        self.db.cf_handle(name).unwrap_or_else(|| panic!("column family {name} is opened"))
    }

    /// Flushes memtables and compacts everything (what `indexer stats --compact` measures).
    pub fn compact(&self) -> Result<()> {
        for name in CFS {
            let cf = self.cf(name);
            self.db.flush_cf(cf)?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Bytes of SST files per column family.
    pub fn sst_bytes(&self) -> Vec<(&'static str, u64)> {
        CFS.iter()
            .map(|name| {
                let v = self.db.property_int_value_cf(self.cf(name), "rocksdb.total-sst-files-size").ok().flatten().unwrap_or(0);
                (*name, v)
            })
            .collect()
    }

    /// The live store bytes of every family (SST files plus memtables), for `/metrics`.
    pub fn record_metrics(&self) {
        telemetry::store::record_store_bytes("indexer", &self.db, CFS);
    }
}

impl Store {
    /// Removes handled entries from a queue family (`search_queue`, `identity_queue`). Only
    /// queue stages call this; it never touches index rows.
    pub fn dequeue(&self, cf: &str, ids: &[u64]) -> Result<()> {
        let mut wb = rocksdb::WriteBatch::default();
        for id in ids {
            wb.delete_cf(self.cf(cf), id.to_be_bytes());
        }
        Ok(self.db.write(wb)?)
    }

    /// The search ops still queued (not yet committed to Tantivy), oldest first.
    pub fn search_backlog(&self) -> Result<Vec<(u64, crate::search::SearchOp)>> {
        let mut out = Vec::new();
        for (k, v) in self.queue("search_queue", usize::MAX)? {
            let id = k.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| StoreError::Corrupt { what: "search_queue", why: "key".into() })?;
            out.push((id, rows::decode("search_queue", &v)?));
        }
        Ok(out)
    }

    /// Repositories waiting for a backfill.
    pub fn backfill_backlog(&self) -> Result<Vec<String>> {
        Ok(self.queue("backfill_queue", usize::MAX)?.into_iter().map(|(k, _)| String::from_utf8_lossy(&k).into_owned()).collect())
    }

    /// Queues repositories for a backfill (a queue entry, not an index row).
    pub fn enqueue_backfill(&self, dids: &[String]) -> Result<()> {
        let mut wb = rocksdb::WriteBatch::default();
        for did in dids {
            wb.put_cf(self.cf("backfill_queue"), did.as_bytes(), []);
        }
        Ok(self.db.write(wb)?)
    }

    /// Actors waiting for a handle check.
    pub fn identity_backlog(&self, limit: usize) -> Result<Vec<ActorId>> {
        Ok(self.queue("identity_queue", limit)?.iter().filter_map(|(k, _)| ActorId::read(k)).collect())
    }
}

impl Store {
    /// Sets an actor's notification read marker (`updateSeen`). It is the actor's own
    /// setting, not an index row, so it is written directly rather than by the ingest writer.
    pub fn set_seen(&self, actor: ActorId, micros: u64) -> Result<()> {
        Ok(self.db.put_cf(self.cf("seen"), actor.bytes(), micros.to_be_bytes())?)
    }
}
