//! [`Directory`]: the durable store of `did:plc` operation logs, on RocksDB.
//!
//! Every submission is checked with [`atproto::plc::validate_new_op`] against the DID's audit
//! log (signature, `prev` chain, rotation-key authority, the 72-hour recovery window) and then
//! written as one synced `WriteBatch`: the DID's updated log (new entry appended, nullified
//! entries flagged), its sequence-number index entry, and the last sequence number.
//! Submissions for the same DID are serialised by a striped lock; `createdAt` is strictly
//! increasing per DID (milliseconds, as serialised), so the audit log's order is its
//! acceptance order.
//!
//! Keys: `log/<did>` → JSON array of [`ExportEntry`] (the audit log with each entry's `seq`);
//! `seq/<u64 big-endian>` → DID; `meta/last_seq` → u64 big-endian.
//!
//! Before the write, the disk's free space is checked against a floor ([`telemetry::disk`]):
//! below it the operation is refused whole as [`StoreError::DiskFull`] (503), and accepted again
//! once space returns.
//!
//! All methods block (RocksDB I/O and signature checks): call them from `spawn_blocking`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;

use atproto::plc::{validate_new_op, Accepted, LogEntry, PlcError, PlcState, SignedOp};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

use crate::export::ExportEntry;

const LOG_PREFIX: &[u8] = b"log/";
const SEQ_PREFIX: &[u8] = b"seq/";
const LAST_SEQ_KEY: &[u8] = b"meta/last_seq";
const STRIPES: usize = 64;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("RocksDB: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt directory data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    DiskFull(#[from] telemetry::disk::DiskFull),
}

