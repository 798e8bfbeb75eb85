//! `com.atproto.repo.*`: record writes (through [`crate::repos::Repos`]), reads from the
//! records index, and blob uploads.
//!
//! Records are validated against the Lexicon schemas in [`AppState::lexicons`] as the
//! reference does: with `validate` unset, records of a known collection must be valid
//! (`validationStatus: "valid"`) and others are stored as `"unknown"`; `validate: true`
//! requires a known schema; `validate: false` skips validation (no status).

use atproto::repo::{RecordWrite, RepoError};
use atproto::syntax::{Nsid, RecordKey, Tid};
use atproto::xrpc::XrpcError;
use atproto::{Cid, Ipld};
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

use super::server::{account_by_identifier, authed_account, did_doc, signing_key};
use super::{internal, ok_json, Req, XrpcResult};
use crate::repos::{SwapRecord, WriteError};
use crate::state::AppState;
use crate::store::blobs::BlobMeta;

pub const MAX_WRITES: usize = 200;

pub fn write_error(e: WriteError) -> XrpcError {
    match e {
        WriteError::InvalidSwap(m) => XrpcError::invalid_request_named("InvalidSwap", m),
        WriteError::RepoNotFound(d) => XrpcError::invalid_request(format!("Could not find repo: {d}")),
        WriteError::BlobNotFound(c) => XrpcError::invalid_request_named("BlobNotFound", format!("Could not find blob: {c}")),
        WriteError::Repo(RepoError::RecordExists(p)) => XrpcError::invalid_request(format!("Record already exists: {p}")),
        WriteError::Repo(RepoError::RecordNotFound(p)) => XrpcError::invalid_request(format!("Record not found: {p}")),
        WriteError::Repo(RepoError::Mst(atproto::mst::MstError::InvalidKey(k))) => XrpcError::invalid_request(format!("Invalid record path: {k}")),
        WriteError::Store(e) => e.into(),
        other => internal(other),
    }
}

/// The DID of a `repo` parameter (DID or handle) hosted here.
pub fn resolve_repo(s: &AppState, repo: &str) -> Result<Option<String>, XrpcError> {
    Ok(account_by_identifier(s, repo)?.map(|a| a.did))
}

fn parse_cid(field: &str, v: &str) -> Result<Cid, XrpcError> {
    atproto::cid::parse(v).map_err(|_| XrpcError::invalid_request(format!("Invalid {field}: {v}")))
}

fn check_collection(c: &str) -> Result<(), XrpcError> {
    c.parse::<Nsid>().map(|_| ()).map_err(|_| XrpcError::invalid_request(format!("Invalid collection: {c}")))
}

fn check_rkey(r: &str) -> Result<(), XrpcError> {
    r.parse::<RecordKey>().map(|_| ()).map_err(|_| XrpcError::invalid_request(format!("Invalid record key: {r}")))
}

/// A record's JSON, validated and converted to a data-model value, with `$type` set to the
/// collection when absent; and its validation status (`None` when `validate` was false).
fn prepare_record(s: &AppState, collection: &str, rkey: &str, value: &Value, validate: Option<bool>) -> Result<(Ipld, Option<&'static str>), XrpcError> {
    let mut value = value.clone();
    let Value::Object(obj) = &mut value else {
        return Err(XrpcError::invalid_request("Record must be an object"));
    };
    match obj.get("$type") {
        None => {
            obj.insert("$type".into(), Value::String(collection.into()));
        }
        Some(Value::String(t)) if t == collection => {}
        Some(t) => return Err(XrpcError::invalid_request(format!("Invalid $type: expected {collection}, got {t}"))),
    }
    let invalid = |e: atproto::lexicon::LexiconError| XrpcError::invalid_request_named("InvalidRecord", e.to_string());
    let status = match s.lexicons.validate_for_write(collection, &value, validate) {
        Ok(status) => status,
        Err(e) if e.is_unknown_schema() => {
            return Err(XrpcError::invalid_request(format!("Lexicon not found: {collection} (set validate to false to store it unvalidated)")))
        }
        Err(e) => return Err(invalid(e)),
    };
    if status == Some(atproto::lexicon::ValidationStatus::Valid) {
        s.lexicons.validate_record_key(collection, rkey).map_err(invalid)?;
    }
    let record = atproto::json::record_from_json(&value).map_err(|e| XrpcError::invalid_request(format!("Invalid record: {e}")))?;
    Ok((record, status.map(|v| v.as_str())))
}

