//! Repositories: a signed [`Commit`] over an [`Mst`] of records, kept in a block store.
//!
//! [`Repo::load`] opens a repository at a commit (e.g. from a `getRepo` CAR) and walks its
//! records; [`Repo::apply_writes`] makes the next signed commit and returns everything a PDS
//! stores and publishes for it: the new blocks, the operations with their previous values,
//! and the CAR slice a `#commit` event carries (new blocks plus covering proofs).

pub mod commit;

use ::cid::Cid;
use bytes::Bytes;
use ipld_core::ipld::Ipld;

pub use commit::{Commit, CommitError, UnsignedCommit};

use crate::blockstore::{BlockStore, BlockStoreError, MemoryBlockStore};
use crate::car::{CarError, CarLimits};
use crate::keys::Keypair;
use crate::mst::proof::Blocks;
use crate::mst::{Mst, MstError};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Car(#[from] CarError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Mst(#[from] MstError),
    #[error(transparent)]
    Store(#[from] BlockStoreError),
    #[error("record {0} does not decode: {1}")]
    Record(String, crate::cbor::CborError),
    #[error("record {0} already exists")]
    RecordExists(String),
    #[error("record {0} not found")]
    RecordNotFound(String),
    #[error("commit is for {found}, expected {expected}")]
    WrongDid { expected: String, found: String },
    #[error("new rev {new} is not after the current rev {current}")]
    RevNotIncreasing { current: String, new: String },
    #[error("prepared commits are waiting for their signatures")]
    CommitsPending,
    #[error("commit is not the next one this repository prepared")]
    NotPrepared,
}

/// A write to apply in a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordWrite {
    Create { collection: String, rkey: String, record: Ipld },
    Update { collection: String, rkey: String, record: Ipld },
    Delete { collection: String, rkey: String },
}

impl RecordWrite {
    pub fn path(&self) -> String {
        let (RecordWrite::Create { collection, rkey, .. } | RecordWrite::Update { collection, rkey, .. } | RecordWrite::Delete { collection, rkey }) = self;
        format!("{collection}/{rkey}")
    }
}

/// The kind of a repository operation, as the firehose names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// An applied operation: the record's new CID (none for deletes) and its previous CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedOp {
    pub action: Action,
    pub path: String,
    pub cid: Option<Cid>,
    pub prev: Option<Cid>,
}

/// Everything one commit produced.
#[derive(Debug, Clone)]
pub struct CommitData {
    pub cid: Cid,
    pub commit: Commit,
    /// The previous commit's rev (`since` on the firehose), none for the first commit.
    pub since: Option<String>,
    /// The previous MST root (`prevData` on the firehose).
    pub prev_data: Option<Cid>,
    pub ops: Vec<AppliedOp>,
    /// Blocks new to the store: the commit, new MST nodes and new records.
    pub new_blocks: Vec<(Cid, Bytes)>,
    /// MST nodes of the previous tree that the new one no longer uses. (Records that left the
    /// tree are the `prev` of the ops; whether their blocks can go depends on whether the store
    /// shares blocks between identical records.)
    pub removed_nodes: Vec<Cid>,
    /// The `#commit` event's CAR slice: new blocks plus covering proofs for every op.
    pub relevant_blocks: Blocks,
}

impl CommitData {
    /// The CAR bytes a `#commit` event carries, rooted at the commit.
    pub fn car_slice(&self) -> Vec<u8> {
        crate::car::write(&[self.cid], self.relevant_blocks.iter().map(|(c, b)| (c, b.as_ref())))
    }

    /// The `#commit` firehose event for this commit (Sync 1.1: `prevData`, `prev` on ops).
    pub fn commit_event(&self, seq: i64, time: String, blobs: Vec<Cid>) -> crate::firehose::CommitEvent {
        crate::firehose::CommitEvent {
            seq,
            rebase: false,
            too_big: false,
            repo: self.commit.did.clone(),
            commit: self.cid,
            rev: self.commit.rev.clone(),
            since: self.since.clone(),
            blocks: self.car_slice(),
            ops: self
                .ops
                .iter()
                .map(|op| crate::firehose::RepoOp { action: op.action.as_str().into(), path: op.path.clone(), cid: op.cid, prev: op.prev })
                .collect(),
            blobs,
            prev_data: self.prev_data,
            time,
        }
    }
}