/// Why a submitted operation was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The operation breaks the PLC rules: the directory answers 400 with this message.
    #[error(transparent)]
    Invalid(#[from] PlcError),
    #[error("operation {0} is already in this DID's log")]
    Duplicate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the directory knows of a DID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DidStatus {
    NotFound,
    /// The active log ends in a tombstone.
    Tombstoned,
    Active(PlcState),
}

/// The operation-log store. Share it behind an `Arc`; dropping it closes the database.
pub struct Directory {
    db: DB,
    stripes: Vec<Mutex<()>>,
    /// The last sequence number; held while a batch is written so numbers commit in order.
    last_seq: Mutex<u64>,
    disk: telemetry::disk::DiskGuard,
}

impl Directory {
    /// Sets the `plc_store_bytes` gauges (bytes on disk and in memory).
    pub fn record_sizes(&self) {
        telemetry::store::record_store_bytes("plc", &self.db, &[]);
    }

    /// Opens (creating if needed) the store in `path`. Operations are refused while less than
    /// `min_free` bytes are free on its disk.
    pub fn open(path: &Path, min_free: u64) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let db = DB::open(&opts, path)?;
        let last_seq = match db.get(LAST_SEQ_KEY)? {
            Some(v) => decode_u64(&v)?,
            None => 0,
        };
        tracing::info!(path = %path.display(), last_seq, "opened PLC directory store");
        Ok(Directory {
            db,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            last_seq: Mutex::new(last_seq),
            disk: telemetry::disk::DiskGuard::new("plc", path, min_free),
        })
    }

    /// Validates and stores `op` for `did`, timestamped now.
    pub fn submit(&self, did: &str, op: SignedOp) -> Result<Accepted, SubmitError> {
        self.submit_at(did, op, Utc::now())
    }

    /// [`Self::submit`] with an explicit clock (used to exercise the 72-hour recovery window).
    /// The timestamp is truncated to milliseconds and, if not after the DID's latest entry,
    /// moved to 1 ms after it.
    pub fn submit_at(&self, did: &str, op: SignedOp, now: DateTime<Utc>) -> Result<Accepted, SubmitError> {
        let _guard = self.stripe(did).lock().expect("stripe lock");
        let mut log = self.read_log(did)?.unwrap_or_default();
        let mut now = now.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(now);
        if let Some(last) = log.last() {
            if now <= last.entry.created_at {
                now = last.entry.created_at + TimeDelta::milliseconds(1);
            }
        }
        let entry = LogEntry::new(did, op, now);
        if log.iter().any(|e| e.entry.cid == entry.cid) {
            return Err(SubmitError::Duplicate(entry.cid));
        }
        let entries: Vec<LogEntry> = log.iter().map(|e| e.entry.clone()).collect();
        let accepted = validate_new_op(did, &entries, &entry.operation, now)?;
        for e in &mut log {
            if accepted.nullified.iter().any(|c| c.to_string() == e.entry.cid) {
                e.entry.nullified = true;
            }
        }

        let mut last_seq = self.last_seq.lock().expect("seq lock");
        let seq = *last_seq + 1;
        log.push(ExportEntry { seq, entry });
        let mut batch = WriteBatch::default();
        batch.put(log_key(did), serde_json::to_vec(&log).expect("log entries serialise"));
        batch.put(seq_key(seq), did.as_bytes());
        batch.put(LAST_SEQ_KEY, seq.to_be_bytes());
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.disk.check_for(batch.size_in_bytes() as u64).map_err(StoreError::from)?;
        self.db.write_opt(batch, &sync).map_err(StoreError::from)?;
        *last_seq = seq;
        tracing::debug!(did, seq, cid = %accepted.cid, nullified = accepted.nullified.len(), "accepted PLC operation");
        Ok(accepted)
    }

    /// The DID's full audit log (nullified entries included), or `None` if not registered.
    pub fn audit_log(&self, did: &str) -> Result<Option<Vec<LogEntry>>, StoreError> {
        Ok(self.read_log(did)?.map(|log| log.into_iter().map(|e| e.entry).collect()))
    }

    /// The active (non-nullified) operations, genesis first.
    pub fn active_log(&self, did: &str) -> Result<Option<Vec<SignedOp>>, StoreError> {
        Ok(self.audit_log(did)?.map(|log| log.into_iter().filter(|e| !e.nullified).map(|e| e.operation).collect()))
    }

    /// The latest active operation.
    pub fn last_op(&self, did: &str) -> Result<Option<SignedOp>, StoreError> {
        Ok(self.active_log(did)?.and_then(|ops| ops.into_iter().next_back()))
    }

    /// Whether `did` is registered, tombstoned, or active (with its state).
    pub fn status(&self, did: &str) -> Result<DidStatus, StoreError> {
        Ok(match self.last_op(did)? {
            None => DidStatus::NotFound,
            Some(op) => match op.state() {
                Some(state) => DidStatus::Active(state),
                None => DidStatus::Tombstoned,
            },
        })
    }

    /// Up to `count` entries with `seq > after`, in sequence order.
    pub fn export(&self, after: u64, count: usize) -> Result<Vec<ExportEntry>, StoreError> {
        let start = seq_key(after.saturating_add(1));
        let iter = self.db.iterator(IteratorMode::From(&start, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= count {
                break;
            }
            let (key, did) = item?;
            let Some(seq) = key.strip_prefix(SEQ_PREFIX) else {
                break;
            };
            let seq = decode_u64(seq)?;
            let did = String::from_utf8(did.into_vec()).map_err(|_| StoreError::Corrupt(format!("seq {seq}: DID is not UTF-8")))?;
            let log = self.read_log(&did)?.ok_or_else(|| StoreError::Corrupt(format!("seq {seq}: no log for {did}")))?;
            let entry = log.into_iter().find(|e| e.seq == seq).ok_or_else(|| StoreError::Corrupt(format!("seq {seq} missing from {did}")))?;
            out.push(entry);
        }
        Ok(out)
    }

    /// Makes `floor` the last sequence number (if it is not already past it): a restore's jump
    /// over the numbers its directory accepted after the backup.
    pub fn skip_past(&self, floor: u64) -> Result<(), StoreError> {
        let mut last_seq = self.last_seq.lock().expect("seq lock");
        if floor > *last_seq {
            let mut sync = WriteOptions::default();
            sync.set_sync(true);
            self.db.put_opt(LAST_SEQ_KEY, floor.to_be_bytes(), &sync)?;
            *last_seq = floor;
        }
        Ok(())
    }

    /// The sequence number of the latest accepted operation (0 when empty).
    pub fn last_seq(&self) -> u64 {
        *self.last_seq.lock().expect("seq lock")
    }

    fn read_log(&self, did: &str) -> Result<Option<Vec<ExportEntry>>, StoreError> {
        match self.db.get(log_key(did))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt(format!("log of {did}: {e}"))),
        }
    }

    fn stripe(&self, did: &str) -> &Mutex<()> {
        let mut h = DefaultHasher::new();
        did.hash(&mut h);
        &self.stripes[(h.finish() % STRIPES as u64) as usize]
    }
}

fn log_key(did: &str) -> Vec<u8> {
    [LOG_PREFIX, did.as_bytes()].concat()
}

fn seq_key(seq: u64) -> Vec<u8> {
    [SEQ_PREFIX, &seq.to_be_bytes()].concat()
}

fn decode_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt("sequence number is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}
