//! Host admission and administration over HTTP: `requestCrawl` checks `describeServer` and
//! respects bans; admin routes need the password; host and account bans take effect;
//! account quotas throttle; `listHosts`/`getHostStatus`/`listRepos`/`getRepoStatus` report it;
//! unknown XRPC methods answer `MethodNotImplemented`; `/_health` and `/metrics` answer.

mod common;

use std::time::Duration;

use common::account::*;
use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "s3cret";

async fn post(client: &reqwest::Client, url: String, password: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = client.post(url).json(&body);
    if let Some(p) = password {
        req = req.basic_auth("admin", Some(p));
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_ban_quota_and_status() {
    let plc = TestPlc::start(Default::default()).await;
    let host = TestHost::start().await;
    let mut a = Account::new("quotaa");
    let mut b = Account::new("quotab");
    plc.set(&a.did, &a.doc("https://pds.test"));
    plc.set(&b.did, &b.doc("https://pds.test"));
    let mut config = testbed_config(&plc, &host);
    config.admin_password = Some(PASSWORD.into());
    config.limits = relay::Limits { enabled: true, events_per_sec: 1000, accounts_per_host: 1 };
    let r = start_relay(config).await;
    let base = format!("http://{}", r.addr);
    let client = reqwest::Client::new();

    // Not a PDS: requestCrawl refuses a host that does not answer describeServer.
    let resp = post(&client, format!("{base}/xrpc/com.atproto.sync.requestCrawl"), None, json!({"hostname": format!("http://{}", plc.addr)})).await;
    assert_eq!(resp.status(), 400);
    // Plain-HTTP public hosts are refused even in testbed mode.
    let resp = post(&client, format!("{base}/xrpc/com.atproto.sync.requestCrawl"), None, json!({"hostname": "http://pds.example.com"})).await;
    assert_eq!(resp.status(), 400);

    // Admin routes need the password.
    let ban = json!({"hostname": format!("http://{}", host.hostname())});
    assert_eq!(post(&client, format!("{base}/admin/hosts/ban"), None, ban.clone()).await.status(), 401);
    assert_eq!(post(&client, format!("{base}/admin/hosts/ban"), Some("wrong"), ban.clone()).await.status(), 401);
    assert_eq!(post(&client, format!("{base}/admin/hosts/ban"), Some(PASSWORD), ban.clone()).await.status(), 200);
    let resp = post(&client, format!("{base}/xrpc/com.atproto.sync.requestCrawl"), None, ban.clone()).await;
    assert_eq!(resp.status(), 403, "banned hosts are refused");
    let hs: Value = client.get(format!("{base}/xrpc/com.atproto.sync.getHostStatus?hostname={}", host.hostname())).send().await.unwrap().json().await.unwrap();
    assert_eq!(hs["status"], "banned");
    assert_eq!(post(&client, format!("{base}/admin/hosts/unban"), Some(PASSWORD), ban.clone()).await.status(), 200);

    // Account quota 1: the second account is throttled, its events not forwarded.
    host.push(1, commit_frame(1, a.create_post()));
    host.push(2, commit_frame(2, b.create_post()));
    host.push(3, commit_frame(3, a.create_post()));
    let resp = post(&client, format!("{base}/xrpc/com.atproto.sync.requestCrawl"), None, ban.clone()).await;
    assert_eq!(resp.status(), 200);
    assert!(wait_until(Duration::from_secs(10), || r.relay.log.head() == 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.relay.log.head(), 2);
    let st: Value = client.get(format!("{base}/xrpc/com.atproto.sync.getRepoStatus?did={}", b.did)).send().await.unwrap().json().await.unwrap();
    assert_eq!(st, json!({"did": b.did, "active": false, "status": "throttled"}));

    // Raising the host's quota lifts the throttle for the next event.
    let limits = json!({"hostname": format!("http://{}", host.hostname()), "accountsPerHost": 10});
    assert_eq!(post(&client, format!("{base}/admin/hosts/limits"), Some(PASSWORD), limits).await.status(), 200);
    host.push(4, commit_frame(4, b.create_post()));
    assert!(wait_until(Duration::from_secs(10), || r.relay.log.head() == 3).await);

    // An account taken down by the relay: status, getLatestCommit, and its events dropped.
    let did = json!({"did": a.did});
    assert_eq!(post(&client, format!("{base}/admin/accounts/ban"), Some(PASSWORD), did.clone()).await.status(), 200);
    let resp = client.get(format!("{base}/xrpc/com.atproto.sync.getLatestCommit?did={}", a.did)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "RepoTakendown");
    // The takedown is announced downstream, then a's events are dropped and b's still pass.
    let account_event = |seq: u64| match atproto::firehose::SubscribeReposFrame::decode(&r.relay.log.read_after(seq - 1, 1).unwrap()[0].frame).unwrap() {
        atproto::firehose::SubscribeReposFrame::Account(e) => (e.did, e.active, e.status),
        other => panic!("expected #account, got {other:?}"),
    };
    assert_eq!(r.relay.log.head(), 4);
    assert_eq!(account_event(4), (a.did.clone(), false, Some("takendown".to_string())));
    host.push(5, commit_frame(5, a.create_post()));
    host.push(6, commit_frame(6, b.create_post()));
    assert!(wait_until(Duration::from_secs(10), || r.relay.log.head() == 5).await);
    assert_eq!(post(&client, format!("{base}/admin/accounts/unban"), Some(PASSWORD), did).await.status(), 200);
    assert_eq!(account_event(6), (a.did.clone(), true, None));
    host.push(7, commit_frame(7, a.create_post()));
    assert!(wait_until(Duration::from_secs(10), || r.relay.log.head() == 7).await);

    let hosts: Value = client.get(format!("{base}/xrpc/com.atproto.sync.listHosts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(hosts["hosts"], json!([{"hostname": host.hostname(), "seq": 7, "accountCount": 2, "status": "active"}]));
    let repos: Value = client.get(format!("{base}/xrpc/com.atproto.sync.listRepos?limit=1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(repos["repos"].as_array().unwrap().len(), 1);
    let cursor = repos["cursor"].as_str().unwrap().to_string();
    let rest: Value = client.get(format!("{base}/xrpc/com.atproto.sync.listRepos?cursor={cursor}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["repos"].as_array().unwrap().len(), 1);
    assert_ne!(rest["repos"][0]["did"], repos["repos"][0]["did"]);

    let resp = client.get(format!("{base}/xrpc/com.atproto.sync.getRepo?did={}", a.did)).send().await.unwrap();
    assert_eq!(resp.status(), 501);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "MethodNotImplemented");
    assert_eq!(client.get(format!("{base}/_health")).send().await.unwrap().status(), 200);
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("relay_events_accepted_total"));
    assert_eq!(metric(r.addr, "relay_events_dropped_total", "reason=\"account_throttled\"").await, 1.0);
    assert_eq!(metric(r.addr, "relay_events_dropped_total", "reason=\"account_banned\"").await, 1.0);
}
