//! A repository written with `Repo::apply_writes` produces commits that the firehose verifier
//! accepts, exports as a CAR that loads back identically, and refuses invalid writes whole.

use atproto::blockstore::{BlockSink, MemoryBlockStore};
use atproto::firehose::{verify_commit, verify_sync, CommitEvent, SubscribeReposFrame, SyncEvent};
use atproto::keys::{KeyType, Keypair};
use atproto::repo::{CommitData, Repo, RecordWrite};
use atproto::syntax::Tid;
use atproto::Ipld;

fn record(text: &str) -> Ipld {
    atproto::json::from_json(&serde_json::json!({
        "$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-21T12:00:00.000Z"
    }))
    .unwrap()
}

fn event(seq: i64, c: &CommitData) -> CommitEvent {
    c.commit_event(seq, "2026-11-21T12:00:00.000Z".into(), vec![])
}

fn store_blocks(store: &mut MemoryBlockStore, c: &CommitData) {
    for (cid, bytes) in &c.new_blocks {
        store.put(*cid, bytes.clone()).unwrap();
    }
}

#[test]
fn written_commits_verify_and_export() {
    let did = "did:plc:sondetestrepo000000000000";
    let key = Keypair::generate(KeyType::K256);
    let mut all = MemoryBlockStore::new();
    let (mut repo, first) = Repo::create(MemoryBlockStore::new(), did, &key, Tid::now().as_str());
    store_blocks(&mut all, &first);

    // The account's first event is a #sync carrying just the signed commit.
    let commit_block = first.commit.encode();
    let sync = SyncEvent {
        seq: 0,
        did: did.into(),
        blocks: atproto::car::write(&[first.cid], [(&first.cid, commit_block.as_slice())]),
        rev: first.commit.rev.clone(),
        time: "2026-11-21T12:00:00.000Z".into(),
    };
    assert_eq!(verify_sync(&sync, &key.public()).unwrap(), first.commit);
    let stranger = Keypair::generate(KeyType::K256);
    assert!(verify_sync(&sync, &stranger.public()).is_err());
    let mut wrong_did = sync.clone();
    wrong_did.did = "did:plc:someoneelse".into();
    assert!(verify_sync(&wrong_did, &key.public()).is_err());

    let mut seq = 1;
    for round in 0..40 {
        let mut writes: Vec<RecordWrite> = (0..3)
            .map(|i| RecordWrite::Create {
                collection: "app.bsky.feed.post".into(),
                rkey: Tid::now().to_string(),
                record: record(&format!("post {round}.{i}")),
            })
            .collect();
        if round > 0 && round % 4 == 0 {
            let (path, _) = repo.records().unwrap()[round].clone();
            let (collection, rkey) = path.split_once('/').unwrap();
            writes.push(RecordWrite::Update { collection: collection.into(), rkey: rkey.into(), record: record("edited") });
        }
        if round > 0 && round % 5 == 0 {
            let (path, _) = repo.records().unwrap()[0].clone();
            let (collection, rkey) = path.split_once('/').unwrap();
            writes.push(RecordWrite::Delete { collection: collection.into(), rkey: rkey.into() });
        }
        let commit = repo.apply_writes(&writes, &key, Tid::now().as_str()).unwrap();
        store_blocks(&mut all, &commit);
        let evt = event(seq, &commit);
        seq += 1;
        // Through the wire format and back, then verified like a relay would.
        let frame = SubscribeReposFrame::Commit(evt).encode();
        let SubscribeReposFrame::Commit(evt) = SubscribeReposFrame::decode(&frame).unwrap() else { panic!() };
        verify_commit(&evt, &key.public()).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }

    // A full export loads back to the same records.
    let head = repo.commit_cid;
    let blocks: Vec<_> = all.iter().map(|(c, b)| (*c, b.clone())).collect();
    let car = atproto::car::write(&[head], blocks.iter().map(|(c, b)| (c, b.as_ref())));
    let mut loaded = Repo::from_car(&car, Default::default()).unwrap();
    assert_eq!(loaded.records().unwrap(), repo.records().unwrap());
    loaded.commit.verify(&key.public()).unwrap();
}

#[test]
fn invalid_batches_change_nothing() {
    let key = Keypair::generate(KeyType::P256);
    let (mut repo, _) = Repo::create(MemoryBlockStore::new(), "did:plc:x", &key, Tid::now().as_str());
    let create = |rkey: &str| RecordWrite::Create {
        collection: "app.bsky.feed.post".into(),
        rkey: rkey.into(),
        record: record("x"),
    };
    repo.apply_writes(&[create("a")], &key, Tid::now().as_str()).unwrap();
    let root = repo.commit.data;
    let rev = repo.commit.rev.clone();
    // The second create collides with the first: the whole batch is refused.
    assert!(repo.apply_writes(&[create("b"), create("a")], &key, Tid::now().as_str()).is_err());
    let delete_missing = RecordWrite::Delete { collection: "app.bsky.feed.post".into(), rkey: "zz".into() };
    assert!(repo.apply_writes(&[create("c"), delete_missing], &key, Tid::now().as_str()).is_err());
    // A rev that does not increase is refused.
    assert!(repo.apply_writes(&[create("d")], &key, "2222222222222").is_err());
    assert_eq!(repo.commit.data, root);
    assert_eq!(repo.commit.rev, rev);
    assert_eq!(repo.mst().root(), root);
    assert_eq!(repo.records().unwrap().len(), 1);
}
