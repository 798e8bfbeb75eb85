//! Durable state in RocksDB: the event log (relay sequence → stored frame), a time index for
//! Jetstream cursors, per-account and per-host state, the head sequence number, and the events
//! held while their account's identity cannot be resolved (`held`: host, DID and upstream
//! seq → the upstream frame, written with the host's cursor past it and deleted in the batch
//! that appends it, so a held event is never lost nor appended twice).
//!
//! Every accepted event is written in one `WriteBatch` together with the account state it
//! changes, the host's upstream cursor and the new head, so after a crash (even SIGKILL) the
//! log, the account states and the cursors agree and no sequence number is ever reused.
//! Writes go to the WAL without fsync per event (a process kill loses nothing the OS has);
//! [`Store::sync_wal`] is called periodically for power-loss durability.
//!
//! Every write first checks the disk's free space against the relay's floor
//! ([`telemetry::disk`]): below it the write is refused whole as [`StoreError::DiskFull`], which
//! ingest treats like any store error (the host's cursor stays put and the event is read again
//! once space returns).

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

const CF_EVENTS: &str = "events";
const CF_TIMES: &str = "times";
const CF_ACCOUNTS: &str = "accounts";
const CF_HOSTS: &str = "hosts";
const CF_META: &str = "meta";
const CF_HELD: &str = "held";
const META_HEAD: &[u8] = b"head";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt {what} record: {why}")]
    Corrupt { what: &'static str, why: String },
    #[error(transparent)]
    DiskFull(#[from] telemetry::disk::DiskFull),
}

/// The kind of a stored event (the `#type` of its frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Commit = 1,
    Sync = 2,
    Identity = 3,
    Account = 4,
}

impl EventKind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Commit,
            2 => Self::Sync,
            3 => Self::Identity,
            4 => Self::Account,
            _ => return None,
        })
    }
}

/// One event of the relay's log: its frame already carries the relay's `seq`.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    /// When the relay accepted it, in µs since the epoch; strictly increasing with `seq`.
    pub time_us: u64,
    pub kind: EventKind,
    pub did: String,
    pub frame: bytes::Bytes,
}

impl StoredEvent {
    fn encode_value(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(11 + self.did.len() + self.frame.len());
        v.extend_from_slice(&self.time_us.to_be_bytes());
        v.push(self.kind as u8);
        v.extend_from_slice(&(self.did.len() as u16).to_be_bytes());
        v.extend_from_slice(self.did.as_bytes());
        v.extend_from_slice(&self.frame);
        v
    }

    fn decode(seq: u64, v: &[u8]) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::Corrupt { what: "event", why: why.into() };
        if v.len() < 11 {
            return Err(bad("short"));
        }
        let time_us = u64::from_be_bytes(v[..8].try_into().unwrap());
        let kind = EventKind::from_u8(v[8]).ok_or_else(|| bad("kind"))?;
        let did_len = u16::from_be_bytes([v[9], v[10]]) as usize;
        let did = v.get(11..11 + did_len).ok_or_else(|| bad("did"))?;
        let did = String::from_utf8(did.to_vec()).map_err(|_| bad("did utf-8"))?;
        let frame = bytes::Bytes::copy_from_slice(&v[11 + did_len..]);
        Ok(StoredEvent { seq, time_us, kind, did, frame })
    }

    /// Bytes this event occupies in the log (value plus key), before compression.
    pub fn stored_len(&self) -> u64 {
        (8 + 11 + self.did.len() + self.frame.len()) as u64
    }
}

/// The relay's view of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// The host whose firehose carries this account.
    pub host: String,
    /// Status from the host's last `#account` event; `None` while active.
    #[serde(default)]
    pub upstream_status: Option<String>,
    /// Taken down by a relay administrator.
    #[serde(default)]
    pub banned: bool,
    /// Over its host's account quota: events are not forwarded.
    #[serde(default)]
    pub throttled: bool,
    /// Last accepted commit (or sync): rev, commit CID and MST root.
    #[serde(default)]
    pub rev: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
}

impl AccountState {
    /// The status reported by `getRepoStatus`: `None` when active.
    pub fn status(&self) -> Option<&str> {
        if self.banned {
            Some("takendown")
        } else if let Some(s) = &self.upstream_status {
            Some(s)
        } else if self.throttled {
            Some("throttled")
        } else {
            None
        }
    }

    pub fn active(&self) -> bool {
        self.status().is_none()
    }
}

