//! A test account: a DID, a signing key and an in-memory repository, producing the signed
//! `#commit`/`#sync`/`#identity`/`#account` frames a PDS would publish, plus forged variants.

use atproto::blockstore::MemoryBlockStore;
use atproto::did_doc::DidDocument;
use atproto::firehose::{AccountEvent, CommitEvent, IdentityEvent, SubscribeReposFrame, SyncEvent};
use atproto::keys::{KeyType, Keypair};
use atproto::repo::{CommitData, RecordWrite, Repo};
use atproto::syntax::TidGenerator;
use atproto::Ipld;

pub struct Account {
    pub did: String,
    pub key: Keypair,
    pub repo: Repo<MemoryBlockStore>,
    pub first: CommitData,
    tids: TidGenerator,
    n: u64,
}

pub const TIME: &str = "2026-11-21T12:00:00.000Z";

pub fn post(text: &str) -> Ipld {
    atproto::json::from_json(&serde_json::json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": TIME})).unwrap()
}

impl Account {
    pub fn new(name: &str) -> Account {
        // did:plc identifiers are 24 base32 characters.
        let id: String = format!("{name}{}", "a".repeat(24)).chars().take(24).collect();
        let did = format!("did:plc:{id}");
        let key = Keypair::generate(KeyType::K256);
        let tids = TidGenerator::new();
        let (repo, first) = Repo::create(MemoryBlockStore::new(), &did, &key, tids.next().as_str());
        Account { did, key, repo, first, tids, n: 0 }
    }

    pub fn doc(&self, pds: &str) -> DidDocument {
        DidDocument::new_plc(&self.did, "test.example", &self.key.public(), pds)
    }

    /// The next commit creating one post.
    pub fn create_post(&mut self) -> CommitEvent {
        self.n += 1;
        let rkey = self.tids.next().into_string();
        let w = RecordWrite::Create { collection: "app.bsky.feed.post".into(), rkey, record: post(&format!("post {}", self.n)) };
        self.apply(&[w])
    }

    pub fn apply(&mut self, writes: &[RecordWrite]) -> CommitEvent {
        let rev = self.tids.next();
        let c = self.repo.apply_writes(writes, &self.key, rev.as_str()).unwrap();
        commit_event(&self.did, &c)
    }

    /// The `#sync` for the repository's first (empty) commit.
    pub fn first_sync(&self) -> SyncEvent {
        let block = self.first.commit.encode();
        SyncEvent {
            seq: 0,
            did: self.did.clone(),
            blocks: atproto::car::write(&[self.first.cid], [(&self.first.cid, block.as_slice())]),
            rev: self.first.commit.rev.clone(),
            time: TIME.into(),
        }
    }

    pub fn identity(&self) -> IdentityEvent {
        IdentityEvent { seq: 0, did: self.did.clone(), time: TIME.into(), handle: Some("test.example".into()) }
    }

    pub fn account(&self, active: bool, status: Option<&str>) -> AccountEvent {
        AccountEvent { seq: 0, did: self.did.clone(), time: TIME.into(), active, status: status.map(str::to_string) }
    }
}

pub fn commit_event(did: &str, c: &CommitData) -> CommitEvent {
    debug_assert_eq!(c.commit.did, did);
    c.commit_event(0, TIME.into(), vec![])
}

pub fn commit_frame(seq: i64, mut e: CommitEvent) -> Vec<u8> {
    e.seq = seq;
    SubscribeReposFrame::Commit(e).encode()
}

pub fn sync_frame(seq: i64, mut e: SyncEvent) -> Vec<u8> {
    e.seq = seq;
    SubscribeReposFrame::Sync(e).encode()
}

pub fn identity_frame(seq: i64, mut e: IdentityEvent) -> Vec<u8> {
    e.seq = seq;
    SubscribeReposFrame::Identity(e).encode()
}

pub fn account_frame(seq: i64, mut e: AccountEvent) -> Vec<u8> {
    e.seq = seq;
    SubscribeReposFrame::Account(e).encode()
}

/// The same commit re-signed by another key (a forged signature).
pub fn forged(e: &CommitEvent) -> CommitEvent {
    let car = atproto::car::read(&e.blocks, atproto::car::CarLimits::firehose()).unwrap();
    let commit_bytes = &car.blocks.iter().find(|(c, _)| *c == e.commit).unwrap().1;
    let commit = atproto::repo::Commit::decode(commit_bytes).unwrap();
    let other = Keypair::generate(KeyType::K256);
    let forged = commit.unsigned().sign(&other);
    let bytes = forged.encode();
    let cid = forged.cid();
    let mut blocks: Vec<(atproto::Cid, Vec<u8>)> = car.blocks.iter().filter(|(c, _)| *c != e.commit).map(|(c, b)| (*c, b.to_vec())).collect();
    blocks.push((cid, bytes));
    let mut bad = e.clone();
    bad.commit = cid;
    bad.blocks = atproto::car::write(&[cid], blocks.iter().map(|(c, b)| (c, b.as_slice())));
    bad
}

/// The same commit with one byte of its first record block flipped.
pub fn mutated(e: &CommitEvent) -> CommitEvent {
    let record = e.ops.iter().find_map(|op| op.cid).unwrap();
    let car = atproto::car::read(&e.blocks, atproto::car::CarLimits::firehose()).unwrap();
    let blocks: Vec<(atproto::Cid, Vec<u8>)> = car
        .blocks
        .iter()
        .map(|(c, b)| {
            let mut b = b.to_vec();
            if *c == record {
                let last = b.len() - 1;
                b[last] ^= 1;
            }
            (*c, b)
        })
        .collect();
    let mut bad = e.clone();
    bad.blocks = atproto::car::write(&car.roots, blocks.iter().map(|(c, b)| (c, b.as_slice())));
    bad
}

/// The same commit claiming a different `prevData`.
pub fn wrong_prev_data(e: &CommitEvent) -> CommitEvent {
    let mut bad = e.clone();
    bad.prev_data = Some(atproto::cid::for_cbor(b"\xa0"));
    bad
}

/// The same commit with its CAR cut in half.
pub fn truncated(e: &CommitEvent) -> CommitEvent {
    let mut bad = e.clone();
    bad.blocks.truncate(e.blocks.len() / 2);
    bad
}
