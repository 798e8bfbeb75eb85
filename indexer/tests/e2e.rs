//! End to end with real processes on loopback: the project's PLC directory, its PDS with the
//! indexer as its AppView (`PDS_BSKY_APP_VIEW_URL`/`_DID`), and the indexer consuming the PDS's
//! firehose. Accounts write over XRPC; every read goes through the PDS's proxy, which signs a
//! service-auth token the indexer verifies, and every response is validated against its
//! lexicon output schema from `../shared/lexicons`.
//!
//! Skips with a notice when the sibling binaries or `../shared` are missing (a failure under
//! `CI=true`).

use std::path::PathBuf;
use std::time::Duration;

use atproto::lexicon::Lexicons;
use serde_json::{json, Value};
use testbed::services::{self, IndexerOptions, PdsOptions};
use testbed::{Binaries, Service};

struct Net {
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    bins: Binaries,
    _plc: Service,
    plc_url: String,
    pds: Service,
    indexer: Service,
    indexer_port: u16,
    lex: Lexicons,
    http: reqwest::Client,
}

struct Account {
    did: String,
    token: String,
}

async fn net() -> Option<Net> {
    let indexer_bin = env!("CARGO_BIN_EXE_indexer");
    let present = testbed::sibling_binary(indexer_bin, "pds").is_some() && testbed::sibling_binary(indexer_bin, "plc").is_some();
    if !atproto::fixtures::available(present, "the pds and plc binaries") {
        return None;
    }
    let lex_dir = atproto::fixtures::shared_path("lexicons");
    if !atproto::fixtures::available(lex_dir.is_some(), "the shared lexicons") {
        return None;
    }
    let lex = Lexicons::load_dir(lex_dir.unwrap()).unwrap();
    let bins = Binaries::beside(std::path::Path::new(indexer_bin));
    let dir = tempfile::tempdir().unwrap();
    let plc = services::plc(&bins, &dir.path().join("plc"), &dir.path().join("plc.log")).await.unwrap();
    let indexer_port = testbed::free_port();
    let indexer_url = format!("http://127.0.0.1:{indexer_port}");
    let mut pds_opts = PdsOptions::new(dir.path().join("pds"), plc.url(), dir.path().join("pds.log"));
    pds_opts.env = vec![("PDS_BSKY_APP_VIEW_URL".into(), indexer_url.clone()), ("PDS_BSKY_APP_VIEW_DID".into(), services::indexer_did(&indexer_url))];
    let pds = services::pds(&bins, &pds_opts).await.unwrap();
    let data = dir.path().join("indexer");
    let log = dir.path().join("indexer.log");
    let indexer = start_indexer(&bins, &data, &log, &plc.url(), &pds.url(), indexer_port).await;
    Some(Net { plc_url: plc.url(), _plc: plc, pds, indexer, indexer_port, lex, http: reqwest::Client::new(), data, log, bins, _dir: dir })
}

async fn start_indexer(bins: &Binaries, data: &std::path::Path, log: &std::path::Path, plc: &str, pds: &str, port: u16) -> Service {
    let mut o = IndexerOptions::new(data, plc, log);
    o.port = Some(port);
    o.firehoses = vec![pds.to_owned()];
    // Handles under .test are the PDS's: the indexer checks them against its well-known.
    o.args = vec!["--host-override".into(), format!(".test={}", pds.trim_start_matches("http://"))];
    services::indexer(bins, &o).await.unwrap()
}

impl Net {
    async fn account(&self, name: &str) -> Account {
        let v = self
            .post(
                None,
                "com.atproto.server.createAccount",
                json!({"handle": format!("{name}.test"), "email": format!("{name}@example.com"), "password": "pw-pw-pw"}),
            )
            .await;
        Account { did: v["did"].as_str().unwrap().into(), token: v["accessJwt"].as_str().unwrap().into() }
    }

