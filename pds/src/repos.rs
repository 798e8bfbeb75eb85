//! The repository write path: per-DID serialisation, commits, and the atomic batch that
//! carries a commit's blocks, the records index, the new root, blob references and the
//! `#commit` event.
//!
//! Each DID has an async mutex holding its loaded [`Repo`] (the MST nodes it has read stay
//! cached). A write takes the mutex, checks swaps, applies the writes in memory, and commits
//! the batch through the group committer; the mutex is released only once the commit is
//! durable, so the next write to the repo builds on an acknowledged state. Different
//! repositories write in parallel and share fsyncs.

use std::collections::HashMap;
use std::sync::Arc;

use atproto::blockstore::BlockStore;
use atproto::firehose::SubscribeReposFrame;
use atproto::keys::Keypair;
use atproto::repo::{CommitData, RecordWrite, Repo, RepoError};
use atproto::syntax::{Tid, TidGenerator};
use atproto::{Cid, Ipld};
use rocksdb::WriteBatch;
use tokio::sync::Mutex;

use crate::store::{DbBlocks, EventBody, Store, StoreError, CF_REPOS};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    InvalidSwap(String),
    #[error("could not find repo: {0}")]
    RepoNotFound(String),
    #[error("could not find blob: {0}")]
    BlobNotFound(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A repository read from a CAR for `importRepo`: its tree's nodes (rebuilt canonically),
/// its records `(path, cid, bytes)`, and the blobs they reference `(path, blob)`.
pub struct ImportedRepo {
    pub data: Cid,
    pub nodes: Vec<(Cid, bytes::Bytes)>,
    pub records: Vec<(String, Cid, bytes::Bytes)>,
    pub blobs: Vec<(String, Cid)>,
}

/// A swap condition: the record at `path` must currently have this CID (`None`: be absent).
#[derive(Debug, Clone)]
pub struct SwapRecord {
    pub path: String,
    pub cid: Option<Cid>,
}

type Slot = Arc<Mutex<Option<Repo<DbBlocks>>>>;

pub struct Repos {
    store: Arc<Store>,
    /// `PDS_BLOBSTORE_DISK_LOCATION`: blobs no record references any more are removed.
    blob_dir: std::path::PathBuf,
    tids: TidGenerator,
    slots: std::sync::Mutex<HashMap<String, Slot>>,
}

/// The cache keeps at most this many idle repositories loaded.
const MAX_CACHED: usize = 2048;

pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Repos {
    pub fn new(store: Arc<Store>, blob_dir: std::path::PathBuf) -> Repos {
        Repos { store, blob_dir, tids: TidGenerator::new(), slots: Default::default() }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn slot(&self, did: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap();
        if slots.len() > MAX_CACHED {
            slots.retain(|_, s| Arc::strong_count(s) > 1);
        }
        slots.entry(did.to_string()).or_default().clone()
    }

    /// A fresh rev, after `current`.
    fn next_rev(&self, current: Option<&str>) -> String {
        if let Some(tid) = current.and_then(|c| c.parse::<Tid>().ok()) {
            self.tids.advance_past(&tid);
        }
        self.tids.next().to_string()
    }

    /// Makes the first commit of `did`'s new repository. `extra` adds the caller's rows to the
    /// same batch; `events` (e.g. `#identity`, `#account`) are sequenced first, then `#sync`.
    pub async fn create(
        &self,
        did: &str,
        key: &Keypair,
        extra: impl FnOnce(&Store, &mut WriteBatch),
        mut events: Vec<EventBody>,
    ) -> Result<CommitData, WriteError> {
        let slot = self.slot(did);
        let mut guard = slot.lock().await;
        let blocks = DbBlocks::new(self.store.db.clone(), did);
        let rev = self.next_rev(None);
        let (repo, data) = Repo::create(blocks.clone(), did, key, &rev);
        let mut batch = WriteBatch::default();
        blocks.put_all(&mut batch, &rev, &data.new_blocks);
        self.store.put_repo_root(&mut batch, did, &data.cid, &rev);
        extra(&self.store, &mut batch);
        events.push(sync_event(did, data.cid, data.commit.encode(), &rev));
        self.store.commit(batch, events).await?;
        *guard = Some(repo);
        Ok(data)
    }

    /// Applies `writes` to `did`'s repository as one commit.
    pub async fn write(
        &self,
        did: &str,
        key: &Keypair,
        writes: Vec<RecordWrite>,
        swap_commit: Option<Cid>,
        swap_records: Vec<SwapRecord>,
    ) -> Result<CommitData, WriteError> {
        let started = std::time::Instant::now();
        let slot = self.slot(did);
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.load(did)?);
        }
        let repo = guard.as_mut().expect("loaded");
        if let Some(expected) = swap_commit {
            if repo.commit_cid != expected {
                return Err(WriteError::InvalidSwap(format!("Commit was at {}", repo.commit_cid)));
            }
        }
        for swap in &swap_records {
            let current = repo.record_cid(&swap.path)?;
            if current != swap.cid {
                let msg = match current {
                    Some(c) => format!("Record was at {c}"),
                    None => "Record was at null".to_string(),
                };
                return Err(WriteError::InvalidSwap(msg));
            }
        }
        // Blob references: every blob a new record points at must have been uploaded.
        let mut blob_refs: Vec<(String, Cid)> = Vec::new();
        for w in &writes {
            if let RecordWrite::Create { record, .. } | RecordWrite::Update { record, .. } = w {
                let mut found = Vec::new();
                collect_blobs(record, &mut found);
                for cid in found {
                    if self.store.blob(did, &cid.to_string())?.is_none_or(|m| m.missing) {
                        return Err(WriteError::BlobNotFound(cid.to_string()));
                    }
                    blob_refs.push((w.path(), cid));
                }
            }
        }
        let rev = self.next_rev(Some(&repo.commit.rev));
        let data = match repo.apply_writes(&writes, key, &rev) {
            Ok(d) => d,
            Err(e) => {
                // apply_writes refuses invalid writes before changing anything, but a store
                // error midway could leave the in-memory tree ahead of the disk: reload.
                if !matches!(e, RepoError::RecordExists(_) | RepoError::RecordNotFound(_)) {
                    *guard = None;
                }
                return Err(e.into());
            }
        };
        let mut batch = WriteBatch::default();
        let blocks = DbBlocks::new(self.store.db.clone(), did);
        blocks.put_all(&mut batch, &rev, &data.new_blocks);
        for op in &data.ops {
            match op.cid {
                Some(cid) => self.store.index_put(&mut batch, did, &op.path, &cid),
                None => self.store.index_delete(&mut batch, did, &op.path),
            }
        }
        // Records replaced or deleted release the blobs they referenced.
        let mut released = Vec::new();
        for op in &data.ops {
            if let Some(prev) = op.prev {
                let bytes = repo.store().require(&prev).map_err(RepoError::from)?;
                let old = atproto::cbor::decode_value(&bytes).map_err(|e| RepoError::Record(op.path.clone(), e))?;
                let mut found = Vec::new();
                collect_blobs(&old, &mut found);
                released.extend(found.into_iter().map(|c| (op.path.clone(), c)));
            }
        }
        let unreferenced = self.store.move_blob_refs(&mut batch, did, &released, &blob_refs, &rev)?;
        self.store.put_repo_root(&mut batch, did, &data.cid, &rev);
        let event = commit_event(did, &data, blob_refs.iter().map(|(_, c)| *c).collect());
        let result = self.store.commit(batch, vec![event]).await;
        if let Err(e) = result {
            *guard = None;
            return Err(e.into());
        }
        for cid in unreferenced {
            crate::blob_gc::remove_file(&self.blob_dir, did, &cid).await;
        }
        metrics::counter!("pds_repo_commits_total").increment(1);
        metrics::histogram!("pds_repo_write_seconds").record(started.elapsed().as_secs_f64());
        Ok(data)
    }

    /// Replaces `did`'s repository with `imported`, signed by `key` under a fresh rev, in one
    /// batch: blocks, records index, blob references (blobs not uploaded yet are recorded as
    /// missing), root, and a `#sync` event.
    pub async fn import(&self, did: &str, key: &Keypair, imported: ImportedRepo) -> Result<atproto::repo::Commit, WriteError> {
        let mut guard = self.exclusive(did).await;
        let current = self.store.repo_root(did)?;
        let rev = self.next_rev(current.as_ref().map(|r| r.rev.as_str()));
        let commit = atproto::repo::UnsignedCommit::new(did, imported.data, rev.clone()).sign(key);
        let commit_cid = commit.cid();
        let commit_bytes = commit.encode();
        let mut batch = WriteBatch::default();
        let blocks = DbBlocks::new(self.store.db.clone(), did);
        blocks.delete_all(&mut batch);
        let mut all: Vec<(Cid, bytes::Bytes)> = imported.nodes;
        all.extend(imported.records.iter().map(|(_, c, b)| (*c, b.clone())));
        all.push((commit_cid, commit_bytes.clone().into()));
        blocks.put_all(&mut batch, &rev, &all);
        self.store.index_delete_all(&mut batch, did);
        for (path, cid, _) in &imported.records {
            self.store.index_put(&mut batch, did, path, cid);
        }
        // Blob references start over from the imported records.
        let mut metas: HashMap<String, crate::store::blobs::BlobMeta> = HashMap::new();
        for (cid, mut meta) in self.store.list_blobs(did, None, usize::MAX)? {
            meta.refs.clear();
            metas.insert(cid, meta);
        }
        for (path, blob) in &imported.blobs {
            let meta = metas.entry(blob.to_string()).or_insert_with(|| crate::store::blobs::BlobMeta::missing(path.clone(), &rev));
            if !meta.refs.contains(path) {
                meta.refs.push(path.clone());
            }
            meta.rev.get_or_insert_with(|| rev.clone());
        }
        for (cid, meta) in &metas {
            if meta.missing && meta.refs.is_empty() {
                self.store.delete_blob(&mut batch, did, cid);
            } else {
                self.store.put_blob(&mut batch, did, cid, meta);
            }
        }
        self.store.put_repo_root(&mut batch, did, &commit_cid, &rev);
        let sync = sync_event(did, commit_cid, commit_bytes, &rev);
        self.store.commit(batch, vec![sync]).await?;
        *guard = None;
        Ok(commit)
    }

    /// Runs `f` on `did`'s loaded repository (for proofs), under its lock.
    pub async fn with_repo<T>(&self, did: &str, f: impl FnOnce(&mut Repo<DbBlocks>) -> Result<T, WriteError>) -> Result<T, WriteError> {
        let slot = self.slot(did);
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.load(did)?);
        }
        f(guard.as_mut().expect("loaded"))
    }

    /// Drops `did`'s cached repository (after deletion or import).
    pub async fn forget(&self, did: &str) {
        *self.exclusive(did).await = None;
    }

    /// Holds `did`'s write lock: no write to the repository runs until the guard is dropped.
    /// Whoever replaces or removes the repository on disk sets the guard to `None`.
    pub async fn exclusive(&self, did: &str) -> tokio::sync::OwnedMutexGuard<Option<Repo<DbBlocks>>> {
        self.slot(did).lock_owned().await
    }

    fn load(&self, did: &str) -> Result<Repo<DbBlocks>, WriteError> {
        let root = self.store.repo_root(did)?.ok_or_else(|| WriteError::RepoNotFound(did.into()))?;
        let cid = atproto::cid::parse(&root.cid).map_err(|e| StoreError::Corrupt { what: CF_REPOS, why: e.to_string() })?;
        Ok(Repo::load(DbBlocks::new(self.store.db.clone(), did), cid)?)
    }
}

