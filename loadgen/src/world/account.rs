//! Accounts of the synthetic network: a seeded k256 or p256 key, a `did:plc` from a real
//! signed genesis operation naming the account's host as its PDS, and a repository grown to
//! its starting size in one signed commit. The starting records are a pure function of the
//! seed ([`initial_records`]), so the world keeps only their tree, not their blocks.

use std::collections::HashMap;
use std::sync::Arc;

use atproto::blockstore::MemoryBlockStore;
use atproto::did_doc::DidDocument;
use atproto::keys::{KeyType, Keypair};
use atproto::mst::Mst;
use atproto::plc::{PlcState, SignedOp};
use atproto::repo::{Repo, RepoError, UnsignedCommit};
use atproto::syntax::Tid;
use atproto::{Cid, Ipld};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::records;
use super::store::SharedRepo;
use crate::model::{Collection, TrafficModel};

/// What hosts and observers know about an account.
#[derive(Debug, Clone)]
pub struct Identity {
    pub did: String,
    pub handle: String,
    pub host: usize,
    pub key_type: KeyType,
    pub doc: DidDocument,
    pub genesis: SignedOp,
}

/// Everything an account's starting repository follows from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub index: usize,
    /// Records besides the profile.
    pub records: u32,
    pub seed: u64,
    pub epoch_micros: u64,
    pub model: Arc<TrafficModel>,
}

/// An account's writable state, owned by the generator.
pub struct AccountState {
    pub key: Keypair,
    pub repo: Repo<SharedRepo>,
    pub shared: SharedRepo,
    /// Existing record keys by collection, for deletes (TIDs as integers: a string each
    /// would cost more than the rest of the account).
    pub rkeys: HashMap<Collection, Vec<u64>>,
    /// The last TID timestamp used in this repository (revs and rkeys).
    pub last_micros: u64,
}

impl AccountState {
    /// The next TID for this repository: after `at_micros` and after every earlier one.
    pub fn next_tid(&mut self, at_micros: u64, clock_id: u16) -> Tid {
        self.last_micros = at_micros.max(self.last_micros + 1);
        Tid::from_parts(self.last_micros, clock_id)
    }
}

/// The per-account random stream: independent of how accounts are spread over threads.
pub fn account_rng(seed: u64, index: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index as u64).wrapping_add(0xacc0))
}

/// The account's key, and its random stream as the key leaves it.
fn keyed_rng(origin: &Origin) -> (Keypair, ChaCha8Rng) {
    let mut rng = account_rng(origin.seed, origin.index);
    let key_type = if rng.gen_bool(origin.model.p256_fraction) { KeyType::P256 } else { KeyType::K256 };
    (Keypair::generate_with(key_type, &mut rng), rng)
}

/// The records account `origin.index` (DID `did`) starts with, in creation order: its
/// profile, then `origin.records` records drawn from the collection mix, TIDs spread over
/// the year before the epoch. Yields `(collection, rkey, record)`.
pub fn initial_records<'a>(origin: &'a Origin, did: &'a str) -> impl Iterator<Item = (Collection, String, Ipld)> + 'a {
    records_from(keyed_rng(origin).1, origin, did)
}

fn records_from<'a>(mut rng: ChaCha8Rng, origin: &'a Origin, did: &'a str) -> impl Iterator<Item = (Collection, String, Ipld)> + 'a {
    let w = &origin.model.collections;
    let w = [w.like, w.post, w.repost, w.follow, w.block, w.other];
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    let cdf = w.map(|x| {
        acc += x / total;
        acc
    });
    let clock_id = (origin.index % 1024) as u16;
    let span = 365 * 86_400 * 1_000_000u64;
    let step = span / (origin.records as u64 + 1);
    let created = "2026-01-01T00:00:00.000Z";
    (0..=origin.records as u64).map(move |j| {
        let (collection, rkey) = match j {
            0 => (Collection::Profile, "self".to_string()),
            j => {
                let u: f64 = rng.gen();
                let collection = Collection::CREATED[cdf.iter().position(|&c| u < c).unwrap_or(5)];
                (collection, Tid::from_parts(origin.epoch_micros - span + (j - 1) * step, clock_id).to_string())
            }
        };
        let record = records::record(collection, &mut rng, created, did, &rkey);
        (collection, rkey, record)
    })
}

