//! RocksDB storage: one database under `PDS_DATA_DIRECTORY/pds.rocksdb` with a column family
//! per kind of data, and the write path every change goes through.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `blocks`   | did `\0` cid bytes | rev length (1 byte), rev, block bytes |
//! | `records`  | did `\0` collection `\0` rkey | record cid bytes |
//! | `repos`    | did | [`RepoRoot`] (JSON) |
//! | `accounts` | `did:`did / `handle:`handle / `email:`email | [`accounts::Account`] JSON / did / did |
//! | `auth`     | `refresh:`jti, `apppw:`did`\0`name, `invite:`code | JSON |
//! | `blobs`    | did `\0` cid string | [`blobs::BlobMeta`] JSON |
//! | `events`   | seq (u64 big-endian) | time in ms (u64 BE), then the frame bytes |
//!
//! Every change is one `WriteBatch` handed to the [`committer`], which syncs the write-ahead
//! log once per group of concurrent batches and only then acknowledges them and publishes
//! their firehose events. Sequence numbers are assigned in [`events::Sequencer`] under a lock
//! that also fixes the order batches reach the committer, so the log order is the seq order.
//!
//! Before a batch is sequenced, the store checks the disk's free space against
//! `PDS_DISK_MIN_FREE_BYTES` ([`telemetry::disk`]): below it the write is refused whole, as
//! [`StoreError::DiskFull`], before RocksDB can meet a full disk mid-write.

pub mod accounts;
pub mod blobs;
pub mod blocks;
pub mod committer;
pub mod email_tokens;
pub mod events;
pub mod records;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, DB};

pub use blocks::DbBlocks;
pub use committer::Committer;
pub use events::{EventBody, Sequencer};

pub const CF_BLOCKS: &str = "blocks";
pub const CF_RECORDS: &str = "records";
pub const CF_REPOS: &str = "repos";
pub const CF_ACCOUNTS: &str = "accounts";
pub const CF_AUTH: &str = "auth";
pub const CF_BLOBS: &str = "blobs";
pub const CF_EVENTS: &str = "events";
const ALL_CFS: [&str; 7] = [CF_BLOCKS, CF_RECORDS, CF_REPOS, CF_ACCOUNTS, CF_AUTH, CF_BLOBS, CF_EVENTS];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt {what}: {why}")]
    Corrupt { what: &'static str, why: String },
    #[error("the committer has stopped")]
    CommitterGone,
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error(transparent)]
    DiskFull(#[from] telemetry::disk::DiskFull),
}

/// The current commit of a repository.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RepoRoot {
    pub cid: String,
    pub rev: String,
}

/// The database's directory inside `PDS_DATA_DIRECTORY`.
pub const DB_DIR: &str = "pds.rocksdb";

/// The database and its write path.
pub struct Store {
    pub db: Arc<DB>,
    pub sequencer: Sequencer,
    /// Free space on the database's disk.
    pub disk: telemetry::disk::DiskGuard,
}

impl Store {
    /// Opens (or creates) the database in `dir` and starts the committer. Writes are refused
    /// while less than `min_free` bytes are free on `dir`'s disk.
    pub fn open(dir: &Path, min_free: u64) -> Result<Arc<Store>, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::CommitFailed(format!("{}: {e}", dir.display())))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.increase_parallelism(2);
        opts.set_max_total_wal_size(64 << 20);
        // One memtable budget for all column families (flushes start when it is used up), so
        // memory after a burst of writes stays bounded rather than 64 MB per family.
        opts.set_db_write_buffer_size(32 << 20);
        opts.set_keep_log_file_num(3);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut o = Options::default();
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, o)
        });
        let db = Arc::new(DB::open_cf_descriptors(&opts, dir.join(DB_DIR), cfs)?);
        let committer = Committer::start(db.clone());
        let sequencer = Sequencer::open(db.clone(), committer)?;
        Ok(Arc::new(Store { db, sequencer, disk: telemetry::disk::DiskGuard::new("pds", dir, min_free) }))
    }

    /// Sets the `pds_store_bytes` gauges (bytes per column family, on disk and in memory).
    pub fn record_sizes(&self) {
        telemetry::store::record_store_bytes("pds", &self.db, &ALL_CFS);
    }

    pub fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column family opened at start")
    }

    pub fn get(&self, cf: &str, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    pub fn get_json<T: serde::de::DeserializeOwned>(&self, cf: &'static str, key: impl AsRef<[u8]>) -> Result<Option<T>, StoreError> {
        match self.get(cf, key)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| StoreError::Corrupt { what: cf, why: e.to_string() }),
        }
    }

    pub fn put_json<T: serde::Serialize>(&self, batch: &mut WriteBatch, cf: &str, key: impl AsRef<[u8]>, value: &T) {
        batch.put_cf(self.cf(cf), key, serde_json::to_vec(value).expect("values serialize"));
    }

    /// Commits `batch` durably, with `events` (if any) sequenced into it and published once
    /// the batch is durable. Returns the assigned sequence numbers.
    pub async fn commit(&self, batch: WriteBatch, events: Vec<EventBody>) -> Result<Vec<u64>, StoreError> {
        self.disk.check_for(batch.size_in_bytes() as u64)?;
        self.sequencer.commit(batch, events).await
    }

    /// Records `did`'s repository as at commit `cid`, rev `rev`, in `batch`.
    pub fn put_repo_root(&self, batch: &mut WriteBatch, did: &str, cid: &cid::Cid, rev: &str) {
        self.put_json(batch, CF_REPOS, did, &RepoRoot { cid: cid.to_string(), rev: rev.into() });
    }

    /// The current commit of `did`'s repository.
    pub fn repo_root(&self, did: &str) -> Result<Option<RepoRoot>, StoreError> {
        self.get_json(CF_REPOS, did)
    }

    /// Every `(did, root)`, ordered by DID, starting after `cursor`.
    pub fn list_repos(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, RepoRoot)>, StoreError> {
        let start = after.map(|a| format!("{a}\0")).unwrap_or_default();
        let iter = self.db.iterator_cf(self.cf(CF_REPOS), rocksdb::IteratorMode::From(start.as_bytes(), rocksdb::Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            let root: RepoRoot = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt { what: CF_REPOS, why: e.to_string() })?;
            out.push((String::from_utf8_lossy(&k).into_owned(), root));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

/// `did` `\0`: the prefix of a repository's keys.
pub fn did_key(did: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(did.len() + 1);
    k.extend_from_slice(did.as_bytes());
    k.push(0);
    k
}
