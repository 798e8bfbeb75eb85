//! The auth matrix: every XRPC method the PDS serves is classified by the credential it needs
//! (the table is checked against the PDS's own dispatch table, so a new method cannot be left
//! out), and every authenticated one is tried with no token, a malformed token, an expired
//! one, one signed with another secret, the wrong kind of token, an app password where the
//! main password is needed, and (for repository writes) another account's token and the
//! tokens of a taken-down and a deactivated account. Each gets its refusal, and the target
//! repository is unchanged afterwards: no cross-account write.

mod common;

use std::collections::BTreeSet;

use common::{Auth, ADMIN_PASSWORD};
use serde_json::{json, Value};

use common::methods::{is_query, Needs, METHODS, REPO_WRITES};
use Needs::*;

#[test]
fn the_table_names_every_method_the_pds_dispatches() {
    let source = include_str!("../src/api/mod.rs");
    let mut dispatched: BTreeSet<&str> = source
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (nsid, rest) = l.strip_prefix('"')?.split_once("\" => ")?;
            (rest.starts_with("p!(") || rest.starts_with("q!(")).then_some(nsid)
        })
        .collect();
    dispatched.insert("com.atproto.repo.importRepo"); // its own route, for its streamed body
    let table: BTreeSet<&str> = METHODS.iter().map(|(m, _)| *m).collect();
    assert_eq!(table.len(), METHODS.len(), "a method is listed twice");
    assert_eq!(dispatched, table);
}