/// The `validate` flag: unset, `true` or `false`.
fn validate_flag(obj: &Map<String, Value>) -> Result<Option<bool>, XrpcError> {
    match obj.get("validate") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(XrpcError::invalid_request("validate must be a boolean")),
    }
}

/// Adds `validationStatus` to a write's result when the record was validated.
fn with_status(mut v: Value, status: Option<&str>) -> Value {
    if let Some(status) = status {
        v["validationStatus"] = status.into();
    }
    v
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, XrpcError> {
    obj.get(name).and_then(Value::as_str).ok_or_else(|| XrpcError::invalid_request(format!("Input must have the property \"{name}\"")))
}

fn opt_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, XrpcError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(XrpcError::invalid_request(format!("Input/{name} must be a string"))),
    }
}

/// The authenticated writer's DID, which must be `repo`.
fn writer(s: &AppState, req: &Req, obj: &Map<String, Value>) -> Result<(String, atproto::keys::Keypair), XrpcError> {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, true)?;
    let repo = str_field(obj, "repo")?;
    // Clients almost always name their own DID; only a handle needs looking up.
    if repo != account.did {
        let did = resolve_repo(s, repo)?.ok_or_else(|| XrpcError::invalid_request(format!("Could not find repo: {repo}")))?;
        if did != account.did {
            return Err(XrpcError::auth_required("Authentication Required"));
        }
    }
    let key = signing_key(&account)?;
    Ok((account.did, key))
}

fn body_object(req: &Req) -> Result<Map<String, Value>, XrpcError> {
    match req.json::<Value>()? {
        Value::Object(o) => Ok(o),
        _ => Err(XrpcError::invalid_request("Input must be an object")),
    }
}

fn swap_commit(obj: &Map<String, Value>) -> Result<Option<Cid>, XrpcError> {
    opt_str(obj, "swapCommit")?.map(|c| parse_cid("swapCommit", c)).transpose()
}

/// `swapRecord`: absent (no condition), null (must not exist) or a CID.
fn swap_record(obj: &Map<String, Value>, path: &str) -> Result<Option<SwapRecord>, XrpcError> {
    match obj.get("swapRecord") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(SwapRecord { path: path.into(), cid: None })),
        Some(Value::String(c)) => Ok(Some(SwapRecord { path: path.into(), cid: Some(parse_cid("swapRecord", c)?) })),
        Some(_) => Err(XrpcError::invalid_request("Input/swapRecord must be a string")),
    }
}

fn commit_meta(c: &atproto::repo::CommitData) -> Value {
    json!({"cid": c.cid.to_string(), "rev": c.commit.rev})
}

fn op_cid(c: &atproto::repo::CommitData, path: &str) -> Option<String> {
    c.ops.iter().find(|o| o.path == path).and_then(|o| o.cid).map(|c| c.to_string())
}

pub async fn create_record(s: &AppState, req: &Req) -> XrpcResult {
    let obj = body_object(req)?;
    let (did, key) = writer(s, req, &obj)?;
    let validate = validate_flag(&obj)?;
    let collection = str_field(&obj, "collection")?;
    check_collection(collection)?;
    let rkey = match opt_str(&obj, "rkey")? {
        Some(r) => r.to_string(),
        None => Tid::now().to_string(),
    };
    check_rkey(&rkey)?;
    let (record, status) = prepare_record(
        s,
        collection,
        &rkey,
        obj.get("record").ok_or_else(|| XrpcError::invalid_request("Input must have the property \"record\""))?,
        validate,
    )?;
    let write = RecordWrite::Create { collection: collection.into(), rkey: rkey.clone(), record };
    write_one(s, &did, &key, write, swap_commit(&obj)?, vec![], status).await
}