/// A commit whose writes are in the tree but which is not signed yet
/// ([`Repo::prepare_commit`]); it carries everything [`CommitData`] will, except the commit
/// block.
#[derive(Debug)]
pub struct PreparedCommit {
    unsigned: UnsignedCommit,
    since: String,
    prev_data: Cid,
    ops: Vec<AppliedOp>,
    new_blocks: Vec<(Cid, Bytes)>,
    removed_nodes: Vec<Cid>,
    relevant_blocks: Blocks,
}

impl PreparedCommit {
    /// SHA-256 of the unsigned commit's DAG-CBOR: what the account's key signs.
    pub fn signing_digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(crate::cbor::encode(&self.unsigned).expect("commit encodes")).into()
    }
}

/// A repository at one commit.
pub struct Repo<S> {
    pub commit: Commit,
    pub commit_cid: Cid,
    mst: Mst<S>,
    /// Revs of prepared commits awaiting their signatures, oldest first.
    pending: std::collections::VecDeque<String>,
}

impl Repo<MemoryBlockStore> {
    /// Opens a repository exported as a CAR (`com.atproto.sync.getRepo`).
    pub fn from_car(bytes: &[u8], limits: CarLimits) -> Result<Self, RepoError> {
        let car = crate::car::read(bytes, limits)?;
        let root = car.root()?;
        Repo::load(car.into_store(), root)
    }
}

impl<S: BlockStore> Repo<S> {
    /// Opens the repository whose commit block is `commit_cid` in `store`.
    pub fn load(store: S, commit_cid: Cid) -> Result<Self, RepoError> {
        let commit = Commit::decode(&store.require(&commit_cid)?)?;
        let mst = Mst::load(store, commit.data)?;
        Ok(Repo { commit, commit_cid, mst, pending: Default::default() })
    }

    /// Makes the first commit of a new, empty repository.
    pub fn create(store: S, did: &str, key: &Keypair, rev: &str) -> (Self, CommitData) {
        let mut mst = Mst::new(store);
        let data = mst.root();
        let commit = UnsignedCommit::new(did, data, rev).sign(key);
        let cid = commit.cid();
        let mut new_blocks = mst.take_new_blocks();
        new_blocks.push((cid, commit.encode().into()));
        let relevant_blocks = new_blocks.iter().cloned().collect();
        let data =
            CommitData { cid, commit: commit.clone(), since: None, prev_data: None, ops: vec![], new_blocks, removed_nodes: Vec::new(), relevant_blocks };
        (Repo { commit, commit_cid: cid, mst, pending: Default::default() }, data)
    }

    pub fn did(&self) -> &str {
        &self.commit.did
    }

    pub fn mst(&mut self) -> &mut Mst<S> {
        &mut self.mst
    }

    pub fn store(&self) -> &S {
        self.mst.store()
    }

    /// The CID of the record at `collection/rkey`.
    pub fn record_cid(&mut self, path: &str) -> Result<Option<Cid>, RepoError> {
        Ok(self.mst.get(path)?)
    }

    /// The record at `collection/rkey`, decoded.
    pub fn record(&mut self, path: &str) -> Result<Option<(Cid, Ipld)>, RepoError> {
        let Some(cid) = self.mst.get(path)? else { return Ok(None) };
        let bytes = self.mst.store().require(&cid)?;
        let value = crate::cbor::decode_value(&bytes).map_err(|e| RepoError::Record(path.into(), e))?;
        Ok(Some((cid, value)))
    }

    /// Every record path and CID, in key order.
    pub fn records(&mut self) -> Result<Vec<(String, Cid)>, RepoError> {
        Ok(self.mst.entries()?)
    }

    /// Applies `writes` atomically and signs the next commit with `rev`, which must sort after
    /// the current rev. The repository moves to the new commit; the caller stores `new_blocks`.
    /// Invalid writes (creating an existing record, updating or deleting a missing one) are
    /// refused before anything changes.
    pub fn apply_writes(&mut self, writes: &[RecordWrite], key: &Keypair, rev: &str) -> Result<CommitData, RepoError> {
        if !self.pending.is_empty() {
            return Err(RepoError::CommitsPending);
        }
        let prepared = self.prepare_commit(writes, rev)?;
        let sig = key.sign_digest(&prepared.signing_digest());
        self.finish_commit(prepared, sig)
    }

