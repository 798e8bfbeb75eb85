//! The endpoints the account-life test does not reach, over loopback HTTP: invite codes
//! (batch creation, per-account listing, exhaustion, disabling), `getServiceAuth` (claims,
//! signature, expiry rules), `sync.getBlocks`, `sync.listRepos` paging, and the well-known
//! documents.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{signing_key, Auth, ADMIN_PASSWORD};
use serde_json::{json, Value};

fn new_account(handle: &str, code: &str) -> Value {
    json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "pw-12345", "inviteCode": code})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_service_auth_blocks_listing_and_well_knowns() {
    let env = common::start(&[]).await; // invite codes required
    let c = &env.client;
    let admin = Auth::Admin(ADMIN_PASSWORD);

    // --- invite codes
    c.post("com.atproto.server.createAccount", Auth::None, new_account("nocode.test", "")).await.err(400, "InvalidInviteCode");
    c.post("com.atproto.server.createInviteCodes", Auth::None, json!({"codeCount": 1, "useCount": 1})).await.err(401, "AuthenticationRequired");
    let first = c.post("com.atproto.server.createInviteCode", admin, json!({"useCount": 1})).await.ok();
    let alice = c.post("com.atproto.server.createAccount", Auth::None, new_account("alice.test", first["code"].as_str().unwrap())).await.ok();
    c.post("com.atproto.server.createAccount", Auth::None, new_account("again.test", first["code"].as_str().unwrap())).await.err(400, "InvalidInviteCode");
    let did = alice["did"].as_str().unwrap().to_string();
    let token = alice["accessJwt"].as_str().unwrap().to_string();
    let batch = c.post("com.atproto.server.createInviteCodes", admin, json!({"codeCount": 2, "useCount": 1, "forAccounts": [did]})).await.ok();
    let codes: Vec<String> = batch["codes"][0]["codes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!((batch["codes"][0]["account"].as_str(), codes.len()), (Some(did.as_str()), 2));
    let mine = c.get("com.atproto.server.getAccountInviteCodes", Auth::Bearer(&token), &[]).await.ok();
    let listed: Vec<&str> = mine["codes"].as_array().unwrap().iter().map(|v| v["code"].as_str().unwrap()).collect();
    for code in &codes {
        assert!(listed.contains(&code.as_str()), "{mine}");
    }
    c.post("com.atproto.admin.disableInviteCodes", admin, json!({"codes": [codes[0]]})).await.ok();
    c.post("com.atproto.server.createAccount", Auth::None, new_account("bob.test", &codes[0])).await.err(400, "InvalidInviteCode");
    c.post("com.atproto.server.createAccount", Auth::None, new_account("bob.test", &codes[1])).await.ok();

    // --- getServiceAuth: a short-lived JWT signed by the account key
    let got = c
        .get("com.atproto.server.getServiceAuth", Auth::Bearer(&token), &[("aud", "did:web:feeds.example.com"), ("lxm", "app.bsky.feed.getFeedSkeleton")])
        .await
        .ok();
    let jwt = got["token"].as_str().unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload["iss"], did.as_str());
    assert_eq!(payload["aud"], "did:web:feeds.example.com");
    assert_eq!(payload["lxm"], "app.bsky.feed.getFeedSkeleton");
    signing_key(&alice["didDoc"]).verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for (exp, lxm) in [(now - 10, true), (now + 7200, true), (now + 600, false)] {
        let exp = exp.to_string();
        let mut q = vec![("aud", "did:web:x.example.com"), ("exp", exp.as_str())];
        if lxm {
            q.push(("lxm", "com.atproto.repo.getRecord"));
        }
        c.get("com.atproto.server.getServiceAuth", Auth::Bearer(&token), &q).await.err(400, "BadExpiration");
    }
    c.get("com.atproto.server.getServiceAuth", Auth::None, &[("aud", "did:web:x.example.com")]).await.err(401, "AuthMissing");

    // --- sync.getBlocks: the requested blocks as a CAR; unknown CIDs named in the error
    let latest = c.get("com.atproto.sync.getLatestCommit", Auth::None, &[("did", &did)]).await.ok();
    let commit = latest["cid"].as_str().unwrap();
    let (status, _, car) = c.get_bytes("com.atproto.sync.getBlocks", &[("did", &did), ("cids", commit)]).await;
    assert_eq!(status, 200);
    let blocks = atproto::car::read(&car, Default::default()).unwrap().into_store();
    let commit_cid = atproto::cid::parse(commit).unwrap();
    assert!(atproto::blockstore::BlockStore::get(&blocks, &commit_cid).unwrap().is_some());
    let absent = "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    let resp = c.get("com.atproto.sync.getBlocks", Auth::None, &[("did", &did), ("cids", commit), ("cids", absent)]).await.err(400, "BlockNotFound");
    assert!(resp.body["message"].as_str().unwrap().contains(absent));

    // --- listRepos pages through every hosted repository
    let page = c.get("com.atproto.sync.listRepos", Auth::None, &[("limit", "1")]).await.ok();
    let cursor = page["cursor"].as_str().unwrap().to_string();
    let rest = c.get("com.atproto.sync.listRepos", Auth::None, &[("cursor", &cursor)]).await.ok();
    let mut dids: Vec<&str> = page["repos"].as_array().unwrap().iter().chain(rest["repos"].as_array().unwrap()).map(|r| r["did"].as_str().unwrap()).collect();
    dids.sort();
    dids.dedup();
    assert_eq!(dids.len(), 2, "{page} {rest}");
    assert!(page["repos"][0]["head"].is_string() && page["repos"][0]["active"] == true);

    // --- well-known documents
    let text = c.get_path("/.well-known/atproto-did", Some("alice.test")).await.text().await.unwrap();
    assert_eq!(text.trim(), did);
    let unknown = c.get_path("/.well-known/atproto-did", Some("nobody.test")).await;
    assert_eq!(unknown.status(), 404);
    let doc: Value = c.get_path("/.well-known/did.json", None).await.json().await.unwrap();
    assert_eq!(doc["id"], env.pds.state.config.service_did());
    assert_eq!(doc["service"][0]["serviceEndpoint"], env.pds.state.config.public_url());
    env.pds.shutdown().await;
}
