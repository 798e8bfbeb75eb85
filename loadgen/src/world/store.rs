//! What the world keeps of one repository, shared by the generator (which commits to it) and
//! the host that serves it (`getRepo`, `getLatestCommit`, `listRepos`).
//!
//! Memory is what limits a world's size, so only what the generator cannot recompute is kept:
//! the live MST nodes (superseded ones are dropped at each commit), the current commit, and
//! the records written since the world started, all keyed by their 32-byte digest. The
//! records an account starts with are regenerated from the seed when `getRepo` asks for them
//! ([`super::account::initial_records`]); the generator never reads a record.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use atproto::blockstore::{BlockStore, BlockStoreError, MemoryBlockStore};
use atproto::cid::{digest, from_digest, DAG_CBOR};
use atproto::repo::CommitData;
use atproto::Cid;
use bytes::Bytes;

type Digest = [u8; 32];

/// The head of a repository.
#[derive(Debug, Clone)]
pub struct Head {
    pub cid: Cid,
    pub rev: String,
    pub records: u64,
}

struct Blocks {
    head: Head,
    commit: Bytes,
    /// Live MST nodes.
    nodes: HashMap<Digest, Box<[u8]>>,
    /// Records written during the run (a deleted one may linger; exports skip it).
    records: HashMap<Digest, Box<[u8]>>,
}

/// One repository's blocks and head, behind one lock so readers see a consistent state.
#[derive(Clone)]
pub struct SharedRepo(Arc<RwLock<Blocks>>);

/// A consistent copy of a repository for export.
pub struct RepoSnapshot {
    pub head: Head,
    pub commit: Bytes,
    /// The MST nodes, as a store the tree can be walked in.
    pub nodes: MemoryBlockStore,
    pub records: HashMap<Cid, Bytes>,
}

fn key(cid: &Cid) -> Option<Digest> {
    digest(cid).filter(|_| cid.codec() == DAG_CBOR)
}

impl SharedRepo {
    /// A repository whose commit `commit_cid` (with block `commit`) is over the tree `nodes`.
    pub fn new(commit_cid: Cid, commit: Bytes, rev: String, records: u64, nodes: Vec<(Cid, Bytes)>) -> Self {
        let nodes = nodes.into_iter().filter_map(|(c, b)| Some((key(&c)?, Box::from(b.as_ref())))).collect();
        let head = Head { cid: commit_cid, rev, records };
        SharedRepo(Arc::new(RwLock::new(Blocks { head, commit, nodes, records: HashMap::new() })))
    }

    pub fn head(&self) -> Head {
        self.0.read().expect("repo lock").head.clone()
    }

    /// Moves the repository to a new commit: its nodes and records in, replaced nodes out.
    pub fn apply(&self, data: &CommitData, records: i64) {
        let mut b = self.0.write().expect("repo lock");
        let record_cids: Vec<Cid> = data.ops.iter().filter_map(|op| op.cid).collect();
        for (cid, bytes) in &data.new_blocks {
            let Some(k) = key(cid) else { continue };
            if *cid == data.cid {
                b.commit = bytes.clone();
            } else if record_cids.contains(cid) {
                b.records.insert(k, Box::from(bytes.as_ref()));
            } else {
                b.nodes.insert(k, Box::from(bytes.as_ref()));
            }
        }
        for cid in &data.removed_nodes {
            if let Some(k) = key(cid) {
                b.nodes.remove(&k);
            }
        }
        b.head = Head { cid: data.cid, rev: data.commit.rev.clone(), records: (b.head.records as i64 + records) as u64 };
    }

    /// A copy of everything kept, taken under one lock.
    pub fn snapshot(&self) -> RepoSnapshot {
        let b = self.0.read().expect("repo lock");
        let cid = |k: &Digest| from_digest(DAG_CBOR, k);
        RepoSnapshot {
            head: b.head.clone(),
            commit: b.commit.clone(),
            nodes: b.nodes.iter().map(|(k, v)| (cid(k), Bytes::copy_from_slice(v))).collect(),
            records: b.records.iter().map(|(k, v)| (cid(k), Bytes::copy_from_slice(v))).collect(),
        }
    }

    /// Live MST nodes kept (for tests and figures).
    pub fn node_count(&self) -> usize {
        self.0.read().expect("repo lock").nodes.len()
    }
}

impl BlockStore for SharedRepo {
    fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockStoreError> {
        let b = self.0.read().expect("repo lock");
        if *cid == b.head.cid {
            return Ok(Some(b.commit.clone()));
        }
        let Some(k) = key(cid) else { return Ok(None) };
        Ok(b.nodes.get(&k).or_else(|| b.records.get(&k)).map(|v| Bytes::copy_from_slice(v)))
    }
}