    async fn post(&self, token: Option<&str>, method: &str, body: Value) -> Value {
        let mut req = self.http.post(format!("{}/xrpc/{method}", self.pds.url())).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn create(&self, a: &Account, collection: &str, record: Value) -> (String, String) {
        let v = self.post(Some(&a.token), "com.atproto.repo.createRecord", json!({"repo": a.did, "collection": collection, "record": record})).await;
        (v["uri"].as_str().unwrap().into(), v["cid"].as_str().unwrap().into())
    }

    /// A read through the PDS proxy, validated against the method's output schema.
    async fn get(&self, a: &Account, method: &str, query: &[(&str, &str)]) -> Value {
        let resp = self.http.get(format!("{}/xrpc/{method}", self.pds.url())).query(query).bearer_auth(&a.token).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{method} {query:?}: {status} {body}");
        if let Err(e) = self.lex.validate_output(method, &body) {
            panic!("{method} answered outside its schema: {e}\n{body:#}");
        }
        body
    }

    /// Polls `f` until it holds (the indexer is eventually consistent with the firehose).
    async fn eventually<F, Fut>(&self, what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..200 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} never held; indexer log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn post(text: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": now()})
}

fn strong(uri: &str, cid: &str) -> Value {
    json!({"uri": uri, "cid": cid})
}

fn uris(feed: &Value, key: &str) -> Vec<String> {
    feed[key].as_array().unwrap().iter().map(|i| i["post"]["uri"].as_str().or(i["uri"].as_str()).unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_accounts_read_back_what_they_wrote_through_the_pds() {
    let Some(n) = net().await else { return };
    let (alice, bob, carol) = (n.account("alice").await, n.account("bob").await, n.account("carol").await);

    let (p1, p1_cid) = n
        .create(
            &alice,
            "app.bsky.feed.post",
            json!({"$type": "app.bsky.feed.post", "text": "hello #sonde https://example.com/page", "createdAt": now(),
        "facets": [{"index": {"byteStart": 6, "byteEnd": 12}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "sonde"}]},
                   {"index": {"byteStart": 13, "byteEnd": 37}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/page"}]}]}),
        )
        .await;
    let mention = "hi @bob.test".to_string();
    let (p2, _) = n
        .create(
            &alice,
            "app.bsky.feed.post",
            json!({"$type": "app.bsky.feed.post", "text": mention, "createdAt": now(),
        "facets": [{"index": {"byteStart": 3, "byteEnd": 12}, "features": [{"$type": "app.bsky.richtext.facet#mention", "did": bob.did}]}]}),
        )
        .await;
    let mut reply = post("a reply from bob");
    reply["reply"] = json!({"root": strong(&p1, &p1_cid), "parent": strong(&p1, &p1_cid)});
    let (r1, _) = n.create(&bob, "app.bsky.feed.post", reply).await;
    let mut quote = post("bob quotes alice");
    quote["embed"] = json!({"$type": "app.bsky.embed.record", "record": strong(&p1, &p1_cid)});
    let (q1, _) = n.create(&bob, "app.bsky.feed.post", quote).await;
    let like = |subject: &str, cid: &str| json!({"$type": "app.bsky.feed.like", "subject": strong(subject, cid), "createdAt": now()});
    // Every like, repost and follow alice is notified of, by URI: (CID, record). Most are stored
    // as their facts and rebuilt; bob's like has a `via` and the follows other time forms, so
    // the test reads back both the rebuilt and the kept-whole kinds.
    let mut edges = std::collections::HashMap::new();
    let mut create = async |a: &Account, collection: &str, record: Value| {
        let (uri, cid) = n.create(a, collection, record.clone()).await;
        edges.insert(uri.clone(), (cid, record));
        uri
    };
    let carol_like = create(&carol, "app.bsky.feed.like", like(&p1, &p1_cid)).await;
    let mut via_like = like(&p1, &p1_cid);
    via_like["via"] = strong(&q1, &p1_cid);
    create(&bob, "app.bsky.feed.like", via_like).await;
    create(&carol, "app.bsky.feed.repost", json!({"$type": "app.bsky.feed.repost", "subject": strong(&p1, &p1_cid), "createdAt": now()})).await;
    let follow = |did: &str, created_at: String| json!({"$type": "app.bsky.graph.follow", "subject": did, "createdAt": created_at});
    create(&bob, "app.bsky.graph.follow", follow(&alice.did, chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))).await;
    create(&carol, "app.bsky.graph.follow", follow(&alice.did, chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false))).await;
    n.create(&alice, "app.bsky.graph.follow", follow(&bob.did, now())).await;

    // Counts on alice's profile and post, as alice sees them through her PDS.
    n.eventually("alice's counts", || async {
        let p = n.get(&alice, "app.bsky.actor.getProfile", &[("actor", &alice.did)]).await;
        p["followersCount"] == 2 && p["followsCount"] == 1 && p["postsCount"] == 2
    })
    .await;
    n.eventually("p1's counts", || async {
        let v = n.get(&alice, "app.bsky.feed.getPosts", &[("uris", &p1)]).await;
        let p = &v["posts"][0];
        p["likeCount"] == 2 && p["repostCount"] == 1 && p["replyCount"] == 1 && p["quoteCount"] == 1
    })
    .await;

    // Handles are verified both ways (the DID document names it, the PDS's well-known agrees).
    n.eventually("bob's handle", || async {
        let p = n.get(&alice, "app.bsky.actor.getProfile", &[("actor", &bob.did)]).await;
        p["handle"] == "bob.test"
    })
    .await;
    let by_handle = n.get(&alice, "app.bsky.actor.getProfile", &[("actor", "bob.test")]).await;
    assert_eq!(by_handle["did"], bob.did.as_str());

    // Alice follows bob: her timeline has her posts and bob's, newest first.
    let tl = n.get(&alice, "app.bsky.feed.getTimeline", &[]).await;
    assert_eq!(uris(&tl, "feed"), [q1.clone(), r1.clone(), p2.clone(), p1.clone()]);
    assert_eq!(tl["feed"][1]["reply"]["parent"]["uri"], p1.as_str());
    // Carol follows alice and sees her posts; carol's own repost of p1 is in it too.
    let tl = n.get(&carol, "app.bsky.feed.getTimeline", &[]).await;
    assert!(uris(&tl, "feed").contains(&p2));
    assert!(tl["feed"].as_array().unwrap().iter().any(|i| i["reason"]["by"]["did"] == carol.did.as_str()));

    // The thread: p1 with bob's reply under it.
    let t = n.get(&alice, "app.bsky.feed.getPostThread", &[("uri", &p1)]).await;
    assert_eq!(t["thread"]["post"]["uri"], p1.as_str());
    assert_eq!(t["thread"]["replies"][0]["post"]["uri"], r1.as_str());
    let t = n.get(&alice, "app.bsky.feed.getPostThread", &[("uri", &r1)]).await;
    assert_eq!(t["thread"]["parent"]["post"]["uri"], p1.as_str());
    let v2 = n.get(&alice, "app.bsky.unspecced.getPostThreadV2", &[("anchor", &r1)]).await;
    let depths: Vec<i64> = v2["thread"].as_array().unwrap().iter().map(|i| i["depth"].as_i64().unwrap()).collect();
    assert_eq!(depths, [-1, 0]);

    // The graph and the viewer's state.
    let f = n.get(&alice, "app.bsky.graph.getFollowers", &[("actor", &alice.did)]).await;
    let mut followers: Vec<&str> = f["followers"].as_array().unwrap().iter().map(|p| p["did"].as_str().unwrap()).collect();
    followers.sort();
    let mut want = vec![bob.did.as_str(), carol.did.as_str()];
    want.sort();
    assert_eq!(followers, want);
    let bob_seen = n.get(&alice, "app.bsky.actor.getProfile", &[("actor", &bob.did)]).await;
    assert!(bob_seen["viewer"]["following"].is_string() && bob_seen["viewer"]["followedBy"].is_string(), "{bob_seen}");
    let p = n.get(&carol, "app.bsky.feed.getPosts", &[("uris", &p1)]).await;
    assert_eq!(p["posts"][0]["viewer"]["like"], carol_like.as_str());

    // Notifications: two likes, a repost, two follows, a reply and a quote for alice; a
    // mention for bob.
    let notes = n.get(&alice, "app.bsky.notification.listNotifications", &[]).await;
    let mut reasons: Vec<&str> = notes["notifications"].as_array().unwrap().iter().map(|x| x["reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(reasons, ["follow", "follow", "like", "like", "quote", "reply", "repost"]);
    for x in notes["notifications"].as_array().unwrap().iter().filter(|x| ["like", "repost", "follow"].contains(&x["reason"].as_str().unwrap())) {
        let (cid, record) = &edges[x["uri"].as_str().unwrap()];
        assert_eq!((&x["cid"], &x["record"]), (&json!(cid), record), "{x:#}");
    }
    let notes = n.get(&bob, "app.bsky.notification.listNotifications", &[]).await;
    assert!(notes["notifications"].as_array().unwrap().iter().any(|x| x["reason"] == "mention" && x["uri"] == p2.as_str()));
    let unread = n.get(&alice, "app.bsky.notification.getUnreadCount", &[]).await;
    assert_eq!(unread["count"], 7);

    // Search, with the syntax people use.
    n.eventually("search", || async {
        let s = n.get(&alice, "app.bsky.feed.searchPosts", &[("q", "hello")]).await;
        uris(&s, "posts") == [p1.clone()]
    })
    .await;
    for (q, want) in [
        ("#sonde", vec![p1.clone()]),
        ("domain:example.com", vec![p1.clone()]),
        (&*format!("from:{}", bob.did), vec![q1.clone(), r1.clone()]),
        (&*format!("mentions:{}", bob.did), vec![p2.clone()]),
    ] {
        let s = n.get(&alice, "app.bsky.feed.searchPosts", &[("q", q)]).await;
        assert_eq!(uris(&s, "posts"), want, "{q}");
    }

    // A delete is reflected, once.
    let rkey = carol_like.rsplit('/').next().unwrap();
    n.post(Some(&carol.token), "com.atproto.repo.deleteRecord", json!({"repo": carol.did, "collection": "app.bsky.feed.like", "rkey": rkey})).await;
    n.eventually("the like is gone", || async {
        let v = n.get(&alice, "app.bsky.feed.getPosts", &[("uris", &p1)]).await;
        v["posts"][0]["likeCount"] == 1
    })
    .await;

    // A block hides content both ways: carol blocks bob, and bob's reply leaves her thread.
    n.create(&carol, "app.bsky.graph.block", json!({"$type": "app.bsky.graph.block", "subject": bob.did, "createdAt": now()})).await;
    n.eventually("the block applies", || async {
        let t = n.get(&carol, "app.bsky.feed.getPostThread", &[("uri", &p1)]).await;
        t["thread"]["replies"].as_array().is_some_and(|r| r.is_empty())
    })
    .await;
    let t = n.get(&carol, "app.bsky.feed.getPostThread", &[("uri", &r1)]).await;
    assert_eq!(t["thread"]["$type"], "app.bsky.feed.defs#blockedPost");

    // Bad parameters are InvalidRequest, never a 500.
    for (method, q) in [
        ("app.bsky.feed.getPostThread", vec![("uri", "nope")]),
        ("app.bsky.actor.getProfile", vec![]),
        ("app.bsky.feed.getAuthorFeed", vec![("actor", alice.did.as_str()), ("limit", "0")]),
        ("app.bsky.feed.getTimeline", vec![("cursor", "x")]),
    ] {
        let resp = n.http.get(format!("{}/xrpc/{method}", n.pds.url())).query(&q).bearer_auth(&alice.token).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{method} {q:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "InvalidRequest", "{method}: {body}");
    }
    // Without a token the indexer refuses viewer-only methods, and it serves its DID document.
    let direct = format!("http://127.0.0.1:{}", n.indexer_port);
    let resp = n.http.get(format!("{direct}/xrpc/app.bsky.feed.getTimeline")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let doc: Value = n.http.get(format!("{direct}/.well-known/did.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["service"][0]["id"], "#bsky_appview");
    let resp = n.http.get(format!("{direct}/xrpc/app.bsky.feed.getFeed")).send().await.unwrap();
    assert_eq!(resp.status(), 501);
    let metrics = n.http.get(format!("{direct}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("indexer_records_total") && metrics.contains("indexer_store_bytes"), "{metrics}");

    // SIGTERM stops it cleanly and promptly (the writer drains, search commits).
    let mut n = n;
    let status = n.indexer.process.stop(Duration::from_secs(10)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {}", std::fs::read_to_string(&n.log).unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_during_ingest_loses_nothing_and_counts_nothing_twice() {
    let Some(mut n) = net().await else { return };
    let (alice, bob) = (n.account("alice").await, n.account("bob").await);
    // Bob posts and likes each of his posts, while the indexer is killed half way.
    let mut written = 0;
    for i in 0..120 {
        let (uri, cid) = n.create(&bob, "app.bsky.feed.post", post(&format!("post {i}"))).await;
        n.create(&bob, "app.bsky.feed.like", json!({"$type": "app.bsky.feed.like", "subject": strong(&uri, &cid), "createdAt": now()})).await;
        written += 1;
        if i == 60 {
            n.indexer.process.kill().await;
        }
    }
    n.indexer = start_indexer(&n.bins, &n.data, &n.log, &n.plc_url, &n.pds.url(), n.indexer_port).await;
    n.eventually("bob's posts, once each", || async {
        let p = n.get(&alice, "app.bsky.actor.getProfile", &[("actor", &bob.did)]).await;
        p["postsCount"] == written
    })
    .await;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("actor", bob.did.as_str()), ("limit", "50")];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = n.get(&alice, "app.bsky.feed.getAuthorFeed", &q).await;
        for item in page["feed"].as_array().unwrap() {
            all.push((item["post"]["uri"].as_str().unwrap().to_owned(), item["post"]["likeCount"].as_i64().unwrap()));
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: std::collections::HashSet<_> = all.iter().map(|(u, _)| u).collect();
    assert_eq!((all.len(), unique.len()), (written as usize, written as usize), "every post once, across pages");
    assert!(all.iter().all(|(_, likes)| *likes == 1), "every like counted once: {all:?}");
}

/// `NODE` and `NODE_PATH` from `scripts/clients.sh`, or `None` (skip) outside CI.
fn install_clients() -> Option<Vec<(String, String)>> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clients.sh");
    let out = std::process::Command::new("bash").arg(&script).output().expect("run bash");
    let why = String::from_utf8_lossy(&out.stderr).into_owned();
    if !atproto::fixtures::available(out.status.success(), &format!("the official clients (scripts/clients.sh: {why})")) {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_gets_a_working_appview_through_the_pds() {
    let Some(clients) = tokio::task::spawn_blocking(install_clients).await.unwrap() else { return };
    let Some(n) = net().await else { return };
    let node = clients.iter().find(|(k, _)| k == "NODE").map(|(_, v)| v.clone()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/appview.mjs");
    let mut cmd = tokio::process::Command::new(node);
    cmd.arg(&script).envs(clients.iter().map(|(k, v)| (k.as_str(), v.as_str()))).env("PDS_URL", n.pds.url()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output()).await.expect("the client script finishes in 3 minutes").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && !stdout.contains("FAIL "),
        "{stdout}\n{}\nindexer log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&n.log).unwrap_or_default()
    );
}

/// A read straight from an indexer, without a viewer.
async fn direct(n: &Net, base: &str, method: &str, query: &[(&str, &str)]) -> Value {
    let resp = n.http.get(format!("{base}/xrpc/{method}")).query(query).send().await.unwrap();
    assert!(resp.status().is_success(), "{method}: {}", resp.status());
    let body: Value = resp.json().await.unwrap();
    n.lex.validate_output(method, &body).unwrap();
    body
}

/// What an indexer shows of an account: profile counts, and every post with its counts.
async fn state(n: &Net, base: &str, did: &str) -> Value {
    let p = direct(n, base, "app.bsky.actor.getProfile", &[("actor", did)]).await;
    let feed = direct(n, base, "app.bsky.feed.getAuthorFeed", &[("actor", did), ("limit", "100")]).await;
    let posts: Vec<Value> = feed["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["post"]["uri"], i["post"]["likeCount"], i["post"]["replyCount"], i["reason"].is_object()]))
        .collect();
    json!({"followers": p["followersCount"], "follows": p["followsCount"], "posts": p["postsCount"], "feed": posts})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_joined_to_the_live_stream_gives_the_same_state_as_live_only() {
    let Some(n) = net().await else { return };
    let accounts = [n.account("alice").await, n.account("bob").await, n.account("carol").await];
    let write_round = |round: usize| {
        let n = &n;
        let accounts = &accounts;
        async move {
            for (i, a) in accounts.iter().enumerate() {
                let (uri, cid) = n.create(a, "app.bsky.feed.post", post(&format!("round {round} by {i}"))).await;
                let other = &accounts[(i + 1) % 3];
                n.create(other, "app.bsky.feed.like", json!({"$type": "app.bsky.feed.like", "subject": strong(&uri, &cid), "createdAt": now()})).await;
                if round == 0 {
                    n.create(a, "app.bsky.graph.follow", json!({"$type": "app.bsky.graph.follow", "subject": other.did, "createdAt": now()})).await;
                }
                if round % 3 == 1 {
                    n.create(other, "app.bsky.feed.repost", json!({"$type": "app.bsky.feed.repost", "subject": strong(&uri, &cid), "createdAt": now()})).await;
                }
            }
        }
    };
    // History the second indexer never sees live.
    for round in 0..10 {
        write_round(round).await;
    }
    // The second indexer starts from the live tail and backfills, while writes go on.
    let port = testbed::free_port();
    let mut o = IndexerOptions::new(n.data.with_file_name("indexer-b"), &n.plc_url, n.log.with_file_name("indexer-b.log"));
    o.port = Some(port);
    o.firehoses = vec![n.pds.url()];
    o.args = vec!["--backfill-from".into(), n.pds.url()];
    let b_start = services::indexer(&n.bins, &o);
    let (b, ()) = tokio::join!(b_start, async {
        for round in 10..20 {
            write_round(round).await;
        }
    });
    let _b = b.unwrap();
    let (a_url, b_url) = (format!("http://127.0.0.1:{}", n.indexer_port), format!("http://127.0.0.1:{port}"));
    for acct in &accounts {
        n.eventually("the live-only indexer has every post", || async { state(&n, &a_url, &acct.did).await["posts"] == 20 }).await;
        let mut last = Value::Null;
        for _ in 0..100 {
            let (sa, sb) = (state(&n, &a_url, &acct.did).await, state(&n, &b_url, &acct.did).await);
            if sa == sb {
                last = Value::Null;
                break;
            }
            last = json!({"live": sa, "backfilled": sb});
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(last.is_null(), "the backfilled indexer differs: {last:#}");
    }

    // `indexer backfill` does the same in the foreground and exits when every listed
    // repository is in; `stats` then counts every record, by collection.
    let data = n.data.with_file_name("indexer-c");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_indexer"))
        .args(["backfill", "--listen", &format!("127.0.0.1:{}", testbed::free_port()), "--plc-url", &n.plc_url, "--insecure-loopback"])
        .args(["--firehose", &n.pds.url(), "--backfill-from", &n.pds.url(), "--data"])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("backfill finishes").unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stats = std::process::Command::new(env!("CARGO_BIN_EXE_indexer")).args(["stats", "--json", "--data"]).arg(&data).output().unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    let by: std::collections::BTreeMap<String, i64> =
        stats["collections"].as_array().unwrap().iter().map(|c| (c["collection"].as_str().unwrap().to_owned(), c["records"].as_i64().unwrap())).collect();
    // 3 accounts × 20 rounds: a post and a like each; a follow each in round 0; a repost
    // each in rounds 1, 4, 7, 10, 13, 16 and 19.
    for (coll, want) in [("app.bsky.feed.post", 60), ("app.bsky.feed.like", 60), ("app.bsky.graph.follow", 3), ("app.bsky.feed.repost", 21)] {
        assert_eq!(by.get(coll).copied(), Some(want), "{coll}: {stats:#}");
    }
    assert_eq!(stats["records"], 144);
}
