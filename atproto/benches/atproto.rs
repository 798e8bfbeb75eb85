//! Criterion benches for the protocol hot paths: DAG-CBOR of a typical post, MST inserts,
//! k256 signatures (one by one and in batches), and verifying a real `#commit` from the network corpus.
//!
//! Run with `cargo bench -p atproto`; medians are what the closing notes quote.

use std::hint::black_box;

use atproto::blockstore::MemoryBlockStore;
use atproto::firehose::{verify_commit, SubscribeReposFrame};
use atproto::keys::{KeyType, Keypair};
use atproto::mst::invert::{invert, TreeOp};
use atproto::mst::Mst;
use atproto::Ipld;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn post() -> Ipld {
    let json = serde_json::json!({
        "$type": "app.bsky.feed.post",
        "text": "Self-hosting a PDS for our co-op turned out to be a €5 experiment, not a €50,000 one. Here is what we measured.",
        "createdAt": "2026-07-04T14:38:06.240Z",
        "langs": ["en"],
        "reply": {
            "root": {"uri": "at://did:plc:r2zybk6op3ymzpz6jhqpkoy5/app.bsky.feed.post/3mpsjbtci2c2o",
                     "cid": "bafyreiftot7eltsc3f6g4qktykmbv6jcmdmhcx5osscan6jpdxkpqcmcza"},
            "parent": {"uri": "at://did:plc:r2zybk6op3ymzpz6jhqpkoy5/app.bsky.feed.post/3mpsjbtci2c2o",
                       "cid": "bafyreiftot7eltsc3f6g4qktykmbv6jcmdmhcx5osscan6jpdxkpqcmcza"}
        },
        "facets": [{"index": {"byteStart": 0, "byteEnd": 12},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "selfhosting"}]}]
    });
    // Strong refs carry CID strings in JSON records, so the plain JSON → IPLD mapping suffices.
    atproto::json::from_json(&json).expect("post record")
}

fn cbor(c: &mut Criterion) {
    let value = post();
    let bytes = atproto::cbor::encode(&value).unwrap();
    c.bench_function("dag_cbor_encode_post", |b| b.iter(|| atproto::cbor::encode(black_box(&value)).unwrap()));
    c.bench_function("dag_cbor_decode_post", |b| b.iter(|| atproto::cbor::decode_value(black_box(&bytes)).unwrap()));
}

fn mst(c: &mut Criterion) {
    let value = atproto::cid::for_cbor(b"\xa0");
    let mut group = c.benchmark_group("mst_insert");
    group.sample_size(10);
    for n in [10_000usize, 100_000] {
        // TID-like keys arrive in increasing order, as real repositories grow.
        let keys: Vec<String> = (0..n).map(|i| format!("app.bsky.feed.like/3l{:011x}", i * 7919)).collect();
        group.bench_function(format!("{n}_keys_and_root"), |b| {
            b.iter(|| {
                let mut t = Mst::new(MemoryBlockStore::new());
                for k in &keys {
                    t.insert(k, value).unwrap();
                }
                t.root()
            })
        });
    }
    group.finish();
}

fn k256(c: &mut Criterion) {
    let key = Keypair::generate(KeyType::K256);
    let public = key.public();
    let msg = atproto::cbor::encode(&post()).unwrap();
    let sig = key.sign(&msg);
    c.bench_function("k256_sign", |b| b.iter(|| key.sign(black_box(&msg))));
    c.bench_function("k256_verify", |b| b.iter(|| public.verify(black_box(&msg), &sig).unwrap()));

    // Per-signature cost of a batch of 16 (as the load generator signs), both curves.
    for kind in [KeyType::K256, KeyType::P256] {
        let keys: Vec<Keypair> = (0..16).map(|_| Keypair::generate(kind)).collect();
        let items: Vec<(&Keypair, [u8; 32])> = keys.iter().enumerate().map(|(i, k)| (k, [i as u8; 32])).collect();
        let mut group = c.benchmark_group(format!("{kind:?}_sign").to_lowercase());
        group.throughput(Throughput::Elements(16));
        group.bench_function("one_by_one_16", |b| b.iter(|| items.iter().map(|(k, d)| k.sign_digest(black_box(d))).collect::<Vec<_>>()));
        group.bench_function("batch_16", |b| b.iter(|| atproto::keys::sign_digests(black_box(&items))));
        group.bench_function("batch_16_vartime", |b| b.iter(|| atproto::keys::sign_digests_vartime(black_box(&items))));
        group.finish();
    }
}

fn corpus_commit(c: &mut Criterion) {
    let Some(dir) = atproto::fixtures::shared_path("corpus/bsky-network-2026-07-04") else { return };
    let raw = zstd::decode_all(std::fs::File::open(dir.join("frames.bin.zst")).unwrap()).unwrap();
    let docs: std::collections::HashMap<String, atproto::did_doc::DidDocument> =
        serde_json::from_slice(&zstd::decode_all(std::fs::File::open(dir.join("did_docs.json.zst")).unwrap()).unwrap()).unwrap();
    // The first #commit frame.
    let mut rest = raw.as_slice();
    let frame = loop {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let frame = rest[4..4 + len].to_vec();
        rest = &rest[4 + len..];
        if let Ok(SubscribeReposFrame::Commit(_)) = SubscribeReposFrame::decode(&frame) {
            break frame;
        }
    };
    let SubscribeReposFrame::Commit(event) = SubscribeReposFrame::decode(&frame).unwrap() else { unreachable!() };
    let key = docs[&event.repo].signing_key().unwrap();
    // The parts that are not the signature: reading the CAR slice and undoing the ops.
    let car = atproto::car::read(&event.blocks, atproto::car::CarLimits::firehose()).unwrap();
    let commit = atproto::repo::Commit::decode(&car.blocks.iter().find(|(c, _)| *c == event.commit).unwrap().1).unwrap();
    let store = car.into_store();
    let ops: Vec<TreeOp> = event
        .ops
        .iter()
        .map(|op| match (op.action.as_str(), op.cid, op.prev) {
            ("create", Some(cid), _) => TreeOp::Create { key: op.path.clone(), cid },
            ("update", Some(cid), Some(prev)) => TreeOp::Update { key: op.path.clone(), cid, prev },
            (_, _, Some(prev)) => TreeOp::Delete { key: op.path.clone(), prev },
            _ => unreachable!("corpus ops are well-formed"),
        })
        .collect();
    c.bench_function("read_corpus_commit_car", |b| b.iter(|| atproto::car::read(black_box(&event.blocks), atproto::car::CarLimits::firehose()).unwrap()));
    c.bench_function("invert_corpus_commit", |b| b.iter(|| invert(&store, commit.data, black_box(&ops)).unwrap()));
    c.bench_function("verify_corpus_commit_frame", |b| {
        b.iter_batched(
            || frame.clone(),
            |frame| {
                let SubscribeReposFrame::Commit(e) = SubscribeReposFrame::decode(&frame).unwrap() else { unreachable!() };
                verify_commit(&e, &key).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, cbor, mst, k256, corpus_commit);
criterion_main!(benches);