/// A `#sync` event carrying `did`'s current commit, or `None` when it has no repository.
pub fn current_sync_event(store: &Store, did: &str) -> Result<Option<EventBody>, StoreError> {
    let Some(root) = store.repo_root(did)? else {
        return Ok(None);
    };
    let corrupt = |why: String| StoreError::Corrupt { what: CF_REPOS, why };
    let cid = atproto::cid::parse(&root.cid).map_err(|e| corrupt(e.to_string()))?;
    let block = DbBlocks::new(store.db.clone(), did).require(&cid).map_err(|e| corrupt(format!("{did}'s commit: {e}")))?;
    Ok(Some(sync_event(did, cid, block.to_vec(), &root.rev)))
}

/// A `#sync` event announcing `did`'s repository at this commit (creation, import,
/// activation, restore).
pub fn sync_event(did: &str, cid: Cid, commit_bytes: Vec<u8>, rev: &str) -> EventBody {
    let (did, rev) = (did.to_string(), rev.to_string());
    Box::new(move |seq| {
        SubscribeReposFrame::Sync(atproto::firehose::SyncEvent {
            seq,
            did,
            blocks: atproto::car::write(&[cid], [(&cid, commit_bytes.as_slice())]),
            rev,
            time: now_iso(),
        })
        .encode()
    })
}

/// The `#commit` event for `data`, as relays verify it.
fn commit_event(did: &str, data: &CommitData, blobs: Vec<Cid>) -> EventBody {
    debug_assert_eq!(data.commit.did, did);
    let event = data.commit_event(0, now_iso(), blobs);
    Box::new(move |seq| {
        let mut event = event;
        event.seq = seq;
        SubscribeReposFrame::Commit(event).encode()
    })
}

/// Blob CIDs referenced by a record: `{$type: "blob", ref: <link>}` anywhere inside it.
pub fn collect_blobs(value: &Ipld, out: &mut Vec<Cid>) {
    match value {
        Ipld::Map(m) => {
            if matches!(m.get("$type"), Some(Ipld::String(t)) if t == "blob") {
                if let Some(Ipld::Link(cid)) = m.get("ref") {
                    out.push(*cid);
                    return;
                }
            }
            m.values().for_each(|v| collect_blobs(v, out));
        }
        Ipld::List(l) => l.iter().for_each(|v| collect_blobs(v, out)),
        _ => {}
    }
}
