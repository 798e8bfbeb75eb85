//! Accounts of the synthetic network: a seeded k256 or p256 key, a `did:plc` from a real
//! signed genesis operation naming the account's host as its PDS, and a repository grown to
//! its starting size in one signed commit.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use atproto::blockstore::MemoryBlockStore;
use atproto::did_doc::DidDocument;
use atproto::keys::{KeyType, Keypair};
use atproto::mst::Mst;
use atproto::plc::{PlcState, SignedOp};
use atproto::repo::{Repo, RepoError, UnsignedCommit};
use atproto::syntax::Tid;
use atproto::Cid;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::records;
use super::store::SharedStore;
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

/// The head of a repository, shared with the host that serves it.
#[derive(Debug, Clone)]
pub struct Head {
    pub cid: Cid,
    pub rev: String,
    pub records: u64,
}

/// An account's writable state, owned by one generator shard.
pub struct AccountState {
    pub key: Keypair,
    pub repo: Repo<SharedStore>,
    pub store: SharedStore,
    pub head: Arc<RwLock<Head>>,
    /// Existing record keys by collection, for deletes.
    pub rkeys: HashMap<Collection, Vec<String>>,
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

/// Creates account `index` on `host` (whose base URL is `pds_url`) with a repository of
/// `initial_records` records whose TIDs end before `epoch_micros`.
pub fn create(
    index: usize,
    host: usize,
    pds_url: &str,
    initial_records: u32,
    model: &TrafficModel,
    seed: u64,
    epoch_micros: u64,
) -> Result<(Identity, AccountState), RepoError> {
    let mut rng = account_rng(seed, index);
    let key_type = if rng.gen_bool(model.p256_fraction) { KeyType::P256 } else { KeyType::K256 };
    let key = Keypair::generate_with(key_type, &mut rng);
    let handle = format!("u{index}.h{host}.test");
    let state = PlcState::atproto(vec![key.did_key()], &key.did_key(), &handle, pds_url);
    let (did, genesis) = atproto::plc::sign::genesis(state.clone(), &key);
    let doc = DidDocument::from_plc_state(&did, &state);

    // Grow the starting tree in memory, then sign one commit over it.
    let clock_id = (index % 1024) as u16;
    let weights = &model.collections;
    let cdf = {
        let w = [weights.like, weights.post, weights.repost, weights.follow, weights.block, weights.other];
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        w.map(|x| {
            acc += x / total;
            acc
        })
    };
    let mut mst = Mst::new(MemoryBlockStore::new());
    let mut blocks = Vec::with_capacity(initial_records as usize * 2 + 2);
    let mut rkeys: HashMap<Collection, Vec<String>> = HashMap::new();
    let span = 365 * 86_400 * 1_000_000u64; // a year of history before the epoch
    let step = span / (initial_records as u64 + 1);
    let created = "2026-01-01T00:00:00.000Z";
    let mut add = |collection: Collection, rkey: String, rng: &mut ChaCha8Rng| -> Result<(), RepoError> {
        let record = records::record(collection, rng, created, &did, &rkey);
        let bytes = atproto::cbor::encode(&record).map_err(|e| RepoError::Record(rkey.clone(), e))?;
        let cid = atproto::cid::for_cbor(&bytes);
        mst.add(&format!("{}/{rkey}", collection.nsid()), cid)?;
        blocks.push((cid, bytes.into()));
        Ok(())
    };
    add(Collection::Profile, "self".into(), &mut rng)?;
    for j in 0..initial_records as u64 {
        let u: f64 = rng.gen();
        let collection = Collection::CREATED[cdf.iter().position(|&c| u < c).unwrap_or(5)];
        let rkey = Tid::from_parts(epoch_micros - span + j * step, clock_id).to_string();
        add(collection, rkey.clone(), &mut rng)?;
        rkeys.entry(collection).or_default().push(rkey);
    }
    let root = mst.root();
    blocks.extend(mst.take_new_blocks());
    let rev = Tid::from_parts(epoch_micros - 1, clock_id);
    let commit = UnsignedCommit::new(did.clone(), root, rev.as_str()).sign(&key);
    let commit_cid = commit.cid();
    blocks.push((commit_cid, commit.encode().into()));
    let store = SharedStore::new();
    store.extend(blocks);
    let repo = Repo::load(store.clone(), commit_cid)?;
    let head = Arc::new(RwLock::new(Head { cid: commit_cid, rev: rev.to_string(), records: initial_records as u64 + 1 }));
    let identity = Identity { did, handle, host, key_type, doc, genesis };
    Ok((identity, AccountState { key, repo, store, head, rkeys, last_micros: epoch_micros - 1 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_deterministic_and_their_repos_load() {
        let model = TrafficModel::default();
        let epoch = 1_790_000_000_000_000;
        let (a, mut sa) = create(3, 0, "http://127.0.0.1:1", 200, &model, 9, epoch).unwrap();
        let (b, _) = create(3, 0, "http://127.0.0.1:1", 200, &model, 9, epoch).unwrap();
        assert_eq!(a.did, b.did);
        assert!(a.did.starts_with("did:plc:"));
        assert_eq!(a.doc.signing_key().unwrap(), sa.key.public());
        assert_eq!(a.doc.pds_endpoint(), Some("http://127.0.0.1:1"));
        assert_eq!(sa.repo.records().unwrap().len(), 201);
        let (c, _) = create(4, 0, "http://127.0.0.1:1", 10, &model, 9, epoch).unwrap();
        assert_ne!(a.did, c.did);
        // The export of the store loads as the same repository.
        let head = sa.repo.commit_cid;
        let blocks = sa.store.snapshot();
        let car = atproto::car::write(&[head], blocks.iter().map(|(c, b)| (c, b.as_ref())));
        let mut loaded = Repo::from_car(&car, Default::default()).unwrap();
        assert_eq!(loaded.records().unwrap(), sa.repo.records().unwrap());
        loaded.commit.verify(&sa.key.public()).unwrap();
    }
}
