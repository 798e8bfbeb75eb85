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
use testbed::fuzz;

/// A plausible body for any procedure, with some fields replaced by odd values.
fn mutated_body(rng: &mut ChaCha8Rng, did: &str) -> Value {
    let body = json!({
        "repo": did, "collection": "app.bsky.feed.post", "rkey": "3lgcx2xkqa22a",
        "record": {"$type": "app.bsky.feed.post", "text": "fuzz", "createdAt": "2026-11-21T12:00:00.000Z"},
        "writes": [{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": {"text": "x"}}],
        "handle": "fuzz.test", "email": "fuzz@example.com", "password": "fuzz-password", "identifier": "fuzz.test",
        "preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false}], "name": "fuzz", "token": "ABCDE-12345",
        "did": did, "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did}, "useCount": 1,
    });
    fuzz::mutate(rng, body)
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
                let long = "a".repeat(5000);
                let t = if rng.gen_bool(0.2) { long.as_str() } else { fuzz::PATH_TRICKS[rng.gen_range(0..fuzz::PATH_TRICKS.len())] };
                let route = ["com.atproto.sync.getBlob", "com.atproto.repo.getRecord", "com.atproto.sync.getRecord"][rng.gen_range(0..3)];
                c.http.get(format!("{}/xrpc/{route}", c.base)).query(&[("did", t), ("cid", t), ("repo", t), ("collection", t), ("rkey", t)])
            }
            // Raw bytes: invalid CBOR or CAR, to the binary-bodied routes and any other.
            1 => {
                let route = ["com.atproto.repo.importRepo", "com.atproto.repo.uploadBlob", nsid][rng.gen_range(0..3)];
                let ctype = ["application/vnd.ipld.car", "application/octet-stream", "image/png", "application/json"][rng.gen_range(0..4)];
                c.http.post(format!("{}/xrpc/{route}", c.base)).header("content-type", ctype).body(fuzz::odd_bytes(&mut rng))
            }
            // Deeply nested JSON.
            2 => c.http.post(format!("{}/xrpc/{nsid}", c.base)).header("content-type", "application/json").body(fuzz::nested_json(rng.gen_range(100..20_000))),
            // Random query parameters on a query, a mutated body on a procedure.
            _ if is_query(nsid) => {
                let params = fuzz::odd_params(&mut rng, &["did", "repo", "actor", "collection", "rkey", "cid", "limit", "cursor", "handle", "uri"]);
                c.http.get(format!("{}/xrpc/{nsid}", c.base)).query(&params)
            }
            _ => c.http.post(format!("{}/xrpc/{nsid}", c.base)).json(&mutated_body(&mut rng, target)),
        };
        if rng.gen_bool(0.5) {
            req = req.bearer_auth(&fuzz_token);
        }
        let resp = match fuzz::send(&c.http, req, &format!("{}/_health", c.base), n).await {
            fuzz::Sent::Answered(resp) => resp,
            fuzz::Sent::Unbuildable => {
                unsent += 1;
                continue;
            }
            fuzz::Sent::Cut => continue,
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