    /// The first half of [`Repo::apply_writes`]: applies `writes` to the tree and returns the
    /// commit still to be signed, so that a caller can sign many commits in one batch
    /// ([`crate::keys::sign_digests`]). Further commits may be prepared on top of it; all must
    /// then be finished, in the order they were prepared, by [`Repo::finish_commit`].
    pub fn prepare_commit(&mut self, writes: &[RecordWrite], rev: &str) -> Result<PreparedCommit, RepoError> {
        let current = self.pending.back().unwrap_or(&self.commit.rev);
        if rev <= current.as_str() {
            return Err(RepoError::RevNotIncreasing { current: current.clone(), new: rev.into() });
        }
        let since = current.clone();
        let records = self.check_writes(writes)?;
        let prev_data = self.mst.root();
        let mut ops = Vec::with_capacity(writes.len());
        for (write, record) in writes.iter().zip(&records) {
            let path = write.path();
            let op = match (write, record) {
                (RecordWrite::Delete { .. }, _) => AppliedOp { action: Action::Delete, cid: None, prev: self.mst.delete(&path)?, path },
                (RecordWrite::Create { .. }, Some((cid, _))) => {
                    self.mst.insert(&path, *cid)?;
                    AppliedOp { action: Action::Create, cid: Some(*cid), prev: None, path }
                }
                (_, record) => {
                    let cid = record.as_ref().expect("updates carry a record").0;
                    AppliedOp { action: Action::Update, cid: Some(cid), prev: self.mst.insert(&path, cid)?, path }
                }
            };
            ops.push(op);
        }
        let unsigned = UnsignedCommit::new(self.commit.did.clone(), self.mst.root(), rev);
        let mut new_blocks = self.mst.take_new_blocks();
        let removed_nodes = self.mst.take_removed();
        new_blocks.extend(records.into_iter().flatten());
        let mut relevant_blocks: Blocks = new_blocks.iter().cloned().collect();
        for op in &ops {
            self.mst.covering_proof(&op.path, &mut relevant_blocks)?;
        }
        self.pending.push_back(unsigned.rev.clone());
        Ok(PreparedCommit { unsigned, since, prev_data, ops, new_blocks, removed_nodes, relevant_blocks })
    }

    /// The second half of [`Repo::apply_writes`]: adds the signature over
    /// [`PreparedCommit::signing_digest`] and moves the repository to the new commit.
    pub fn finish_commit(&mut self, prepared: PreparedCommit, sig: [u8; 64]) -> Result<CommitData, RepoError> {
        if self.pending.front() != Some(&prepared.unsigned.rev) || prepared.unsigned.did != self.commit.did {
            return Err(RepoError::NotPrepared);
        }
        self.pending.pop_front();
        let PreparedCommit { unsigned, since, prev_data, ops, mut new_blocks, removed_nodes, mut relevant_blocks } = prepared;
        let commit = unsigned.with_sig(sig.to_vec());
        let commit_block = Bytes::from(commit.encode());
        let cid = crate::cid::for_cbor(&commit_block);
        new_blocks.push((cid, commit_block.clone()));
        relevant_blocks.insert(cid, commit_block);
        self.commit = commit.clone();
        self.commit_cid = cid;
        Ok(CommitData { cid, commit, since: Some(since), prev_data: Some(prev_data), ops, new_blocks, removed_nodes, relevant_blocks })
    }

    /// Checks every write against the tree as the earlier writes leave it, and encodes the
    /// records, without changing anything.
    fn check_writes(&mut self, writes: &[RecordWrite]) -> Result<Vec<Option<(Cid, Bytes)>>, RepoError> {
        let mut exists = std::collections::HashMap::new();
        let mut records = Vec::with_capacity(writes.len());
        for write in writes {
            let path = write.path();
            let present = match exists.get(&path) {
                Some(present) => *present,
                None => self.mst.get(&path)?.is_some(),
            };
            let record = match (write, present) {
                (RecordWrite::Create { .. }, true) => return Err(RepoError::RecordExists(path)),
                (RecordWrite::Update { .. } | RecordWrite::Delete { .. }, false) => return Err(RepoError::RecordNotFound(path)),
                (RecordWrite::Create { record, .. } | RecordWrite::Update { record, .. }, _) => {
                    let bytes = crate::cbor::encode(record).map_err(|e| RepoError::Record(path.clone(), e))?;
                    Some((crate::cid::for_cbor(&bytes), Bytes::from(bytes)))
                }
                (RecordWrite::Delete { .. }, _) => None,
            };
            if !crate::mst::key::is_valid(&path) {
                return Err(RepoError::Mst(MstError::InvalidKey(path)));
            }
            exists.insert(path, record.is_some());
            records.push(record);
        }
        Ok(records)
    }
}