/// Host status as `listHosts`/`getHostStatus` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Active,
    Idle,
    Offline,
    Throttled,
    Banned,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Offline => "offline",
            Self::Throttled => "throttled",
            Self::Banned => "banned",
        }
    }
}

/// The relay's view of one upstream host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// `host` or `host:port`.
    pub hostname: String,
    /// Connect with `wss://` (false only for testbed loopback hosts).
    pub ssl: bool,
    /// Last upstream `seq` accepted or examined; 0 before any.
    pub cursor: i64,
    pub status: HostStatus,
    pub account_count: u64,
    /// Per-host overrides of the default limits.
    #[serde(default)]
    pub rate_limit: Option<u32>,
    #[serde(default)]
    pub account_limit: Option<u64>,
}

impl HostState {
    pub fn new(hostname: &str, ssl: bool) -> Self {
        HostState { hostname: hostname.into(), ssl, cursor: 0, status: HostStatus::Active, account_count: 0, rate_limit: None, account_limit: None }
    }
}

/// An event held back while its account's identity could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldEvent {
    /// Its key in the held column family (deleted when it is appended or dropped).
    pub key: Vec<u8>,
    pub did: String,
    /// The upstream frame, as the host sent it.
    pub frame: Vec<u8>,
}

fn held_prefix(hostname: &str, did: Option<&str>) -> Vec<u8> {
    let mut key = Vec::with_capacity(hostname.len() + did.map_or(0, str::len) + 2);
    key.extend_from_slice(hostname.as_bytes());
    key.push(0);
    if let Some(did) = did {
        key.extend_from_slice(did.as_bytes());
        key.push(0);
    }
    key
}

/// What appending one event changes besides the log.
pub struct AppendBatch<'a> {
    pub event: &'a StoredEvent,
    pub account: Option<(&'a str, &'a AccountState)>,
    pub host: Option<&'a HostState>,
    /// The held event this append releases (deleted in the same batch).
    pub release: Option<&'a [u8]>,
}

pub struct Store {
    db: DB,
    write_opts: WriteOptions,
    disk: telemetry::disk::DiskGuard,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("state serializes")
}

fn from_json<T: DeserializeOwned>(what: &'static str, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt { what, why: e.to_string() })
}