/// An HS256 token with these claims, signed with `secret`.
fn jwt(secret: &str, typ: &str, scope: &str, did: &str, aud: &str, exp_offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(typ.into());
    let claims = json!({"scope": scope, "sub": did, "aud": aud, "iat": now - 7200, "exp": now + exp_offset, "jti": "matrix"});
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_credential_is_refused_and_nothing_is_written_across_accounts() {
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false")]).await;
    let c = &env.client;
    let vars = common::vars(env.dir.path(), 0, "", &[]);
    let secret = vars["PDS_JWT_SECRET"].clone();
    let service_did = c.get("com.atproto.server.describeServer", Auth::None, &[]).await.ok()["did"].as_str().unwrap().to_owned();
    let [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(|n| n.to_string());
    let mut accounts = Vec::new();
    for name in [&alice, &bob, &carol, &dave] {
        accounts.push(c.account(name, None).await);
    }
    let token = |i: usize, key: &str| accounts[i][key].as_str().unwrap().to_owned();
    let did = |i: usize| accounts[i]["did"].as_str().unwrap().to_owned();
    let post = c.post_text(&token(0, "accessJwt"), &did(0), "alice's post").await;
    let rkey = post["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let app = c.post("com.atproto.server.createAppPassword", Auth::Bearer(&token(0, "accessJwt")), json!({"name": "matrix"})).await.ok();
    let app_session = c.post("com.atproto.server.createSession", Auth::None, json!({"identifier": did(0), "password": app["password"]})).await.ok()
        ["accessJwt"]
        .as_str()
        .unwrap()
        .to_owned();
    // Carol is taken down by the admin; dave deactivates himself. Their tokens were valid.
    let takedown = json!({"subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did(2)}, "takedown": {"applied": true, "ref": "matrix"}});
    c.post("com.atproto.admin.updateSubjectStatus", Auth::Admin(ADMIN_PASSWORD), takedown).await.ok();
    c.post("com.atproto.server.deactivateAccount", Auth::Bearer(&token(3, "accessJwt")), json!({})).await.ok();
    let before = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &did(0))]).await.ok();

    let alice_did = did(0);
    let body = json!({
        "repo": alice_did, "collection": "app.bsky.feed.post", "rkey": rkey, "validate": false,
        "record": {"$type": "app.bsky.feed.post", "text": "not alice's", "createdAt": "2026-11-21T12:00:00.000Z"},
        "writes": [{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": rkey}],
        "name": "matrix", "handle": "taken.test", "preferences": [], "email": "x@example.com", "token": "x",
    });
    let query = [("did", alice_did.as_str()), ("repo", alice_did.as_str()), ("collection", "app.bsky.feed.post"), ("rkey", rkey.as_str())];
    let call = |nsid: &'static str, authorization: Option<String>| {
        let (http, base, body) = (c.http.clone(), c.base.clone(), body.clone());
        async move {
            let url = format!("{base}/xrpc/{nsid}");
            let mut req = if is_query(nsid) { http.get(url).query(&query) } else { http.post(url).json(&body) };
            if let Some(a) = authorization {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body["error"].as_str().unwrap_or("").to_owned())
        }
    };

    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let access_of = |scope: &str, secret: &str, exp: i64| jwt(secret, "at+jwt", scope, &alice_did, &service_did, exp);
    let mut tried = 0;
    let mut check = |what: String, got: (u16, String), want: (u16, &str)| {
        tried += 1;
        assert_eq!((got.0, got.1.as_str()), want, "{what}");
    };
    for &(nsid, needs) in METHODS {
        let (wrong_kind, expired, forged) = match needs {
            Public => continue,
            Admin => {
                check(format!("{nsid}: no credentials"), call(nsid, None).await, (401, "AuthenticationRequired"));
                let wrong = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "admin:wrong-admin-password"));
                check(format!("{nsid}: a wrong admin password"), call(nsid, Some(wrong)).await, (401, "AuthenticationRequired"));
                check(format!("{nsid}: a user's token"), call(nsid, bearer(&token(0, "accessJwt"))).await, (401, "AuthenticationRequired"));
                continue;
            }
            Refresh => (
                token(0, "accessJwt"),
                jwt(&secret, "refresh+jwt", "com.atproto.refresh", &alice_did, &service_did, -60),
                jwt("another-secret-of-at-least-32-bytes", "refresh+jwt", "com.atproto.refresh", &alice_did, &service_did, 3600),
            ),
            Access | Full => (
                token(0, "refreshJwt"),
                access_of("com.atproto.access", &secret, -60),
                access_of("com.atproto.access", "another-secret-of-at-least-32-bytes", 3600),
            ),
        };
        check(format!("{nsid}: no token"), call(nsid, None).await, (401, "AuthMissing"));
        check(format!("{nsid}: a malformed token"), call(nsid, bearer("not.a.jwt")).await, (400, "InvalidToken"));
        check(format!("{nsid}: an expired token"), call(nsid, bearer(&expired)).await, (400, "ExpiredToken"));
        check(format!("{nsid}: another secret"), call(nsid, bearer(&forged)).await, (400, "InvalidToken"));
        check(format!("{nsid}: the wrong kind of token"), call(nsid, bearer(&wrong_kind)).await, (400, "InvalidToken"));
        if needs == Full {
            check(format!("{nsid}: an app password"), call(nsid, bearer(&app_session)).await, (400, "InvalidToken"));
        }
    }
    for &nsid in REPO_WRITES {
        check(format!("{nsid}: bob writing alice's repo"), call(nsid, bearer(&token(1, "accessJwt"))).await, (401, "AuthenticationRequired"));
        check(format!("{nsid}: a taken-down account"), call(nsid, bearer(&token(2, "accessJwt"))).await, (401, "AccountTakedown"));
        check(format!("{nsid}: a deactivated account"), call(nsid, bearer(&token(3, "accessJwt"))).await, (401, "AccountDeactivated"));
    }
    let count = |n: Needs| METHODS.iter().filter(|(_, needs)| *needs == n).count();
    let expected = 3 * count(Admin) + 5 * (count(Access) + count(Full) + count(Refresh)) + count(Full) + 3 * REPO_WRITES.len();
    assert_eq!(tried, expected, "every case ran");

    let after = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &alice_did)]).await.ok();
    assert_eq!(before, after, "alice's repository is unchanged: no cross-account write");
    let records = c.get("com.atproto.repo.listRecords", Auth::None, &[("repo", &alice_did), ("collection", "app.bsky.feed.post")]).await.ok();
    assert_eq!(records["records"].as_array().unwrap().len(), 1);
    println!("auth matrix: {tried} refused requests, 0 cross-account writes");
}
