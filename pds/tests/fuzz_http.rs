//! Bounded HTTP fuzzing of a live PDS: seeded random and mutated requests to every method it
//! serves (and to blob and record paths with path tricks), as an anonymous client and as a
//! signed-in fuzzing account: wrong types, huge strings, deeply nested JSON, invalid CBOR and
//! CAR bodies, odd content types. Expected: no 500, the server healthy afterwards, and another
//! account's repository and records unchanged.
//!
//! `SONDE_FUZZ_REQUESTS` sets the count (default 3,000 in the test suite; the full
//! scale is 100,000).

mod common;

use common::methods::{is_query, METHODS};
use common::Auth;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// A value of a random wrong or odd shape.
fn odd_value(rng: &mut ChaCha8Rng, depth: usize) -> Value {
    match rng.gen_range(0..12) {
        0 => Value::Null,
        1 => json!(rng.gen::<i64>()),
        2 => json!(rng.gen::<f64>() * 1e300),
        3 => json!(rng.gen::<bool>()),
        4 => json!("x".repeat(rng.gen_range(0..200_000))),
        5 => json!("../../../../etc/passwd"),
        6 => json!("at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/%2e%2e"),
        7 => json!("\u{0000}\u{202e}\u{fffd}é😀"),
        8 if depth < 4 => Value::Array((0..rng.gen_range(0..5)).map(|_| odd_value(rng, depth + 1)).collect()),
        9 if depth < 4 => Value::Object((0..rng.gen_range(0..5)).map(|i| (format!("k{i}"), odd_value(rng, depth + 1))).collect()),
        10 => json!("did:web:127.0.0.1%3A1"),
        _ => json!(""),
    }
}

/// JSON nested `depth` arrays deep.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A plausible body for `nsid` with some fields replaced by odd values.
fn mutated_body(rng: &mut ChaCha8Rng, did: &str) -> Value {
    let mut body = json!({
        "repo": did, "collection": "app.bsky.feed.post", "rkey": "3lgcx2xkqa22a",
        "record": {"$type": "app.bsky.feed.post", "text": "fuzz", "createdAt": "2026-11-21T12:00:00.000Z"},
        "writes": [{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": {"text": "x"}}],
        "handle": "fuzz.test", "email": "fuzz@example.com", "password": "fuzz-password", "identifier": "fuzz.test",
        "preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false}], "name": "fuzz", "token": "ABCDE-12345",
        "did": did, "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did}, "useCount": 1,
    });
    let keys: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
    for _ in 0..rng.gen_range(1..6) {
        let k = &keys[rng.gen_range(0..keys.len())];
        body[k] = odd_value(rng, 0);
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_requests_get_no_500_and_change_nothing() {
    let total: usize = std::env::var("SONDE_FUZZ_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000);
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false"), ("PDS_RATE_LIMIT_CREATE_SESSION", "0"), ("PDS_RATE_LIMIT_CREATE_ACCOUNT", "0")]).await;
    let c = &env.client;
    let alice = c.account("alice", None).await;
    let alice_did = alice["did"].as_str().unwrap().to_owned();
    c.post_text(alice["accessJwt"].as_str().unwrap(), &alice_did, "alice's only post").await;
    let fuzzer = c.account("fuzzer", None).await;
    let (fuzz_did, fuzz_token) = (fuzzer["did"].as_str().unwrap().to_owned(), fuzzer["accessJwt"].as_str().unwrap().to_owned());
    let before = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok();

    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut unsent = 0;
    for n in 0..total {
        let (nsid, _) = METHODS[rng.gen_range(0..METHODS.len())];
        // Half as the fuzzing account (past auth, into the handlers), half anonymous; targets
        // are the fuzzer's own repository or alice's, at random.
        let target = if rng.gen_bool(0.5) { &fuzz_did } else { &alice_did };
        let mut req = match rng.gen_range(0..10) {
            // A path trick on the blob and record routes.
            0 => {
                let tricky = ["../../../etc/passwd", "%2e%2e%2f%2e%2e", "bafkrei/../..", "did:plc:x/../../", "\u{0}", &"a".repeat(5000)];
                let t = tricky[rng.gen_range(0..tricky.len())];
                let route = ["com.atproto.sync.getBlob", "com.atproto.repo.getRecord", "com.atproto.sync.getRecord"][rng.gen_range(0..3)];
                c.http.get(format!("{}/xrpc/{route}", c.base)).query(&[("did", t), ("cid", t), ("repo", t), ("collection", t), ("rkey", t)])
            }
            // Raw bytes: invalid CBOR or CAR, to the binary-bodied routes and any other.
            1 => {
                let route = ["com.atproto.repo.importRepo", "com.atproto.repo.uploadBlob", nsid][rng.gen_range(0..3)];
                let len = rng.gen_range(0..4096);
                let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                if rng.gen_bool(0.5) && !bytes.is_empty() {
                    bytes[0] = 0x0a; // a CAR's header-length varint, then garbage
                }
                let ctype = ["application/vnd.ipld.car", "application/octet-stream", "image/png", "application/json"][rng.gen_range(0..4)];
                c.http.post(format!("{}/xrpc/{route}", c.base)).header("content-type", ctype).body(bytes)
            }
            // Deeply nested JSON.
            2 => c.http.post(format!("{}/xrpc/{nsid}", c.base)).header("content-type", "application/json").body(nested(rng.gen_range(100..20_000))),
            // Random query parameters on a query, a mutated body on a procedure.
            _ if is_query(nsid) => {
                let params: Vec<(String, String)> = ["did", "repo", "actor", "collection", "rkey", "cid", "limit", "cursor", "handle", "uri"]
                    .iter()
                    .map(|k| (k.to_string(), odd_value(&mut rng, 3).to_string().chars().take(4000).collect()))
                    .collect();
                c.http.get(format!("{}/xrpc/{nsid}", c.base)).query(&params)
            }
            _ => c.http.post(format!("{}/xrpc/{nsid}", c.base)).json(&mutated_body(&mut rng, target)),
        };
        if rng.gen_bool(0.5) {
            req = req.bearer_auth(&fuzz_token);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            // A request the client itself cannot build (a URL past its limits) never left.
            Err(e) if e.is_builder() => {
                unsent += 1;
                continue;
            }
            Err(e) => panic!("request {n} to {nsid}: the server went away: {}", e.without_url()),
        };
        let status = resp.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(status != 500, "request {n} to {nsid}: HTTP 500 {}", resp.text().await.unwrap_or_default());
    }

    // Healthy afterwards, and alice's data as it was.
    assert_eq!(c.http.get(format!("{}/_health", c.base)).send().await.unwrap().status(), 200);
    let after = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok();
    assert_eq!(before, after, "alice's repository is unchanged");
    let records = c.get("com.atproto.repo.listRecords", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post")]).await.ok();
    assert_eq!(records["records"].as_array().unwrap().len(), 1);
    c.post("com.atproto.server.createSession", Auth::None, json!({"identifier": "alice.test", "password": "alice-pw"})).await.ok();
    assert!(unsent < total / 10, "{unsent} of {total} requests could not be sent");
    println!("fuzz: {total} requests ({unsent} unsendable), statuses {statuses:?}");
}