impl Store {
    /// Opens (or creates) the database at `path`. Writes are refused while less than
    /// `min_free` bytes are free on its disk.
    pub fn open(path: &Path, min_free: u64) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.increase_parallelism(2);
        let cfs = [CF_EVENTS, CF_TIMES, CF_ACCOUNTS, CF_HOSTS, CF_META, CF_HELD].map(|name| {
            let mut o = Options::default();
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(false);
        Ok(Store { db, write_opts, disk: telemetry::disk::DiskGuard::new("relay", path, min_free) })
    }

    /// Sets the `relay_store_bytes` gauges (bytes per column family, on disk and in memory).
    pub fn record_sizes(&self) {
        telemetry::store::record_store_bytes("relay", &self.db, &[CF_EVENTS, CF_TIMES, CF_ACCOUNTS, CF_HOSTS, CF_META, CF_HELD]);
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column family exists")
    }

    /// The highest sequence number ever assigned (0 for a new log).
    pub fn head_seq(&self) -> Result<u64, StoreError> {
        Ok(match self.db.get_cf(self.cf(CF_META), META_HEAD)? {
            Some(v) if v.len() == 8 => u64::from_be_bytes(v[..].try_into().unwrap()),
            Some(_) => return Err(StoreError::Corrupt { what: "head", why: "length".into() }),
            None => 0,
        })
    }

    /// Writes an event with its account and host state and the new head, atomically.
    pub fn append(&self, a: AppendBatch<'_>) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let key = a.event.seq.to_be_bytes();
        batch.put_cf(self.cf(CF_EVENTS), key, a.event.encode_value());
        batch.put_cf(self.cf(CF_TIMES), a.event.time_us.to_be_bytes(), key);
        batch.put_cf(self.cf(CF_META), META_HEAD, key);
        if let Some((did, state)) = a.account {
            batch.put_cf(self.cf(CF_ACCOUNTS), did.as_bytes(), json(state));
        }
        if let Some(host) = a.host {
            batch.put_cf(self.cf(CF_HOSTS), host.hostname.as_bytes(), json(host));
        }
        if let Some(key) = a.release {
            batch.delete_cf(self.cf(CF_HELD), key);
        }
        self.disk.check_for(batch.size_in_bytes() as u64)?;
        self.db.write_opt(batch, &self.write_opts)?;
        Ok(())
    }

    /// Holds `frame` (upstream seq `seq`, for `did`) from `host`, whose state (its cursor past
    /// the event) is written in the same batch.
    pub fn hold(&self, host: &HostState, did: &str, seq: i64, frame: &[u8]) -> Result<(), StoreError> {
        let mut key = held_prefix(&host.hostname, Some(did));
        key.extend_from_slice(&(seq as u64).to_be_bytes());
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_HELD), key, frame);
        batch.put_cf(self.cf(CF_HOSTS), host.hostname.as_bytes(), json(host));
        self.disk.check_for(batch.size_in_bytes() as u64)?;
        Ok(self.db.write_opt(batch, &self.write_opts)?)
    }

    /// The events held for `did` from `hostname` (every DID's with `None`), in upstream order
    /// per DID.
    pub fn held(&self, hostname: &str, did: Option<&str>) -> Result<Vec<HeldEvent>, StoreError> {
        let prefix = held_prefix(hostname, did);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_HELD), IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let rest = &k[held_prefix(hostname, None).len()..];
            let did = rest.get(..rest.len().saturating_sub(9)).and_then(|d| std::str::from_utf8(d).ok());
            let Some(did) = did else { return Err(StoreError::Corrupt { what: "held", why: "key".into() }) };
            out.push(HeldEvent { key: k.to_vec(), did: did.to_string(), frame: v.to_vec() });
        }
        Ok(out)
    }

    /// Deletes a held event that was dropped (for its own fault) when released.
    pub fn release_dropped(&self, key: &[u8]) -> Result<(), StoreError> {
        Ok(self.db.delete_cf_opt(self.cf(CF_HELD), key, &self.write_opts)?)
    }

    /// Sets the head: the next event is `seq + 1` (a restore's jump, see [`crate::backups`]).
    pub fn set_head(&self, seq: u64) -> Result<(), StoreError> {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(self.db.put_cf_opt(self.cf(CF_META), META_HEAD, seq.to_be_bytes(), &sync)?)
    }

    /// An online backup of the whole database into `dir`, `high_water` being the head now.
    pub fn backup(&self, high_water: u64, dir: &Path) -> Result<backup::Manifest, backup::BackupError> {
        backup::create(&self.db, "relay", high_water, dir, None, &|_| false)
    }

    /// Flushes the WAL to disk (fsync).
    pub fn sync_wal(&self) -> Result<(), StoreError> {
        Ok(self.db.flush_wal(true)?)
    }

    /// Up to `limit` events with `seq > after`, in order.
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let start = (after + 1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_EVENTS), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(k[..].try_into().map_err(|_| StoreError::Corrupt { what: "event key", why: "length".into() })?);
            out.push(StoredEvent::decode(seq, &v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The oldest retained event's sequence number.
    pub fn first_seq(&self) -> Result<Option<u64>, StoreError> {
        match self.db.iterator_cf(self.cf(CF_EVENTS), IteratorMode::Start).next() {
            Some(item) => {
                let (k, _) = item?;
                Ok(Some(u64::from_be_bytes(k[..].try_into().unwrap_or([0; 8]))))
            }
            None => Ok(None),
        }
    }

    /// The first retained event accepted at or after `time_us`.
    pub fn seq_at_or_after_time(&self, time_us: u64) -> Result<Option<u64>, StoreError> {
        let start = time_us.to_be_bytes();
        match self.db.iterator_cf(self.cf(CF_TIMES), IteratorMode::From(&start, Direction::Forward)).next() {
            Some(item) => {
                let (_, v) = item?;
                Ok(Some(u64::from_be_bytes(v[..].try_into().unwrap_or([0; 8]))))
            }
            None => Ok(None),
        }
    }

    /// Deletes every event with `seq < before` (and its time index entry). Returns the bytes
    /// and count freed.
    pub fn prune_before(&self, before: u64) -> Result<(u64, u64), StoreError> {
        let mut batch = WriteBatch::default();
        let (mut bytes, mut count) = (0u64, 0u64);
        for item in self.db.iterator_cf(self.cf(CF_EVENTS), IteratorMode::Start) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(k[..].try_into().unwrap_or([0; 8]));
            if seq >= before {
                break;
            }
            let ev = StoredEvent::decode(seq, &v)?;
            batch.delete_cf(self.cf(CF_EVENTS), k);
            batch.delete_cf(self.cf(CF_TIMES), ev.time_us.to_be_bytes());
            bytes += ev.stored_len();
            count += 1;
        }
        if count > 0 {
            self.db.write_opt(batch, &self.write_opts)?;
        }
        Ok((bytes, count))
    }

    /// Every retained event's (seq, time_us, stored length), oldest first.
    pub fn scan_sizes(&self) -> Result<Vec<(u64, u64, u64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_EVENTS), IteratorMode::Start) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(k[..].try_into().unwrap_or([0; 8]));
            let time_us = u64::from_be_bytes(v.get(..8).and_then(|s| s.try_into().ok()).unwrap_or([0; 8]));
            out.push((seq, time_us, (8 + v.len()) as u64));
        }
        Ok(out)
    }

    pub fn get_account(&self, did: &str) -> Result<Option<AccountState>, StoreError> {
        self.db.get_cf(self.cf(CF_ACCOUNTS), did.as_bytes())?.map(|v| from_json("account", &v)).transpose()
    }

    pub fn put_account(&self, did: &str, state: &AccountState) -> Result<(), StoreError> {
        self.disk.check()?;
        Ok(self.db.put_cf_opt(self.cf(CF_ACCOUNTS), did.as_bytes(), json(state), &self.write_opts)?)
    }

    /// Accounts with DID greater than `after`, in DID order.
    pub fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, AccountState)>, StoreError> {
        list(&self.db, self.cf(CF_ACCOUNTS), "account", after, limit)
    }

    pub fn get_host(&self, hostname: &str) -> Result<Option<HostState>, StoreError> {
        self.db.get_cf(self.cf(CF_HOSTS), hostname.as_bytes())?.map(|v| from_json("host", &v)).transpose()
    }

    pub fn put_host(&self, host: &HostState) -> Result<(), StoreError> {
        self.disk.check()?;
        Ok(self.db.put_cf_opt(self.cf(CF_HOSTS), host.hostname.as_bytes(), json(host), &self.write_opts)?)
    }

    pub fn list_hosts(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, HostState)>, StoreError> {
        list(&self.db, self.cf(CF_HOSTS), "host", after, limit)
    }
}