pub async fn put_record(s: &AppState, req: &Req) -> XrpcResult {
    let obj = body_object(req)?;
    let (did, key) = writer(s, req, &obj)?;
    let validate = validate_flag(&obj)?;
    let collection = str_field(&obj, "collection")?;
    check_collection(collection)?;
    let rkey = str_field(&obj, "rkey")?;
    check_rkey(rkey)?;
    let (record, status) =
        prepare_record(s, collection, rkey, obj.get("record").ok_or_else(|| XrpcError::invalid_request("Input must have the property \"record\""))?, validate)?;
    let path = format!("{collection}/{rkey}");
    let exists = s.store.record_cid(&did, collection, rkey).map_err(internal)?.is_some();
    let write = if exists {
        RecordWrite::Update { collection: collection.into(), rkey: rkey.into(), record }
    } else {
        RecordWrite::Create { collection: collection.into(), rkey: rkey.into(), record }
    };
    let swaps = swap_record(&obj, &path)?.into_iter().collect();
    write_one(s, &did, &key, write, swap_commit(&obj)?, swaps, status).await
}

/// Commits one create or update and answers with its URI, CID, commit and validation status.
async fn write_one(
    s: &AppState,
    did: &str,
    key: &atproto::keys::Keypair,
    write: RecordWrite,
    swap_commit: Option<Cid>,
    swaps: Vec<SwapRecord>,
    status: Option<&str>,
) -> XrpcResult {
    let path = write.path();
    let commit = s.repos.write(did, key, vec![write], swap_commit, swaps).await.map_err(write_error)?;
    s.notify_after_write();
    ok_json(with_status(
        json!({
            "uri": format!("at://{did}/{path}"),
            "cid": op_cid(&commit, &path),
            "commit": commit_meta(&commit),
        }),
        status,
    ))
}

pub async fn delete_record(s: &AppState, req: &Req) -> XrpcResult {
    let obj = body_object(req)?;
    let (did, key) = writer(s, req, &obj)?;
    let collection = str_field(&obj, "collection")?;
    check_collection(collection)?;
    let rkey = str_field(&obj, "rkey")?;
    check_rkey(rkey)?;
    let path = format!("{collection}/{rkey}");
    let swaps: Vec<SwapRecord> = swap_record(&obj, &path)?.into_iter().collect();
    let swap_commit = swap_commit(&obj)?;
    let exists = s.store.record_cid(&did, collection, rkey).map_err(internal)?.is_some();
    if !exists && swaps.is_empty() && swap_commit.is_none() {
        // Deleting a missing record is a no-op, as in the reference.
        return ok_json(json!({}));
    }
    if !exists {
        // Let the swap conditions decide (they fail unless they expect absence).
        if swaps.iter().all(|s| s.cid.is_none()) {
            if let Some(expected) = swap_commit {
                let root = s.store.repo_root(&did).map_err(internal)?;
                if root.map(|r| r.cid) != Some(expected.to_string()) {
                    return Err(XrpcError::invalid_request_named("InvalidSwap", "Commit was at a different CID"));
                }
            }
            return ok_json(json!({}));
        }
        return Err(XrpcError::invalid_request_named("InvalidSwap", "Record was at null"));
    }
    let write = RecordWrite::Delete { collection: collection.into(), rkey: rkey.into() };
    let commit = s.repos.write(&did, &key, vec![write], swap_commit, swaps).await.map_err(write_error)?;
    s.notify_after_write();
    ok_json(json!({"commit": commit_meta(&commit)}))
}

