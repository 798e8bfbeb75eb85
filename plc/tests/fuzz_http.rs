//! Bounded HTTP fuzzing of the PLC directory: seeded random and mutated requests to every route
//! (odd DIDs and path tricks, odd `/export` parameters, operations with wrong types, deep JSON,
//! random bytes). Expected: no 500, healthy afterwards, and a registered DID's log unchanged.
//! `SONDE_FUZZ_REQUESTS` sets the count (default 2,000).

mod common;

use common::{start, Account};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use testbed::fuzz;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_requests_get_no_500_and_change_nothing() {
    let total: usize = std::env::var("SONDE_FUZZ_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let t = start().await;
    let alice = Account::new("alice.test");
    t.client.submit(&alice.did, &alice.genesis).await.unwrap();
    let base = t.server.url();
    let http = reqwest::Client::new();
    let log = |did: String| {
        let (http, base) = (http.clone(), base.clone());
        async move { http.get(format!("{base}/{did}/log/audit")).send().await.unwrap().text().await.unwrap() }
    };
    let before = log(alice.did.clone()).await;
    let genesis = serde_json::to_value(&alice.genesis).unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..total {
        let did = match rng.gen_range(0..4) {
            0 => alice.did.clone(),
            1 => fuzz::PATH_TRICKS[rng.gen_range(0..fuzz::PATH_TRICKS.len())].to_owned(),
            2 => format!("did:plc:{}", "a".repeat(rng.gen_range(0..40))),
            _ => urlencode(&fuzz::odd_value(&mut rng, 3).to_string().chars().take(2000).collect::<String>()),
        };
        let suffix = ["", "/data", "/log", "/log/audit", "/log/last"][rng.gen_range(0..5)];
        let req = match rng.gen_range(0..6) {
            0 => http.get(format!("{base}/export")).query(&fuzz::odd_params(&mut rng, &["count", "after"])),
            // An operation: alice's genesis mutated, or something else entirely, to any DID.
            1 | 2 => http.post(format!("{base}/{did}")).json(&fuzz::mutate(&mut rng, genesis.clone())),
            3 => http.post(format!("{base}/{did}")).header("content-type", "application/json").body(fuzz::nested_json(rng.gen_range(100..20_000))),
            4 => http.post(format!("{base}/{did}")).header("content-type", "application/json").body(fuzz::odd_bytes(&mut rng)),
            _ => http.get(format!("{base}/{did}{suffix}")),
        };
        let fuzz::Sent::Answered(resp) = fuzz::send(&http, req, &format!("{base}/_health"), n).await else { continue };
        let status = resp.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(status < 500, "request {n} ({did}{suffix}): HTTP {status} {}", resp.text().await.unwrap_or_default());
    }
    assert_eq!(http.get(format!("{base}/_health")).send().await.unwrap().status(), 200);
    assert_eq!(log(alice.did.clone()).await, before, "alice's log is unchanged");
    println!("fuzz: {total} requests, statuses {statuses:?}");
}

/// Percent-encodes everything but unreserved characters (a path segment).
fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
