//! Over loopback HTTP: the email-token flows (confirmation, email update, password reset,
//! self-service account deletion) with tokens read from the outbox the PDS writes when no
//! SMTP server is configured; preferences kept by the PDS; blobs released by record deletion
//! and unreferenced uploads swept after the grace period.

mod common;

use std::time::Duration;

use atproto::firehose::SubscribeReposFrame;
use common::{read_firehose, Auth, Client};
use serde_json::{json, Value};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// The token in the one message in `outbox`, which is then emptied.
fn take_mailed_token(outbox: &std::path::Path) -> String {
    let mut tokens = Vec::new();
    for entry in std::fs::read_dir(outbox).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        for word in text.split_whitespace() {
            let ok = word.len() == 11 && word.as_bytes()[5] == b'-' && word.chars().all(|c| c == '-' || c.is_ascii_lowercase() || ('2'..='7').contains(&c));
            if ok {
                tokens.push(word.to_string());
            }
        }
    }
    assert_eq!(tokens.len(), 1, "one mailed token: {tokens:?}");
    tokens.pop().unwrap()
}

async fn upload(c: &Client, token: &str, bytes: &[u8]) -> Value {
    let resp = c.http.post(format!("{}/xrpc/com.atproto.repo.uploadBlob", c.base)).bearer_auth(token).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["blob"].clone()
}

