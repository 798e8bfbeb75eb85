//! Verifying a `#commit` event against the account's signing key, as a relay must before
//! forwarding it (Sync 1.1): every block hashes to its CID, the commit is for the event's
//! repository and rev and is signed by the key, every operation matches the new tree, record
//! blocks are present, and undoing the operations on the partial tree gives `prevData`.

use ::cid::Cid;

use super::{CommitEvent, SyncEvent};
use crate::blockstore::{BlockStore, MemoryBlockStore};
use crate::car::{CarError, CarLimits};
use crate::keys::PublicKey;
use crate::mst::invert::{invert, TreeOp};
use crate::mst::MstError;
use crate::repo::{Commit, CommitError};

#[derive(Debug, thiserror::Error)]
/// CIDs in the variants are text: an error carries them to be read, and `Cid`s would make
/// every `Result` of a verification several times larger.
pub enum VerifyError {
    #[error("tooBig commits cannot be verified")]
    TooBig,
    #[error("blocks: {0}")]
    Car(#[from] CarError),
    #[error("CAR root {root} is not the event's commit {commit}")]
    RootMismatch { root: String, commit: String },
    #[error("the commit block is missing from the CAR")]
    MissingCommit,
    #[error("commit: {0}")]
    Commit(#[from] CommitError),
    #[error("commit is for {commit}, event is for {event}")]
    RepoMismatch { event: String, commit: String },
    #[error("commit rev {commit} differs from event rev {event}")]
    RevMismatch { event: String, commit: String },
    #[error("operation {0}: {1}")]
    BadOp(String, &'static str),
    #[error("record block {1} for {0} is missing")]
    MissingRecord(String, String),
    #[error("event has no prevData, so its operations cannot be checked")]
    MissingPrevData,
    #[error("operations do not match the tree: {0}")]
    Inversion(#[from] MstError),
    #[error("undoing the operations gives {computed}, prevData is {expected}")]
    PrevDataMismatch { expected: String, computed: String },
}

/// A commit that passed verification, with its blocks for consumers that index records.
#[derive(Debug)]
pub struct VerifiedCommit {
    pub commit: Commit,
    pub blocks: MemoryBlockStore,
}

/// Verifies a `#sync` event: its CAR holds the signed commit for the event's DID and rev.
/// Consumers then reset their view of the account to this commit.
pub fn verify_sync(event: &SyncEvent, key: &PublicKey) -> Result<Commit, VerifyError> {
    Ok(signed_commit(&event.blocks, None, &event.did, &event.rev, key)?.0)
}

/// Reads a CAR slice, finds its root commit (which must be `expected_root` if given), checks
/// that it is for `did` at `rev`, and verifies its signature.
fn signed_commit(car_bytes: &[u8], expected_root: Option<Cid>, did: &str, rev: &str, key: &PublicKey) -> Result<(Commit, MemoryBlockStore), VerifyError> {
    let car = crate::car::read(car_bytes, CarLimits::firehose())?;
    let root = car.root()?;
    if let Some(commit) = expected_root.filter(|c| *c != root) {
        return Err(VerifyError::RootMismatch { root: root.to_string(), commit: commit.to_string() });
    }
    let blocks = car.into_store();
    let commit_bytes = blocks.get(&root).ok().flatten().ok_or(VerifyError::MissingCommit)?;
    let commit = Commit::decode(&commit_bytes)?;
    if commit.did != did {
        return Err(VerifyError::RepoMismatch { event: did.into(), commit: commit.did });
    }
    if commit.rev != rev {
        return Err(VerifyError::RevMismatch { event: rev.into(), commit: commit.rev });
    }
    commit.verify(key)?;
    Ok((commit, blocks))
}

/// Verifies a `#commit` event. `key` is the signing key from the account's DID document.
pub fn verify_commit(event: &CommitEvent, key: &PublicKey) -> Result<VerifiedCommit, VerifyError> {
    if event.too_big {
        return Err(VerifyError::TooBig);
    }
    let (commit, blocks) = signed_commit(&event.blocks, Some(event.commit), &event.repo, &event.rev, key)?;

    let prev_data = event.prev_data.ok_or(VerifyError::MissingPrevData)?;
    let mut ops = Vec::with_capacity(event.ops.len());
    for op in &event.ops {
        let bad = |why| VerifyError::BadOp(op.path.clone(), why);
        if !crate::mst::key::is_valid(&op.path) {
            return Err(bad("invalid path"));
        }
        let key = op.path.clone();
        let tree_op = match (op.action.as_str(), op.cid, op.prev) {
            ("create", Some(cid), None) => TreeOp::Create { key, cid },
            ("update", Some(cid), Some(prev)) => TreeOp::Update { key, cid, prev },
            ("delete", None, Some(prev)) => TreeOp::Delete { key, prev },
            ("create" | "update" | "delete", ..) => return Err(bad("cid/prev do not fit the action")),
            _ => return Err(bad("unknown action")),
        };
        if let Some(cid) = op.cid {
            if !blocks.has(&cid).unwrap_or(false) {
                return Err(VerifyError::MissingRecord(op.path.clone(), cid.to_string()));
            }
        }
        ops.push(tree_op);
    }
    let computed = invert(&blocks, commit.data, &ops)?;
    if computed != prev_data {
        return Err(VerifyError::PrevDataMismatch { expected: prev_data.to_string(), computed: computed.to_string() });
    }
    Ok(VerifiedCommit { commit, blocks })
}
