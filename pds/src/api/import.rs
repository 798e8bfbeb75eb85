//! `com.atproto.repo.importRepo` (a CAR export from another PDS, for account migration) and
//! `com.atproto.repo.listMissingBlobs` (the blobs its records reference that still need
//! uploading).
//!
//! The imported tree is rebuilt from its leaves and must reproduce the commit's `data` CID,
//! so a non-canonical or incomplete tree is refused. The repository is then re-signed by this
//! PDS under a fresh rev (the account's key here is the one its DID document will name) and
//! announced with `#sync`, as Sync 1.1 does for a reset repository.

use std::sync::Arc;

use atproto::blockstore::{BlockStore, MemoryBlockStore};
use atproto::car::CarLimits;
use atproto::mst::Mst;
use atproto::repo::Commit;
use atproto::xrpc::XrpcError;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::server::{authed_account, signing_key};
use super::{internal, ok_empty, ok_json, Params, Req, XrpcResult};
use crate::repos::{collect_blobs, ImportedRepo};
use crate::state::AppState;

/// The largest repository CAR accepted (the reference's default import limit is 100 MB).
pub const MAX_IMPORT_BYTES: usize = 128 << 20;

/// The route handler: importRepo has its own, larger body limit.
pub async fn handler(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ConnectInfo(telemetry::net::PeerAddr(addr)): ConnectInfo<telemetry::net::PeerAddr>,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return XrpcError::invalid_request("Incorrect HTTP method").into_response();
    }
    let req =
        Req { params: Params::parse(uri.query().unwrap_or("")), method, headers, body, ip: Some(addr.ip()), nsid: "com.atproto.repo.importRepo".into(), uri };
    import_repo(&state, &req).await.unwrap_or_else(IntoResponse::into_response)
}

fn bad(msg: impl std::fmt::Display) -> XrpcError {
    XrpcError::invalid_request(format!("Invalid repository: {msg}"))
}

/// Reads and checks the CAR: its commit names `did`, its tree is complete and canonical.
fn read_repo(did: &str, car: &[u8]) -> Result<ImportedRepo, XrpcError> {
    let limits = CarLimits { max_bytes: MAX_IMPORT_BYTES as u64, ..CarLimits::default() };
    let car = atproto::car::read(car, limits).map_err(bad)?;
    let root = car.root().map_err(bad)?;
    let store = car.into_store();
    let commit = Commit::decode(&store.require(&root).map_err(bad)?).map_err(bad)?;
    if commit.did != did {
        return Err(XrpcError::invalid_request(format!("The repository is for {}, not {did}", commit.did)));
    }
    let leaves = atproto::mst::diff::leaves(&store, commit.data).map_err(bad)?;
    let mut mst = Mst::new(MemoryBlockStore::new());
    let mut records = Vec::with_capacity(leaves.len());
    let mut blobs = Vec::new();
    for (path, cid) in &leaves {
        mst.insert(path, *cid).map_err(bad)?;
        let bytes = store.require(cid).map_err(bad)?;
        let value = atproto::cbor::decode_value(&bytes).map_err(|e| bad(format!("record {path}: {e}")))?;
        if !matches!(value, atproto::Ipld::Map(_)) {
            return Err(bad(format!("record {path} is not a map")));
        }
        let mut found = Vec::new();
        collect_blobs(&value, &mut found);
        blobs.extend(found.into_iter().map(|c| (path.clone(), c)));
        records.push((path.clone(), *cid, bytes));
    }
    if mst.root() != commit.data {
        return Err(bad("the tree rebuilt from its records does not match the commit's data CID"));
    }
    Ok(ImportedRepo { data: commit.data, nodes: mst.take_new_blocks(), records, blobs })
}

pub async fn import_repo(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let key = signing_key(&account)?;
    let did = account.did.clone();
    let body = req.body.clone();
    let imported = tokio::task::spawn_blocking(move || read_repo(&did, &body)).await.map_err(internal)??;
    let records = imported.records.len();
    let commit = s.repos.import(&account.did, &key, imported).await.map_err(super::repo::write_error)?;
    tracing::info!(did = %account.did, records, rev = %commit.rev, "repository imported");
    ok_empty()
}

pub async fn list_missing_blobs(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let limit = req.params.limit(500, 1000)?;
    let mut cursor = req.params.get("cursor").map(str::to_string);
    let mut blobs = Vec::new();
    'pages: loop {
        let page = s.store.list_blobs(&account.did, cursor.as_deref(), 1000).map_err(internal)?;
        let done = page.len() < 1000;
        for (cid, meta) in page {
            cursor = Some(cid.clone());
            if meta.missing {
                let uri = format!("at://{}/{}", account.did, meta.refs.first().cloned().unwrap_or_default());
                blobs.push(json!({"cid": cid, "recordUri": uri}));
                if blobs.len() == limit {
                    break 'pages;
                }
            }
        }
        if done {
            break;
        }
    }
    let mut out = json!({"blobs": blobs});
    if blobs.len() == limit {
        out["cursor"] = cursor.into();
    }
    ok_json(out)
}