async fn blob_status(c: &Client, did: &str, blob: &Value) -> u16 {
    let cid = blob["ref"]["$link"].as_str().unwrap();
    c.get_bytes("com.atproto.sync.getBlob", &[("did", did), ("cid", cid)]).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_tokens_preferences_and_blob_cleanup() {
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false"), ("PDS_BLOB_GRACE_PERIOD_MS", "1500")]).await;
    let c = &env.client;
    let outbox = env.dir.path().join("pds").join("mail-outbox");
    let erin = c.account("erin", None).await;
    let did = erin["did"].as_str().unwrap().to_string();
    let access = erin["accessJwt"].as_str().unwrap().to_string();
    let session = |token: &str| {
        let token = token.to_string();
        async move { c.get("com.atproto.server.getSession", Auth::Bearer(&token), &[]).await.ok() }
    };

    // --- email confirmation
    c.post("com.atproto.server.requestEmailConfirmation", Auth::Bearer(&access), json!({})).await.ok();
    let token = take_mailed_token(&outbox);
    let confirm = |email: &str, token: &str| json!({"email": email, "token": token});
    c.post("com.atproto.server.confirmEmail", Auth::Bearer(&access), confirm("erin@example.com", "aaaaa-bbbbb")).await.err(400, "InvalidToken");
    c.post("com.atproto.server.confirmEmail", Auth::Bearer(&access), confirm("other@example.com", &token)).await.err(400, "InvalidEmail");
    c.post("com.atproto.server.confirmEmail", Auth::Bearer(&access), confirm("erin@example.com", &token)).await.ok();
    assert_eq!(session(&access).await["emailConfirmed"], true);

    // --- email update: a confirmed address needs a token sent to it
    let update = c.post("com.atproto.server.requestEmailUpdate", Auth::Bearer(&access), json!({})).await.ok();
    assert_eq!(update["tokenRequired"], true);
    let token = take_mailed_token(&outbox);
    c.post("com.atproto.server.updateEmail", Auth::Bearer(&access), json!({"email": "erin@coop.example"})).await.err(400, "TokenRequired");
    c.post("com.atproto.server.updateEmail", Auth::Bearer(&access), json!({"email": "erin@coop.example", "token": token})).await.ok();
    let s = session(&access).await;
    assert_eq!((s["email"].as_str(), &s["emailConfirmed"]), (Some("erin@coop.example"), &json!(false)));
    c.post("com.atproto.server.updateEmail", Auth::Bearer(&access), json!({"email": "erin@coop.example", "token": token})).await.ok(); // unconfirmed now, and unchanged: no token needed

    // --- password reset (the request never reveals whether an address has an account)
    c.post("com.atproto.server.requestPasswordReset", Auth::None, json!({"email": "nobody@example.com"})).await.ok();
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 0);
    c.post("com.atproto.server.requestPasswordReset", Auth::None, json!({"email": "erin@coop.example"})).await.ok();
    let token = take_mailed_token(&outbox);
    c.post("com.atproto.server.resetPassword", Auth::None, json!({"token": "zzzzz-zzzzz", "password": "x"})).await.err(400, "InvalidToken");
    c.post("com.atproto.server.resetPassword", Auth::None, json!({"token": token, "password": "new-erin-pw"})).await.ok();
    c.post("com.atproto.server.resetPassword", Auth::None, json!({"token": token, "password": "again"})).await.err(400, "InvalidToken");
    let login = |pw: &str| json!({"identifier": "erin.test", "password": pw});
    c.post("com.atproto.server.createSession", Auth::None, login("erin-pw")).await.err(401, "AuthenticationRequired");
    c.post("com.atproto.server.createSession", Auth::None, login("new-erin-pw")).await.ok();

    // --- preferences live on the PDS; personal details need the account password
    let prefs = json!({"preferences": [
        {"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false},
        {"$type": "app.bsky.actor.defs#personalDetailsPref", "birthDate": "1990-01-01T00:00:00.000Z"},
    ]});
    c.post("app.bsky.actor.putPreferences", Auth::Bearer(&access), prefs.clone()).await.ok();
    let got = c.get("app.bsky.actor.getPreferences", Auth::Bearer(&access), &[]).await.ok();
    assert_eq!(got, prefs);
    c.post("app.bsky.actor.putPreferences", Auth::Bearer(&access), json!({"preferences": [{"$type": "com.example.pref"}]})).await.err(400, "InvalidRequest");
    let app = c.post("com.atproto.server.createAppPassword", Auth::Bearer(&access), json!({"name": "phone"})).await.ok();
    let app_session = c.post("com.atproto.server.createSession", Auth::None, json!({"identifier": "erin.test", "password": app["password"]})).await.ok();
    let app_access = app_session["accessJwt"].as_str().unwrap().to_string();
    let seen = c.get("app.bsky.actor.getPreferences", Auth::Bearer(&app_access), &[]).await.ok();
    assert_eq!(seen["preferences"].as_array().unwrap().len(), 1, "{seen}");
    c.post("app.bsky.actor.putPreferences", Auth::Bearer(&app_access), prefs.clone()).await.err(400, "InvalidRequest");
    c.post("app.bsky.actor.putPreferences", Auth::Bearer(&app_access), json!({"preferences": []})).await.ok();
    let kept = c.get("app.bsky.actor.getPreferences", Auth::Bearer(&access), &[]).await.ok();
    assert_eq!(kept["preferences"], json!([prefs["preferences"][1]]), "personal details survive an app-password put");

    // --- blobs: released with the record that used them; unused uploads swept after the grace period
    let used = upload(c, &access, PNG).await;
    let unused = upload(c, &access, b"just some bytes").await;
    let post = c
        .post(
            "com.atproto.repo.createRecord",
            Auth::Bearer(&access),
            json!({"repo": did, "collection": "app.bsky.feed.post", "record": {
                "text": "pic", "createdAt": "2026-11-21T12:00:00.000Z",
                "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": used}]}}}),
        )
        .await
        .ok();
    assert_eq!(blob_status(c, &did, &used).await, 200);
    assert_eq!(blob_status(c, &did, &unused).await, 200);
    let rkey = post["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    c.post("com.atproto.repo.deleteRecord", Auth::Bearer(&access), json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})).await.ok();
    assert_eq!(blob_status(c, &did, &used).await, 400, "released with its record");
    assert_eq!(blob_status(c, &did, &unused).await, 200, "still within the grace period");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    pds::blob_gc::sweep(&env.pds.state).await.unwrap();
    assert_eq!(blob_status(c, &did, &unused).await, 400, "swept after the grace period");
    let blob_dir = env.dir.path().join("blobs").join(&did);
    let files: Vec<_> = std::fs::read_dir(&blob_dir).unwrap().flatten().collect();
    assert!(files.is_empty(), "blob files removed: {files:?}");

    // --- self-service deletion: token by email, plus the password
    let seq_before = env.pds.state.store.sequencer.durable_seq();
    c.post("com.atproto.server.requestAccountDelete", Auth::Bearer(&access), json!({})).await.ok();
    let token = take_mailed_token(&outbox);
    let delete = |pw: &str, token: &str| json!({"did": did, "password": pw, "token": token});
    c.post("com.atproto.server.deleteAccount", Auth::None, delete("new-erin-pw", "aaaaa-aaaaa")).await.err(400, "InvalidToken");
    c.post("com.atproto.server.deleteAccount", Auth::None, delete("wrong", &token)).await.err(401, "AuthenticationRequired");
    c.post("com.atproto.server.deleteAccount", Auth::None, delete("new-erin-pw", &token)).await.ok();
    c.post("com.atproto.server.createSession", Auth::None, login("new-erin-pw")).await.err(401, "AuthenticationRequired");
    c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &did)]).await.err(400, "RepoNotFound");
    c.get("com.atproto.identity.resolveHandle", Auth::None, &[("handle", "erin.test")]).await.err(400, "HandleNotFound");
    let events = read_firehose(&c.base, Some(seq_before as i64), 500).await;
    assert!(matches!(&events[..], [SubscribeReposFrame::Account(a)] if !a.active && a.status.as_deref() == Some("deleted")), "{events:?}");
    env.pds.shutdown().await;
}
