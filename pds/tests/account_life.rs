//! The life of an account over real HTTP and WebSocket on loopback: creation, sessions,
//! posts with an image, likes, follows, edits, deletes, app passwords, deactivation, deletion,
//! each error path with its lexicon error name; then the exported repositories and the whole
//! firehose are verified with the `atproto` crate.

mod common;

use atproto::firehose::{verify_commit, verify_sync, SubscribeReposFrame};
use common::{read_firehose, signing_key, verify_repo, Auth, ADMIN_PASSWORD};
use serde_json::json;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_life() {
    let env = common::start(&[]).await;
    let c = &env.client;

    // --- server description and account creation
    let desc = c.get("com.atproto.server.describeServer", Auth::None, &[]).await.ok();
    assert_eq!(desc["inviteCodeRequired"], true);
    assert_eq!(desc["availableUserDomains"], json!([".test"]));
    let no_invite = json!({"handle": "alice.test", "email": "alice@example.com", "password": "alice-pw"});
    c.post("com.atproto.server.createAccount", Auth::None, no_invite.clone()).await.err(400, "InvalidInviteCode");
    c.post("com.atproto.server.createInviteCode", Auth::Admin("wrong"), json!({"useCount": 1})).await.err(401, "AuthenticationRequired");
    c.post("com.atproto.server.createInviteCode", Auth::None, json!({"useCount": 1})).await.err(401, "AuthenticationRequired");
    let code = c.invite(10).await;
    let mut bad = no_invite.clone();
    bad["inviteCode"] = "nope".into();
    c.post("com.atproto.server.createAccount", Auth::None, bad).await.err(400, "InvalidInviteCode");
    for (handle, err) in [("alice.elsewhere.com", "UnsupportedDomain"), ("al.test", "InvalidHandle"), ("not a handle", "InvalidHandle")] {
        let body = json!({"handle": handle, "email": "x@example.com", "password": "pw", "inviteCode": code});
        c.post("com.atproto.server.createAccount", Auth::None, body).await.err(400, err);
    }
    let alice = c.account("alice", Some(&code)).await;
    let alice_did = alice["did"].as_str().unwrap().to_string();
    assert!(alice_did.starts_with("did:plc:"));
    assert_eq!(alice["handle"], "alice.test");
    let alice_key = signing_key(&alice["didDoc"]);
    // The DID is in the PLC directory with the same key and handle.
    let doc = plc::PlcClient::new(&env.plc.url()).unwrap().get_document(&alice_did).await.unwrap().unwrap();
    assert_eq!(doc.signing_key().unwrap(), alice_key);
    assert_eq!(doc.handle(), Some("alice.test"));
    let dup = json!({"handle": "alice.test", "email": "other@example.com", "password": "pw", "inviteCode": code});
    c.post("com.atproto.server.createAccount", Auth::None, dup).await.err(400, "HandleNotAvailable");
    let dup = json!({"handle": "alice2.test", "email": "alice@example.com", "password": "pw", "inviteCode": code});
    c.post("com.atproto.server.createAccount", Auth::None, dup).await.err(400, "InvalidRequest");
    let bob = c.account("bob", Some(&code)).await;
    let bob_did = bob["did"].as_str().unwrap().to_string();
    let bob_key = signing_key(&bob["didDoc"]);

    // --- sessions
    let login = |id: &str, pw: &str| json!({"identifier": id, "password": pw});
    c.post("com.atproto.server.createSession", Auth::None, login("alice.test", "wrong")).await.err(401, "AuthenticationRequired");
    c.post("com.atproto.server.createSession", Auth::None, login("nobody.test", "x")).await.err(401, "AuthenticationRequired");
    for id in ["alice.test", "alice@example.com", alice_did.as_str()] {
        let s = c.post("com.atproto.server.createSession", Auth::None, login(id, "alice-pw")).await.ok();
        assert_eq!(s["did"], alice_did.as_str());
        assert_eq!(s["active"], true);
    }
    let session = c.post("com.atproto.server.createSession", Auth::None, login("alice.test", "alice-pw")).await.ok();
    let access = session["accessJwt"].as_str().unwrap().to_string();
    let refresh = session["refreshJwt"].as_str().unwrap().to_string();
    let got = c.get("com.atproto.server.getSession", Auth::Bearer(&access), &[]).await.ok();
    assert_eq!((got["handle"].as_str(), got["email"].as_str()), (Some("alice.test"), Some("alice@example.com")));
    c.get("com.atproto.server.getSession", Auth::None, &[]).await.err(401, "AuthMissing");
    c.get("com.atproto.server.getSession", Auth::Bearer("garbage"), &[]).await.err(400, "InvalidToken");
    c.get("com.atproto.server.getSession", Auth::Bearer(&refresh), &[]).await.err(400, "InvalidToken");
    let bob_access = bob["accessJwt"].as_str().unwrap().to_string();

    // --- a post with an image
    let resp = c
        .http
        .post(format!("{}/xrpc/com.atproto.repo.uploadBlob", c.base))
        .bearer_auth(&access)
        .header("content-type", "application/octet-stream")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let blob: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(blob["blob"]["mimeType"], "image/png", "mime type sniffed from the bytes");
    assert_eq!(blob["blob"]["size"], PNG.len());
    let big = c.http.post(format!("{}/xrpc/com.atproto.repo.uploadBlob", c.base)).bearer_auth(&access).body(vec![0u8; 200_000]).send().await.unwrap();
    assert_eq!(big.status(), 413);
    let image_post = |blob: serde_json::Value| {
        json!({"repo": alice_did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": "look", "createdAt": "2026-11-21T12:00:00.000Z",
            "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "a pixel", "image": blob}]}
        }})
    };
    let mut missing = blob["blob"].clone();
    missing["ref"]["$link"] = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku".into();
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&access), image_post(missing)).await.err(400, "BlobNotFound");
    let post = c.post("com.atproto.repo.createRecord", Auth::Bearer(&access), image_post(blob["blob"].clone())).await.ok();
    assert_eq!(post["validationStatus"], "valid");
    let post_uri = post["uri"].as_str().unwrap().to_string();
    let post_cid = post["cid"].as_str().unwrap().to_string();
    let post_rkey = post_uri.rsplit('/').next().unwrap().to_string();
    let cid_s = blob["blob"]["ref"]["$link"].as_str().unwrap().to_string();
    let (status, headers, bytes) = c.get_bytes("com.atproto.sync.getBlob", &[("did", &alice_did), ("cid", &cid_s)]).await;
    assert_eq!((status, bytes.as_slice()), (200, PNG));
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    let blobs = c.get("com.atproto.sync.listBlobs", Auth::None, &[("did", &alice_did)]).await.ok();
    assert_eq!(blobs["cids"], json!([cid_s]));

    // --- bob likes and follows; nobody writes to another's repo
    let like = json!({"repo": bob_did, "collection": "app.bsky.feed.like", "record": {
        "subject": {"uri": post_uri, "cid": post_cid}, "createdAt": "2026-11-21T12:00:00.000Z"}});
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), like).await.ok();
    let follow = json!({"repo": bob_did, "collection": "app.bsky.graph.follow", "record": {
        "$type": "app.bsky.graph.follow", "subject": alice_did, "createdAt": "2026-11-21T12:00:00.000Z"}});
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), follow).await.ok();
    let intrude = json!({"repo": alice_did, "collection": "app.bsky.feed.post", "record": {"text": "hi", "createdAt": "2026-11-21T12:00:00.000Z"}});
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), intrude).await.err(401, "AuthenticationRequired");
    let wrong_type = json!({"repo": bob_did, "collection": "app.bsky.feed.post", "record": {"$type": "app.bsky.feed.like"}});
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), wrong_type).await.err(400, "InvalidRequest");

    // --- Lexicon validation, as the reference applies it
    let write = |collection: &str, rkey: Option<&str>, record: serde_json::Value, validate: Option<bool>| {
        let mut b = json!({"repo": bob_did, "collection": collection, "record": record});
        if let Some(r) = rkey {
            b["rkey"] = r.into();
        }
        if let Some(v) = validate {
            b["validate"] = v.into();
        }
        b
    };
    let long_post = json!({"text": "x".repeat(301), "createdAt": "2026-11-21T12:00:00.000Z"});
    let refused =
        c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), write("app.bsky.feed.post", None, long_post, None)).await.err(400, "InvalidRecord");
    assert!(refused.body["message"].as_str().unwrap().contains("Record/text"), "{:?}", refused.body);
    let undated = json!({"text": "no date"});
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), write("app.bsky.feed.post", None, undated.clone(), Some(true)))
        .await
        .err(400, "InvalidRecord");
    let unvalidated = c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), write("app.bsky.feed.post", None, undated, Some(false))).await.ok();
    assert!(unvalidated.get("validationStatus").is_none(), "{unvalidated}");
    let custom = json!({"anything": [1, 2, 3]});
    let stored = c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), write("coop.example.note", None, custom.clone(), None)).await.ok();
    assert_eq!(stored["validationStatus"], "unknown");
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&bob_access), write("coop.example.note", None, custom, Some(true))).await.err(400, "InvalidRequest");
    let profile = json!({"displayName": "Bob"});
    c.post("com.atproto.repo.putRecord", Auth::Bearer(&bob_access), write("app.bsky.actor.profile", Some("other"), profile, None))
        .await
        .err(400, "InvalidRecord");

    // --- more posts, listing with cursors in both directions
    for i in 0..5 {
        c.post_text(&access, &alice_did, &format!("post {i}")).await;
    }
    let all = c.get("com.atproto.repo.listRecords", Auth::None, &[("repo", "alice.test"), ("collection", "app.bsky.feed.post")]).await.ok();
    let uris: Vec<&str> = all["records"].as_array().unwrap().iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert_eq!(uris.len(), 6);
    assert!(uris.windows(2).all(|w| w[0] > w[1]), "newest first by default");
    let page1 = c
        .get("com.atproto.repo.listRecords", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post"), ("limit", "4"), ("reverse", "true")])
        .await
        .ok();
    let cursor = page1["cursor"].as_str().unwrap().to_string();
    let page2 = c
        .get(
            "com.atproto.repo.listRecords",
            Auth::None,
            &[("repo", &alice_did), ("collection", "app.bsky.feed.post"), ("limit", "4"), ("reverse", "true"), ("cursor", &cursor)],
        )
        .await
        .ok();
    let mut joined: Vec<&str> =
        page1["records"].as_array().unwrap().iter().chain(page2["records"].as_array().unwrap()).map(|r| r["uri"].as_str().unwrap()).collect();
    joined.reverse();
    assert_eq!(joined, uris);
    c.get("com.atproto.repo.listRecords", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post"), ("limit", "0")])
        .await
        .err(400, "InvalidRequest");
    let described = c.get("com.atproto.repo.describeRepo", Auth::None, &[("repo", &alice_did)]).await.ok();
    assert_eq!(described["collections"], json!(["app.bsky.feed.post"]));
    assert_eq!(described["handle"], "alice.test");

    // --- edit with swaps
    let edit = |swap_record: serde_json::Value, swap_commit: Option<&str>| {
        let mut b = json!({"repo": alice_did, "collection": "app.bsky.feed.post", "rkey": post_rkey, "swapRecord": swap_record,
            "record": {"$type": "app.bsky.feed.post", "text": "edited", "createdAt": "2026-11-21T12:00:00.000Z"}});
        if let Some(sc) = swap_commit {
            b["swapCommit"] = sc.into();
        }
        b
    };
    let latest = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok();
    c.post("com.atproto.repo.putRecord", Auth::Bearer(&access), edit(json!(null), None)).await.err(400, "InvalidSwap");
    c.post("com.atproto.repo.putRecord", Auth::Bearer(&access), edit(json!(post_cid), Some(&post_cid))).await.err(400, "InvalidSwap");
    let edited = c.post("com.atproto.repo.putRecord", Auth::Bearer(&access), edit(json!(post_cid), latest["cid"].as_str())).await.ok();
    assert_ne!(edited["cid"], post_cid.as_str());
    let rec = c.get("com.atproto.repo.getRecord", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post"), ("rkey", &post_rkey)]).await.ok();
    assert_eq!(rec["value"]["text"], "edited");
    assert_eq!(rec["cid"], edited["cid"]);

    // --- applyWrites: atomic, at most 200
    let too_many: Vec<_> = (0..201)
        .map(|i| json!({"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": {"text": i.to_string()}}))
        .collect();
    c.post("com.atproto.repo.applyWrites", Auth::Bearer(&access), json!({"repo": alice_did, "writes": too_many})).await.err(400, "InvalidRequest");
    let before = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok();
    let failing = json!({"repo": alice_did, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "rkey": "3aaaaaaaaaaaa", "value": {"text": "x", "createdAt": "2026-11-21T12:00:00.000Z"}},
        {"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": "3zzzzzzzzzzzz"},
    ]});
    c.post("com.atproto.repo.applyWrites", Auth::Bearer(&access), failing).await.err(400, "InvalidRequest");
    assert_eq!(c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok(), before, "nothing changed");
    c.get("com.atproto.repo.getRecord", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post"), ("rkey", "3aaaaaaaaaaaa")])
        .await
        .err(400, "RecordNotFound");
    let batch = json!({"repo": alice_did, "writes": [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.actor.profile", "rkey": "self", "value": {"displayName": "Alice"}},
        {"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": post_rkey, "value": {"text": "edited twice", "createdAt": "2026-11-21T12:00:00.000Z"}},
        {"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": uris[0].rsplit('/').next().unwrap()},
    ]});
    let applied = c.post("com.atproto.repo.applyWrites", Auth::Bearer(&access), batch).await.ok();
    let kinds: Vec<&str> = applied["results"].as_array().unwrap().iter().map(|r| r["$type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["com.atproto.repo.applyWrites#createResult", "com.atproto.repo.applyWrites#updateResult", "com.atproto.repo.applyWrites#deleteResult"]);

    // --- delete
    let del = json!({"repo": alice_did, "collection": "app.bsky.feed.post", "rkey": post_rkey});
    c.post("com.atproto.repo.deleteRecord", Auth::Bearer(&access), del.clone()).await.ok();
    c.get("com.atproto.repo.getRecord", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post"), ("rkey", &post_rkey)])
        .await
        .err(400, "RecordNotFound");
    assert_eq!(c.post("com.atproto.repo.deleteRecord", Auth::Bearer(&access), del).await.ok(), json!({}), "deleting a missing record is a no-op");

    // --- sync.getRecord proves presence
    let (status, _, car) = c.get_bytes("com.atproto.sync.getRecord", &[("did", &alice_did), ("collection", "app.bsky.actor.profile"), ("rkey", "self")]).await;
    assert_eq!(status, 200);
    let mut proven = atproto::repo::Repo::from_car(&car, Default::default()).unwrap();
    proven.commit.verify(&alice_key).unwrap();
    assert!(proven.record("app.bsky.actor.profile/self").unwrap().is_some());

    // --- refresh: rotation revokes the old token
    let refreshed = c.post("com.atproto.server.refreshSession", Auth::Bearer(&refresh), json!({})).await.ok();
    assert_eq!(refreshed["did"], alice_did.as_str());
    c.post("com.atproto.server.refreshSession", Auth::Bearer(&refresh), json!({})).await.err(400, "ExpiredToken");
    c.post("com.atproto.server.refreshSession", Auth::Bearer(&access), json!({})).await.err(400, "InvalidToken");
    let refresh2 = refreshed["refreshJwt"].as_str().unwrap().to_string();
    c.post("com.atproto.server.deleteSession", Auth::Bearer(&refresh2), json!({})).await.ok();
    c.post("com.atproto.server.refreshSession", Auth::Bearer(&refresh2), json!({})).await.err(400, "ExpiredToken");

    // --- app passwords
    let app = c.post("com.atproto.server.createAppPassword", Auth::Bearer(&access), json!({"name": "phone"})).await.ok();
    let app_pw = app["password"].as_str().unwrap().to_string();
    c.post("com.atproto.server.createAppPassword", Auth::Bearer(&access), json!({"name": "phone"})).await.err(400, "InvalidRequest");
    let app_session = c.post("com.atproto.server.createSession", Auth::None, login("alice.test", &app_pw)).await.ok();
    let app_access = app_session["accessJwt"].as_str().unwrap().to_string();
    c.post_text(&app_access, &alice_did, "from my phone").await;
    c.post("com.atproto.server.createAppPassword", Auth::Bearer(&app_access), json!({"name": "x"})).await.err(400, "InvalidToken");
    let listed = c.get("com.atproto.server.listAppPasswords", Auth::Bearer(&access), &[]).await.ok();
    assert_eq!(listed["passwords"][0]["name"], "phone");
    c.post("com.atproto.server.revokeAppPassword", Auth::Bearer(&access), json!({"name": "phone"})).await.ok();
    c.post("com.atproto.server.createSession", Auth::None, login("alice.test", &app_pw)).await.err(401, "AuthenticationRequired");

    // --- deactivate / activate
    c.post("com.atproto.server.deactivateAccount", Auth::Bearer(&access), json!({})).await.ok();
    let post_body = json!({"repo": alice_did, "collection": "app.bsky.feed.post", "record": {"text": "x", "createdAt": "2026-11-21T12:00:00.000Z"}});
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&access), post_body.clone()).await.err(401, "AccountDeactivated");
    c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.err(400, "RepoDeactivated");
    let status = c.get("com.atproto.sync.getRepoStatus", Auth::None, &[("did", &alice_did)]).await.ok();
    assert_eq!((status["active"].as_bool(), status["status"].as_str()), (Some(false), Some("deactivated")));
    c.post("com.atproto.server.activateAccount", Auth::Bearer(&access), json!({})).await.ok();
    c.post("com.atproto.repo.createRecord", Auth::Bearer(&access), post_body).await.ok();

    // --- handle change goes through PLC and the firehose
    c.post("com.atproto.identity.updateHandle", Auth::Bearer(&access), json!({"handle": "bob.test"})).await.err(400, "HandleNotAvailable");
    c.post("com.atproto.identity.updateHandle", Auth::Bearer(&access), json!({"handle": "alicia.test"})).await.ok();
    let doc = plc::PlcClient::new(&env.plc.url()).unwrap().get_document(&alice_did).await.unwrap().unwrap();
    assert_eq!(doc.handle(), Some("alicia.test"));
    let resolved = c.get("com.atproto.identity.resolveHandle", Auth::None, &[("handle", "alicia.test")]).await.ok();
    assert_eq!(resolved["did"], alice_did.as_str());

    // --- the exported repositories verify
    let records = verify_repo(c, &alice_did, &alice_key).await;
    assert!(records.iter().any(|(p, _)| p == "app.bsky.actor.profile/self"));
    assert!(!records.iter().any(|(p, _)| p.ends_with(&post_rkey)), "deleted record is not exported");
    assert_eq!(verify_repo(c, &bob_did, &bob_key).await.len(), 4, "like, follow, unvalidated post, custom record");
    let latest = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok();
    let (_, _, since_car) = c.get_bytes("com.atproto.sync.getRepo", &[("did", &alice_did), ("since", latest["rev"].as_str().unwrap())]).await;
    let since = atproto::car::read(&since_car, Default::default()).unwrap();
    assert_eq!(since.root().unwrap().to_string(), latest["cid"].as_str().unwrap());

    // --- the firehose from cursor 0 replays everything in order, each commit verifying
    let frames = read_firehose(&c.base, Some(0), 1500).await;
    let mut expected_seq = 1;
    let mut last_rev: std::collections::HashMap<String, String> = Default::default();
    let mut commits = 0;
    for f in &frames {
        assert_eq!(f.seq(), Some(expected_seq), "no gap, no duplicate");
        expected_seq += 1;
        match f {
            SubscribeReposFrame::Commit(e) => {
                let key = if e.repo == alice_did { &alice_key } else { &bob_key };
                verify_commit(e, key).unwrap_or_else(|err| panic!("commit {} does not verify: {err}", e.seq));
                assert_eq!(e.since.as_ref(), last_rev.get(&e.repo), "since chains to the previous rev");
                last_rev.insert(e.repo.clone(), e.rev.clone());
                commits += 1;
            }
            SubscribeReposFrame::Sync(e) => {
                let key = if e.did == alice_did { &alice_key } else { &bob_key };
                verify_sync(e, key).unwrap();
                last_rev.insert(e.did.clone(), e.rev.clone());
            }
            _ => {}
        }
    }
    // image post, like, follow, an unvalidated post, a custom-collection record, 5 posts,
    // putRecord, applyWrites, deleteRecord (the second delete of the same record is a no-op),
    // app-password post, post after re-activation.
    assert_eq!(commits, 15, "one #commit per acknowledged write");
    let kinds: Vec<_> = frames.iter().take(3).map(|f| f.kind().unwrap().to_string()).collect();
    assert_eq!(kinds, ["#identity", "#account", "#sync"], "account creation events");
    // Live: a subscriber without a cursor gets new commits.
    let base = c.base.clone();
    let live = tokio::spawn(async move { read_firehose(&base, None, 1500).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c.post_text(&access, &alice_did, "live").await;
    let live = live.await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].seq(), Some(expected_seq));
    // A cursor in the future is refused.
    let future = read_firehose(&c.base, Some(1_000_000), 500).await;
    assert!(matches!(&future[..], [SubscribeReposFrame::Error(e)] if e.error == "FutureCursor"), "{future:?}");

    // --- operator deletion
    c.post("com.atproto.admin.deleteAccount", Auth::Admin(ADMIN_PASSWORD), json!({"did": bob_did})).await.ok();
    c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &bob_did)]).await.err(400, "RepoNotFound");
    c.post("com.atproto.server.createSession", Auth::None, login("bob.test", "bob-pw")).await.err(401, "AuthenticationRequired");
    let last = read_firehose(&c.base, Some(expected_seq), 500).await;
    assert!(matches!(&last[..], [SubscribeReposFrame::Account(a)] if !a.active && a.status.as_deref() == Some("deleted")), "{last:?}");

    // --- unimplemented methods say so; metrics are exported
    c.get("com.atproto.temp.fetchLabels", Auth::None, &[]).await.err(501, "MethodNotImplemented");
    let metrics = c.get_path("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("pds_http_requests_total"), "{metrics}");
    assert!(metrics.contains("pds_repo_commits_total"));
    env.pds.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_open_registration() {
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false"), ("PDS_RATE_LIMIT_CREATE_SESSION", "3")]).await;
    let c = &env.client;
    c.account("carol", None).await;
    let login = json!({"identifier": "carol.test", "password": "wrong"});
    for _ in 0..3 {
        c.post("com.atproto.server.createSession", Auth::None, login.clone()).await.err(401, "AuthenticationRequired");
    }
    let limited = c.http.post(format!("{}/xrpc/com.atproto.server.createSession", c.base)).json(&login).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["ratelimit-limit"], "3");
    assert_eq!(limited.headers()["ratelimit-remaining"], "0");
    assert_eq!(limited.headers()["ratelimit-policy"], "3;w=300");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "RateLimitExceeded");
    // The limit is per identifier and IP: another account can still log in from here.
    c.account("dave", None).await;
    c.post("com.atproto.server.createSession", Auth::None, json!({"identifier": "dave.test", "password": "dave-pw"})).await.ok();
    env.pds.shutdown().await;
}

