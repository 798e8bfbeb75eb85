//! A repository written with `Repo::apply_writes` produces commits that the firehose verifier
//! accepts, exports as a CAR that loads back identically, and refuses invalid writes whole.

use atproto::blockstore::{BlockSink, MemoryBlockStore};
use atproto::firehose::{verify_commit, verify_sync, CommitEvent, SubscribeReposFrame, SyncEvent};
use atproto::keys::{KeyType, Keypair};
use atproto::repo::{CommitData, RecordWrite, Repo};
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

    for (seq, round) in (1..).zip(0..40) {
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
    let create = |rkey: &str| RecordWrite::Create { collection: "app.bsky.feed.post".into(), rkey: rkey.into(), record: record("x") };
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

/// Commits prepared in several repositories, two deep, and signed in one batch are exactly
/// the commits `apply_writes` makes one by one.
#[test]
fn batch_signed_commits_equal_one_by_one_commits() {
    let keys: Vec<Keypair> = (0..5).map(|i| Keypair::generate(if i == 2 { KeyType::P256 } else { KeyType::K256 })).collect();
    let open = |i: usize| Repo::create(MemoryBlockStore::new(), &format!("did:plc:batch{i}"), &keys[i], "3kaaaaaaaaa22").0;
    let mut single: Vec<_> = (0..keys.len()).map(open).collect();
    let mut batched: Vec<_> = (0..keys.len()).map(open).collect();
    let write = |i: usize, n: usize| {
        vec![RecordWrite::Create { collection: "app.bsky.feed.post".into(), rkey: format!("3kbbbbbbb{n:02}{i}2"), record: record(&format!("post {n} of {i}")) }]
    };
    let rev = |n: usize| format!("3kcccccccc{n:02}2");
    for round in 0..3 {
        let ns = [2 * round, 2 * round + 1];
        let mut prepared = Vec::new();
        for (i, repo) in batched.iter_mut().enumerate() {
            for n in ns {
                prepared.push((i, n, repo.prepare_commit(&write(i, n), &rev(n)).unwrap()));
            }
        }
        // Nothing else may write while commits wait for their signatures.
        assert!(matches!(batched[0].apply_writes(&write(0, 99), &keys[0], "3kzzzzzzzzz22"), Err(atproto::repo::RepoError::CommitsPending)));
        let digests: Vec<_> = prepared.iter().map(|(i, _, p)| (&keys[*i], p.signing_digest())).collect();
        let sigs = atproto::keys::sign_digests(&digests);
        for ((i, n, p), sig) in prepared.into_iter().zip(sigs) {
            let from_batch = batched[i].finish_commit(p, sig).unwrap();
            let one_by_one = single[i].apply_writes(&write(i, n), &keys[i], &rev(n)).unwrap();
            assert_eq!(from_batch.cid, one_by_one.cid);
            assert_eq!(from_batch.car_slice(), one_by_one.car_slice());
            assert_eq!(from_batch.new_blocks, one_by_one.new_blocks);
            assert_eq!(from_batch.since, one_by_one.since);
            assert_eq!(from_batch.prev_data, one_by_one.prev_data);
            verify_commit(&event(1, &from_batch), &keys[i].public()).unwrap();
        }
    }
    // Prepared commits are finished in order, by the repository that prepared them.
    let first = batched[0].prepare_commit(&write(0, 50), &rev(50)).unwrap();
    let second = batched[0].prepare_commit(&write(0, 51), &rev(51)).unwrap();
    let sig = |p: &atproto::repo::PreparedCommit| keys[0].sign_digest(&p.signing_digest());
    let (s1, s2) = (sig(&first), sig(&second));
    assert!(matches!(batched[0].finish_commit(second, s2), Err(atproto::repo::RepoError::NotPrepared)));
    assert!(matches!(batched[1].finish_commit(first, s1), Err(atproto::repo::RepoError::NotPrepared)));
}
