//! Bounded HTTP fuzzing of the relay: seeded random and mutated requests to its XRPC queries,
//! `requestCrawl`, the admin routes (with and without the admin password), unknown methods and
//! the Jetstream endpoint, with odd parameters, bodies of wrong types, deep JSON and random
//! bytes. Expected: no 5xx but `MethodNotImplemented`, healthy afterwards, and its hosts and accounts unchanged.
//! `SONDE_FUZZ_REQUESTS` sets the count (default 2,000).

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use testbed::fuzz;

const QUERIES: &[&str] = &["listRepos", "getRepoStatus", "getLatestCommit", "listHosts", "getHostStatus"];
const ADMIN: &[&str] = &["/admin/hosts/ban", "/admin/hosts/unban", "/admin/hosts/limits", "/admin/accounts/ban", "/admin/accounts/unban", "/admin/limits"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_requests_get_no_500_and_change_nothing() {
    let total: usize = std::env::var("SONDE_FUZZ_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut config = testbed_config(&plc, &host);
    config.admin_password = Some("fuzz-admin-password".into());
    let relay = start_relay(config).await;
    let base = format!("http://{}", relay.addr);
    let http = reqwest::Client::new();
    let state = || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let hosts = http.get(format!("{base}/xrpc/com.atproto.sync.listHosts")).send().await.unwrap().text().await.unwrap();
            let repos = http.get(format!("{base}/xrpc/com.atproto.sync.listRepos")).send().await.unwrap().text().await.unwrap();
            (hosts, repos)
        }
    };
    let before = state().await;

    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let body = json!({"hostname": "not a host!", "did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "rate": 10, "accounts": 10, "enabled": true, "events_per_sec": 1, "accounts_per_host": 1});
    for n in 0..total {
        let mut req = match rng.gen_range(0..7) {
            0 | 1 => {
                let q = QUERIES[rng.gen_range(0..QUERIES.len())];
                http.get(format!("{base}/xrpc/com.atproto.sync.{q}")).query(&fuzz::odd_params(&mut rng, &["did", "hostname", "cursor", "limit"]))
            }
            // requestCrawl with an odd hostname: refused before any connection is made.
            2 => http.post(format!("{base}/xrpc/com.atproto.sync.requestCrawl")).json(&json!({"hostname": fuzz::odd_value(&mut rng, 2)})),
            3 => http.post(format!("{base}{}", ADMIN[rng.gen_range(0..ADMIN.len())])).json(&fuzz::mutate(&mut rng, body.clone())),
            4 => http.post(format!("{base}{}", ADMIN[rng.gen_range(0..ADMIN.len())])).header("content-type", "application/json").body(if rng.gen_bool(0.5) {
                fuzz::nested_json(rng.gen_range(100..20_000)).into_bytes()
            } else {
                fuzz::odd_bytes(&mut rng)
            }),
            5 => http.get(format!("{base}/subscribe")).query(&fuzz::odd_params(&mut rng, &["wantedCollections", "wantedDids", "cursor", "compress"])),
            _ => http.get(format!("{base}/xrpc/{}", fuzz::PATH_TRICKS[rng.gen_range(0..fuzz::PATH_TRICKS.len())])),
        };
        if rng.gen_bool(0.3) {
            req = req.basic_auth("admin", Some("fuzz-admin-password"));
        }
        let fuzz::Sent::Answered(resp) = fuzz::send(&http, req, &format!("{base}/_health"), n).await else { continue };
        let status = resp.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        // 501 is the documented answer to a method the relay does not serve.
        assert!(status < 500 || status == 501, "request {n}: HTTP {status} {}", resp.text().await.unwrap_or_default());
    }
    assert_eq!(reqwest::get(format!("{base}/_health")).await.unwrap().status(), 200);
    assert_eq!(state().await, before, "hosts and repositories are unchanged");
    println!("fuzz: {total} requests, statuses {statuses:?}");
}