/// The encoded block and CID of a record.
pub fn record_block(path: &str, record: &Ipld) -> Result<(Cid, Bytes), RepoError> {
    let bytes = atproto::cbor::encode(record).map_err(|e| RepoError::Record(path.into(), e))?;
    Ok((atproto::cid::for_cbor(&bytes), bytes.into()))
}

/// Creates the account `origin.index` on `host` (whose base URL is `pds_url`).
pub fn create(origin: &Origin, host: usize, pds_url: &str) -> Result<(Identity, AccountState), RepoError> {
    let (key, rng) = keyed_rng(origin);
    let handle = format!("u{}.h{host}.test", origin.index);
    let state = PlcState::atproto(vec![key.did_key()], &key.did_key(), &handle, pds_url);
    let (did, genesis) = atproto::plc::sign::genesis(state.clone(), &key);
    let doc = DidDocument::from_plc_state(&did, &state);

    // Grow the starting tree in memory, then sign one commit over it.
    let mut mst = Mst::new(MemoryBlockStore::new());
    let mut rkeys: HashMap<Collection, Vec<u64>> = HashMap::new();
    for (collection, rkey, record) in records_from(rng, origin, &did) {
        let path = format!("{}/{rkey}", collection.nsid());
        mst.add(&path, record_block(&path, &record)?.0)?;
        if collection != Collection::Profile {
            let tid: Tid = rkey.parse().expect("generated TIDs parse");
            rkeys.entry(collection).or_default().push(tid.to_u64());
        }
    }
    let root = mst.root();
    let clock_id = (origin.index % 1024) as u16;
    let rev = Tid::from_parts(origin.epoch_micros - 1, clock_id);
    let commit = UnsignedCommit::new(did.clone(), root, rev.as_str()).sign(&key);
    let commit_cid = commit.cid();
    let shared = SharedRepo::new(commit_cid, commit.encode().into(), rev.to_string(), origin.records as u64 + 1, mst.take_new_blocks());
    let repo = Repo::load(shared.clone(), commit_cid)?;
    let identity = Identity { did, handle, host, key_type: key.key_type(), doc, genesis };
    Ok((identity, AccountState { key, repo, shared, rkeys, last_micros: origin.epoch_micros - 1 }))
}

