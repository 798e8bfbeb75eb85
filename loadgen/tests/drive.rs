//! `drive` against a small in-memory XRPC server on 127.0.0.1 that keeps records per
//! account and checks bearer tokens: the run reports exactly the writes it was asked for,
//! every surviving record is readable afterwards, deleted ones are gone, and the server saw
//! the same number of writes. (The test against the project's PDS belongs to the PDS issue.)

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use loadgen::drive::{drive, DriveOptions, Loop};
use loadgen::model::TrafficModel;
use serde_json::{json, Value};

#[derive(Default)]
struct Fake {
    accounts: HashMap<String, String>, // token -> did
    records: HashSet<(String, String, String)>,
    writes: u64,
    blobs: u64,
}

type S = Arc<Mutex<Fake>>;
type R = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn err(status: StatusCode, name: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "error": name, "message": name })))
}

fn auth(s: &Fake, h: &HeaderMap) -> Result<String, (StatusCode, Json<Value>)> {
    let token = h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    s.accounts.get(token).cloned().ok_or_else(|| err(StatusCode::UNAUTHORIZED, "AuthRequired"))
}

async fn create_account(State(s): State<S>, Json(b): Json<Value>) -> R {
    let mut s = s.lock().unwrap();
    let did = format!("did:plc:fake{}", s.accounts.len());
    let token = format!("tok-{did}");
    s.accounts.insert(token.clone(), did.clone());
    Ok(Json(json!({ "did": did, "handle": b["handle"], "accessJwt": token, "refreshJwt": "r" })))
}

fn key(b: &Value) -> (String, String, String) {
    let f = |k: &str| b[k].as_str().unwrap_or_default().to_string();
    (f("repo"), f("collection"), f("rkey"))
}

async fn create_record(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> R {
    let mut s = s.lock().unwrap();
    let did = auth(&s, &h)?;
    let k = key(&b);
    if k.0 != did || b["record"]["$type"] != json!(k.1) {
        return Err(err(StatusCode::BAD_REQUEST, "InvalidRequest"));
    }
    if !s.records.insert(k) {
        return Err(err(StatusCode::BAD_REQUEST, "RecordExists"));
    }
    s.writes += 1;
    Ok(Json(json!({ "uri": "at://x", "cid": "bafy" })))
}

async fn put_record(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> R {
    let mut s = s.lock().unwrap();
    auth(&s, &h)?;
    s.records.insert(key(&b));
    s.writes += 1;
    Ok(Json(json!({ "uri": "at://x", "cid": "bafy" })))
}

async fn delete_record(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> R {
    let mut s = s.lock().unwrap();
    auth(&s, &h)?;
    if !s.records.remove(&key(&b)) {
        return Err(err(StatusCode::BAD_REQUEST, "RecordNotFound"));
    }
    s.writes += 1;
    Ok(Json(json!({})))
}

async fn upload_blob(State(s): State<S>, h: HeaderMap, body: axum::body::Bytes) -> R {
    let mut s = s.lock().unwrap();
    auth(&s, &h)?;
    s.blobs += 1;
    Ok(Json(json!({ "blob": { "$type": "blob", "ref": { "$link": "bafkreiblob" }, "mimeType": "image/jpeg", "size": body.len() } })))
}

async fn get_record(State(s): State<S>, Query(q): Query<HashMap<String, String>>) -> R {
    let s = s.lock().unwrap();
    let k = (q["repo"].clone(), q["collection"].clone(), q["rkey"].clone());
    if s.records.contains(&k) { Ok(Json(json!({ "uri": "at://x", "value": {} }))) } else { Err(err(StatusCode::BAD_REQUEST, "RecordNotFound")) }
}

async fn describe() -> Json<Value> {
    Json(json!({ "did": "did:web:fake", "availableUserDomains": [".fake.test"] }))
}

async fn fake_pds() -> (String, S) {
    let state: S = Arc::default();
    let app = Router::new()
        .route("/xrpc/com.atproto.server.describeServer", get(describe))
        .route("/xrpc/com.atproto.server.createAccount", post(create_account))
        .route("/xrpc/com.atproto.repo.createRecord", post(create_record))
        .route("/xrpc/com.atproto.repo.putRecord", post(put_record))
        .route("/xrpc/com.atproto.repo.deleteRecord", post(delete_record))
        .route("/xrpc/com.atproto.repo.uploadBlob", post(upload_blob))
        .route("/xrpc/com.atproto.repo.getRecord", get(get_record))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

fn options(pds: &str, load: Loop) -> DriveOptions {
    DriveOptions {
        pds: pds.parse().unwrap(),
        create_accounts: 8,
        existing: vec![],
        invite_code: None,
        load,
        writes: Some(600),
        duration: None,
        image_fraction: 0.5,
        image_bytes: 2_000,
        seed: 5,
        check: true,
        // More deletes and updates than production so a short run exercises every call.
        model: TrafficModel { ops: loadgen::model::OpMix { create: 70.0, delete: 20.0, update: 10.0 }, ..TrafficModel::default() },
    }
}

#[tokio::test]
async fn closed_loop_performs_exactly_the_requested_writes() {
    let (url, state) = fake_pds().await;
    let f = drive(options(&url, Loop::Closed { concurrency: 8 }), &indicatif::ProgressBar::hidden()).await.unwrap();
    assert_eq!(f.accounts, 8);
    assert_eq!((f.writes_ok, f.writes_failed), (600, 0), "{:?}", f.errors);
    let s = state.lock().unwrap();
    assert_eq!(s.writes, 600);
    assert!(s.blobs > 0);
    for op in ["createRecord", "deleteRecord", "putRecord", "uploadBlob"] {
        assert!(f.by_op[op].count > 0, "{op} never ran");
    }
    let check = f.check.unwrap();
    assert_eq!((check.missing, check.still_present), (0, 0));
    assert!(check.deleted_records > 0);
    // Every surviving record the driver knows of, plus the profiles, is what the server holds.
    let profiles = s.records.iter().filter(|k| k.1 == "app.bsky.actor.profile").count() as u64;
    assert_eq!(check.live_records + profiles, s.records.len() as u64);
}

#[tokio::test]
async fn open_loop_keeps_its_rate() {
    let (url, _state) = fake_pds().await;
    let mut opts = options(&url, Loop::Open { rate: 300.0, max_in_flight: 16 });
    opts.writes = Some(300);
    opts.check = false;
    let started = std::time::Instant::now();
    let f = drive(opts, &indicatif::ProgressBar::hidden()).await.unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(f.writes_ok, 300);
    assert!((0.6..3.0).contains(&took), "300 writes at 300/s took {took}s");

    // Without accounts the run is refused.
    let mut opts = options(&url, Loop::Closed { concurrency: 2 });
    opts.create_accounts = 0;
    opts.existing = vec![];
    assert!(drive(opts, &indicatif::ProgressBar::hidden()).await.is_err(), "no accounts is an error");
}