pub async fn apply_writes(s: &AppState, req: &Req) -> XrpcResult {
    let obj = body_object(req)?;
    let (did, key) = writer(s, req, &obj)?;
    let validate = validate_flag(&obj)?;
    let writes = obj.get("writes").and_then(Value::as_array).ok_or_else(|| XrpcError::invalid_request("Input must have the property \"writes\""))?;
    if writes.len() > MAX_WRITES {
        return Err(XrpcError::invalid_request(format!("Too many writes. Max: {MAX_WRITES}")));
    }
    let mut prepared = Vec::with_capacity(writes.len());
    let mut statuses = Vec::with_capacity(writes.len());
    for w in writes {
        let w = w.as_object().ok_or_else(|| XrpcError::invalid_request("Each write must be an object"))?;
        let kind = str_field(w, "$type")?;
        let collection = str_field(w, "collection")?;
        check_collection(collection)?;
        let write = match kind {
            "com.atproto.repo.applyWrites#create" => {
                let rkey = match opt_str(w, "rkey")? {
                    Some(r) => r.to_string(),
                    None => Tid::now().to_string(),
                };
                check_rkey(&rkey)?;
                let (record, status) =
                    prepare_record(s, collection, &rkey, w.get("value").ok_or_else(|| XrpcError::invalid_request("Create must have a value"))?, validate)?;
                statuses.push(status);
                RecordWrite::Create { collection: collection.into(), rkey, record }
            }
            "com.atproto.repo.applyWrites#update" => {
                let rkey = str_field(w, "rkey")?;
                check_rkey(rkey)?;
                let (record, status) =
                    prepare_record(s, collection, rkey, w.get("value").ok_or_else(|| XrpcError::invalid_request("Update must have a value"))?, validate)?;
                statuses.push(status);
                RecordWrite::Update { collection: collection.into(), rkey: rkey.into(), record }
            }
            "com.atproto.repo.applyWrites#delete" => {
                let rkey = str_field(w, "rkey")?;
                check_rkey(rkey)?;
                statuses.push(None);
                RecordWrite::Delete { collection: collection.into(), rkey: rkey.into() }
            }
            other => return Err(XrpcError::invalid_request(format!("Invalid write type: {other}"))),
        };
        prepared.push(write);
    }
    let commit = s.repos.write(&did, &key, prepared.clone(), swap_commit(&obj)?, vec![]).await.map_err(write_error)?;
    s.notify_after_write();
    let results: Vec<Value> = prepared
        .iter()
        .zip(statuses)
        .map(|(w, status)| {
            let path = w.path();
            match w {
                RecordWrite::Create { .. } | RecordWrite::Update { .. } => with_status(json!({
                    "$type": if matches!(w, RecordWrite::Create { .. }) { "com.atproto.repo.applyWrites#createResult" } else { "com.atproto.repo.applyWrites#updateResult" },
                    "uri": format!("at://{did}/{path}"),
                    "cid": op_cid(&commit, &path),
                }), status),
                RecordWrite::Delete { .. } => json!({"$type": "com.atproto.repo.applyWrites#deleteResult"}),
            }
        })
        .collect();
    ok_json(json!({"commit": commit_meta(&commit), "results": results}))
}

/// The record's JSON value from its block.
pub fn record_value(s: &AppState, did: &str, cid: &Cid) -> Result<Option<Value>, XrpcError> {
    use atproto::blockstore::BlockStore;
    let blocks = crate::store::DbBlocks::new(s.store.db.clone(), did);
    match blocks.get(cid).map_err(internal)? {
        None => Ok(None),
        Some(bytes) => {
            let ipld = atproto::cbor::decode_value(&bytes).map_err(internal)?;
            Ok(Some(atproto::json::to_json(&ipld)))
        }
    }
}

pub async fn get_record(s: &AppState, req: &Req) -> XrpcResult {
    let repo = req.params.required("repo")?;
    let collection = req.params.required("collection")?;
    let rkey = req.params.required("rkey")?;
    let did = resolve_repo(s, repo)?.ok_or_else(|| XrpcError::invalid_request(format!("Could not find repo: {repo}")))?;
    let uri = format!("at://{did}/{collection}/{rkey}");
    let not_found = || XrpcError::record_not_found(format!("Could not locate record: {uri}"));
    let cid = s.store.record_cid(&did, collection, rkey).map_err(internal)?.ok_or_else(not_found)?;
    if let Some(want) = req.params.get("cid") {
        if want != cid.to_string() {
            return Err(not_found());
        }
    }
    let value = record_value(s, &did, &cid)?.ok_or_else(not_found)?;
    ok_json(json!({"uri": uri, "cid": cid.to_string(), "value": value}))
}