fn list<T: DeserializeOwned>(
    db: &DB,
    cf: &rocksdb::ColumnFamily,
    what: &'static str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, T)>, StoreError> {
    let mode = match after {
        Some(a) => IteratorMode::From(a.as_bytes(), Direction::Forward),
        None => IteratorMode::Start,
    };
    let mut out = Vec::new();
    for item in db.iterator_cf(cf, mode) {
        let (k, v) = item?;
        let key = String::from_utf8_lossy(&k).into_owned();
        if Some(key.as_str()) == after {
            continue;
        }
        out.push((key, from_json(what, &v)?));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> StoredEvent {
        StoredEvent { seq, time_us: 1000 + seq, kind: EventKind::Commit, did: "did:plc:a".into(), frame: vec![1, 2, 3].into() }
    }

    #[test]
    fn append_read_prune_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 0).unwrap();
            assert_eq!(store.head_seq().unwrap(), 0);
            let acct = AccountState { host: "h".into(), rev: Some("r".into()), ..Default::default() };
            for seq in 1..=10 {
                let mut host = HostState::new("h", true);
                host.cursor = seq as i64 * 2;
                store.append(AppendBatch { event: &event(seq), account: Some(("did:plc:a", &acct)), host: Some(&host), release: None }).unwrap();
            }
            assert_eq!(store.head_seq().unwrap(), 10);
            let evs = store.read_after(3, 4).unwrap();
            assert_eq!(evs.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
            assert_eq!(&evs[0].frame[..], &[1, 2, 3]);
            assert_eq!(store.seq_at_or_after_time(1005).unwrap(), Some(5));
            let (_, n) = store.prune_before(6).unwrap();
            assert_eq!(n, 5);
            assert_eq!(store.first_seq().unwrap(), Some(6));
            assert_eq!(store.seq_at_or_after_time(0).unwrap(), Some(6));
        }
        let store = Store::open(dir.path(), 0).unwrap();
        assert_eq!(store.head_seq().unwrap(), 10);
        assert_eq!(store.get_host("h").unwrap().unwrap().cursor, 20);
        assert_eq!(store.get_account("did:plc:a").unwrap().unwrap().rev.as_deref(), Some("r"));
        // Pruning everything keeps the head: sequence numbers are never reused.
        store.prune_before(100).unwrap();
        assert_eq!(store.head_seq().unwrap(), 10);
        assert_eq!(store.first_seq().unwrap(), None);
    }
}
