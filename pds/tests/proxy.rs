//! The AppView proxy over loopback: `app.bsky.*` calls the PDS does not serve go to the
//! configured AppView (an external service; here a small recording server) with a service-auth
//! JWT signed by the caller's repository key (`iss`, `aud`, `lxm`, `exp`); query, body and
//! answer pass through; preferences stay on the PDS.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{signing_key, Auth};
use serde_json::{json, Value};

const APPVIEW_DID: &str = "did:web:appview.test";

#[derive(Default)]
struct Seen {
    calls: Vec<(String, Option<String>, Option<String>)>, // (path and query, bearer, body)
}

async fn appview() -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
        let s = s.clone();
        async move {
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_string);
            s.lock().unwrap().calls.push((uri.to_string(), bearer, (!body.is_empty()).then_some(body)));
            ([("atproto-repo-rev", "3abc")], axum::Json(json!({"feed": [], "cursor": "next"})))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn claims(jwt: &str) -> (Value, Value, String) {
    let mut parts = jwt.split('.');
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (header, payload, parts.next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_bsky_calls_reach_the_appview_with_service_auth() {
    let (appview_url, seen) = appview().await;
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false"), ("PDS_BSKY_APP_VIEW_URL", appview_url.as_str()), ("PDS_BSKY_APP_VIEW_DID", APPVIEW_DID)]).await;
    let c = &env.client;
    let alice = c.account("alice", None).await;
    let did = alice["did"].as_str().unwrap().to_string();
    let key = signing_key(&alice["didDoc"]);
    let token = alice["accessJwt"].as_str().unwrap().to_string();

    let resp = c.http.get(format!("{}/xrpc/app.bsky.feed.getTimeline?limit=5", c.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["atproto-repo-rev"], "3abc");
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"feed": [], "cursor": "next"}));

    let (path, bearer, _) = seen.lock().unwrap().calls.pop().unwrap();
    assert_eq!(path, "/xrpc/app.bsky.feed.getTimeline?limit=5");
    let jwt = bearer.expect("service auth sent");
    let (header, payload, sig) = claims(&jwt);
    assert_eq!(header["alg"], "ES256K");
    assert_eq!((payload["iss"].as_str(), payload["aud"].as_str()), (Some(did.as_str()), Some(APPVIEW_DID)));
    assert_eq!(payload["lxm"], "app.bsky.feed.getTimeline");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let exp = payload["exp"].as_u64().unwrap();
    assert!(exp > now && exp <= now + 120, "short-lived: exp {exp}, now {now}");
    let signing_input = jwt.rsplit_once('.').unwrap().0;
    key.verify(signing_input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap()).expect("signed by the account's repository key");

    // A procedure's body passes through.
    c.post("app.bsky.graph.muteActor", Auth::Bearer(&token), json!({"actor": "did:plc:someone"})).await.ok();
    let (path, _, body) = seen.lock().unwrap().calls.pop().unwrap();
    assert_eq!(path, "/xrpc/app.bsky.graph.muteActor");
    assert_eq!(serde_json::from_str::<Value>(&body.unwrap()).unwrap(), json!({"actor": "did:plc:someone"}));

    // Preferences are the PDS's own, even with a proxy header.
    let calls_before = seen.lock().unwrap().calls.len();
    let prefs = c
        .http
        .get(format!("{}/xrpc/app.bsky.actor.getPreferences", c.base))
        .bearer_auth(&token)
        .header("atproto-proxy", format!("{APPVIEW_DID}#bsky_appview"))
        .send()
        .await
        .unwrap();
    assert_eq!(prefs.json::<Value>().await.unwrap(), json!({"preferences": []}));
    assert_eq!(seen.lock().unwrap().calls.len(), calls_before, "not forwarded");

    // A bad token is refused before anything is forwarded.
    c.get("app.bsky.feed.getTimeline", Auth::Bearer("garbage"), &[]).await.err(400, "InvalidToken");
    assert_eq!(seen.lock().unwrap().calls.len(), calls_before);
    env.pds.shutdown().await;
}