pub async fn list_records(s: &AppState, req: &Req) -> XrpcResult {
    let repo = req.params.required("repo")?;
    let collection = req.params.required("collection")?;
    let limit = req.params.limit(50, 100)?;
    let reverse = req.params.bool("reverse")?;
    let did = resolve_repo(s, repo)?.ok_or_else(|| XrpcError::invalid_request(format!("Could not find repo: {repo}")))?;
    let rows = s.store.list_records(&did, collection, limit, req.params.get("cursor"), reverse).map_err(internal)?;
    let mut records = Vec::with_capacity(rows.len());
    for (rkey, cid) in &rows {
        if let Some(value) = record_value(s, &did, cid)? {
            records.push(json!({"uri": format!("at://{did}/{collection}/{rkey}"), "cid": cid.to_string(), "value": value}));
        }
    }
    let mut out = json!({"records": records});
    if let Some((rkey, _)) = rows.last() {
        out["cursor"] = rkey.clone().into();
    }
    ok_json(out)
}

pub async fn describe_repo(s: &AppState, req: &Req) -> XrpcResult {
    let repo = req.params.required("repo")?;
    let account = account_by_identifier(s, repo)?.ok_or_else(|| XrpcError::invalid_request(format!("Could not find user: {repo}")))?;
    let collections = s.store.collections(&account.did).map_err(internal)?;
    ok_json(json!({
        "handle": account.handle,
        "did": account.did,
        "didDoc": did_doc(s, &account),
        "collections": collections,
        "handleIsCorrect": true,
    }))
}

/// The MIME type from a file's magic bytes, for the formats clients upload.
pub fn sniff_mime(b: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| b.starts_with(p);
    Some(if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        "image/webp"
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        match &b[8..12] {
            b"avif" | b"avis" => "image/avif",
            b"heic" | b"heix" | b"mif1" => "image/heic",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        }
    } else if starts(b"\x1a\x45\xdf\xa3") {
        "video/webm"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else {
        return None;
    })
}

pub async fn upload_blob(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, true)?;
    if req.body.len() as u64 > s.config.blob_upload_limit {
        return Err(XrpcError::payload_too_large("request entity too large"));
    }
    let declared = req.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream");
    let mime = sniff_mime(&req.body).unwrap_or(declared).to_string();
    let cid = atproto::cid::for_raw(&req.body);
    let cid_s = cid.to_string();
    s.blob_disk.check_for(req.body.len() as u64).map_err(super::disk_full)?;
    let dir = s.config.blobstore_location.join(&account.did);
    let body = req.body.clone();
    let path = dir.join(&cid_s);
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{}.tmp", rand::random::<u64>()));
        let result = std::fs::write(&tmp, &body).and_then(|()| std::fs::File::open(&tmp)?.sync_all()).and_then(|()| std::fs::rename(&tmp, &path));
        if result.is_err() {
            // A partial file is not a blob; leave nothing behind.
            let _ = std::fs::remove_file(&tmp);
        }
        result
    })
    .await
    .map_err(internal)?;
    match written {
        Err(e) if telemetry::disk::is_no_space(&e) => return Err(super::disk_full(s.blob_disk.full(req.body.len() as u64))),
        other => other.map_err(internal)?,
    }
    let existing = s.store.blob(&account.did, &cid_s).map_err(internal)?;
    if let Some(mut meta) = existing.clone().filter(|m| m.missing) {
        // An imported record's blob arriving: keep its references.
        meta.missing = false;
        meta.mime_type = mime.clone();
        meta.size = req.body.len() as u64;
        meta.created_at_ms = crate::store::events::now_ms();
        let mut batch = rocksdb::WriteBatch::default();
        s.store.put_blob(&mut batch, &account.did, &cid_s, &meta);
        s.store.commit(batch, vec![]).await?;
    } else if existing.is_none() {
        let meta = BlobMeta {
            mime_type: mime.clone(),
            size: req.body.len() as u64,
            created_at_ms: crate::store::events::now_ms(),
            refs: vec![],
            rev: None,
            missing: false,
        };
        let mut batch = rocksdb::WriteBatch::default();
        s.store.put_blob(&mut batch, &account.did, &cid_s, &meta);
        s.store.commit(batch, vec![]).await?;
    }
    let mime = existing.filter(|m| !m.missing).map(|m| m.mime_type).unwrap_or(mime);
    Ok(axum::Json(json!({"blob": {"$type": "blob", "ref": {"$link": cid_s}, "mimeType": mime, "size": req.body.len()}})).into_response())
}