/// The repository as a `getRepo` CAR: the commit, the tree, and every live record (the
/// starting ones regenerated).
pub fn repo_car(shared: &SharedRepo, origin: &Origin, did: &str) -> Result<Vec<u8>, RepoError> {
    let snap = shared.snapshot();
    let commit = atproto::repo::Commit::decode(&snap.commit)?;
    let leaves = atproto::mst::diff::leaves(&snap.nodes, commit.data)?;
    let mut records: Vec<(Cid, Bytes)> = Vec::with_capacity(leaves.len());
    let mut missing: HashMap<Cid, &str> = HashMap::new();
    for (path, cid) in &leaves {
        match snap.records.get(cid) {
            Some(bytes) => records.push((*cid, bytes.clone())),
            None => {
                missing.insert(*cid, path);
            }
        }
    }
    if !missing.is_empty() {
        for (collection, rkey, record) in initial_records(origin, did) {
            let (cid, bytes) = record_block(&format!("{}/{rkey}", collection.nsid()), &record)?;
            if missing.remove(&cid).is_some() {
                records.push((cid, bytes));
            }
        }
    }
    if let Some((_, path)) = missing.into_iter().next() {
        return Err(RepoError::RecordNotFound(path.to_string()));
    }
    let blocks = std::iter::once((snap.head.cid, snap.commit.clone())).chain(snap.nodes.iter().map(|(c, b)| (*c, b.clone()))).chain(records);
    let blocks: Vec<(Cid, Bytes)> = blocks.collect();
    Ok(atproto::car::write(&[snap.head.cid], blocks.iter().map(|(c, b)| (c, b.as_ref()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(index: usize, records: u32) -> Origin {
        Origin { index, records, seed: 9, epoch_micros: 1_790_000_000_000_000, model: Arc::new(TrafficModel::default()) }
    }

    #[test]
    fn accounts_are_deterministic_and_their_repos_export_whole() {
        let (a, mut sa) = create(&origin(3, 200), 0, "http://127.0.0.1:1").unwrap();
        let (b, _) = create(&origin(3, 200), 0, "http://127.0.0.1:1").unwrap();
        assert_eq!(a.did, b.did);
        assert!(a.did.starts_with("did:plc:"));
        assert_eq!(a.doc.signing_key().unwrap(), sa.key.public());
        assert_eq!(a.doc.pds_endpoint(), Some("http://127.0.0.1:1"));
        assert_eq!(sa.repo.records().unwrap().len(), 201);
        assert_eq!(sa.rkeys.values().map(Vec::len).sum::<usize>(), 200);
        let (c, _) = create(&origin(4, 10), 0, "http://127.0.0.1:1").unwrap();
        assert_ne!(a.did, c.did);
        // The export, whose records are regenerated, loads as the same repository.
        let car = repo_car(&sa.shared, &origin(3, 200), &a.did).unwrap();
        let mut loaded = Repo::from_car(&car, Default::default()).unwrap();
        assert_eq!(loaded.records().unwrap(), sa.repo.records().unwrap());
        assert!(loaded.record("app.bsky.actor.profile/self").unwrap().is_some());
        loaded.commit.verify(&sa.key.public()).unwrap();
        // Commits keep exactly the live tree: superseded nodes leave the store.
        let key = sa.key.clone();
        for (i, rkey) in ["3lzzzzzzzzz2a", "3lzzzzzzzzz3a", "3lzzzzzzzzz4a"].iter().enumerate() {
            let write = atproto::repo::RecordWrite::Create {
                collection: "app.bsky.feed.like".into(),
                rkey: rkey.to_string(),
                record: records::record(Collection::Like, &mut account_rng(1, i), "2026-11-21T00:00:00.000Z", &a.did, rkey),
            };
            let rev = Tid::from_parts(1_790_000_000_000_000 + i as u64, 3).to_string();
            let data = sa.repo.apply_writes(&[write], &key, &rev).unwrap();
            sa.shared.apply(&data, 1);
        }
        let path = sa.repo.records().unwrap()[0].0.clone();
        let data = sa
            .repo
            .apply_writes(
                &[atproto::repo::RecordWrite::Delete { collection: path.split('/').next().unwrap().into(), rkey: path.split('/').nth(1).unwrap().into() }],
                &key,
                Tid::from_parts(1_790_000_000_000_100, 3).as_ref(),
            )
            .unwrap();
        sa.shared.apply(&data, -1);
        let mut fresh = Mst::new(MemoryBlockStore::new());
        for (k, v) in sa.repo.records().unwrap() {
            fresh.add(&k, v).unwrap();
        }
        fresh.root();
        assert_eq!(sa.shared.node_count(), fresh.take_new_blocks().len());
        assert_eq!(sa.shared.head().records, 203);
        let car = repo_car(&sa.shared, &origin(3, 200), &a.did).unwrap();
        let mut loaded = Repo::from_car(&car, Default::default()).unwrap();
        assert_eq!(loaded.records().unwrap(), sa.repo.records().unwrap());
        // Regenerated with another origin, the records do not match and the export says so.
        assert!(matches!(repo_car(&sa.shared, &origin(3, 199), &a.did), Err(RepoError::RecordNotFound(_))));
    }
}