/// `createAccount` while the PLC directory is unreachable: a clear `UpstreamFailure`, nothing
/// of the account left behind (the handle stays free), and the same request succeeds once the
/// directory is back.
#[tokio::test]
async fn create_account_with_the_plc_directory_down_leaves_nothing_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let plc_addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = pds::Config::from_vars(&common::vars(dir.path(), port, &format!("http://{plc_addr}"), &[("PDS_INVITE_REQUIRED", "false")])).unwrap();
    let server = pds::spawn(config, listener).await.unwrap();
    let client = common::Client::new(&server.url());
    let body = json!({"handle": "late.test", "email": "late@example.com", "password": "late-pw"});

    let refused = client.post("com.atproto.server.createAccount", Auth::None, body.clone()).await.err(502, "UpstreamFailure");
    assert!(refused.body["message"].as_str().unwrap().contains("PLC directory"), "{:?}", refused.body);
    client.get("com.atproto.identity.resolveHandle", Auth::None, &[("handle", "late.test")]).await.err(400, "HandleNotFound");
    client
        .post("com.atproto.server.createSession", Auth::None, json!({"identifier": "late.test", "password": "late-pw"}))
        .await
        .err(401, "AuthenticationRequired");
    let repos = client.get("com.atproto.sync.listRepos", Auth::None, &[]).await.ok();
    assert_eq!(repos["repos"], json!([]), "no half-made repository");

    let plc = plc::ServerBuilder::new(dir.path().join("plc")).metrics_handle(pds::state::metrics_handle()).bind(plc_addr).await.unwrap();
    let made = client.post("com.atproto.server.createAccount", Auth::None, body).await.ok();
    assert_eq!(made["handle"], "late.test");
    let doc = reqwest::get(format!("{}/{}", plc.url(), made["did"].as_str().unwrap())).await.unwrap();
    assert_eq!(doc.status(), 200, "the DID is in the directory now");
    client.post("com.atproto.server.createSession", Auth::None, json!({"identifier": "late.test", "password": "late-pw"})).await.ok();
}
