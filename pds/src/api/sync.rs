//! `com.atproto.sync.*` reads: commits, repository CARs (full or `since` a rev), record
//! proofs, blocks, repository status and listings, and blobs.

use atproto::mst::proof::Blocks;
use atproto::xrpc::XrpcError;
use atproto::Cid;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::repo::write_error;
use super::{internal, ok_json, Req, XrpcResult};
use crate::repos::WriteError;
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::{DbBlocks, EventBody};

/// The hosted account `did`, refusing unavailable repositories with the lexicon's names.
pub fn available_repo(s: &AppState, did: &str) -> Result<Account, XrpcError> {
    let account = s.store.account(did).map_err(internal)?;
    let account = account.ok_or_else(|| XrpcError::repo_not_found(format!("Could not find repo for DID: {did}")))?;
    match account.status.as_deref() {
        Some("takendown") => Err(XrpcError::invalid_request_named("RepoTakendown", format!("Repo has been takendown: {did}"))),
        Some("suspended") => Err(XrpcError::invalid_request_named("RepoSuspended", format!("Repo has been suspended: {did}"))),
        Some("deactivated") => Err(XrpcError::invalid_request_named("RepoDeactivated", format!("Repo has been deactivated: {did}"))),
        _ => Ok(account),
    }
}

fn car_response(bytes: Vec<u8>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/vnd.ipld.car")], Body::from(bytes)).into_response()
}

fn root_cid(s: &AppState, did: &str) -> Result<(Cid, String), XrpcError> {
    let root = s.store.repo_root(did).map_err(internal)?.ok_or_else(|| XrpcError::repo_not_found(format!("Could not find root for DID: {did}")))?;
    let cid = atproto::cid::parse(&root.cid).map_err(internal)?;
    Ok((cid, root.rev))
}

/// A `#sync` event carrying `did`'s current commit.
pub async fn sync_event(s: &AppState, did: &str) -> Result<Option<EventBody>, XrpcError> {
    crate::repos::current_sync_event(&s.store, did).map_err(internal)
}

pub async fn get_latest_commit(s: &AppState, req: &Req) -> XrpcResult {
    let did = req.params.required("did")?;
    available_repo(s, did)?;
    let (cid, rev) = root_cid(s, did)?;
    ok_json(json!({"cid": cid.to_string(), "rev": rev}))
}

/// Every block of the current repository (commit, MST nodes, records) written after
/// `since` (all of them without it), commit first.
pub async fn export_blocks(s: &AppState, did: &str, since: Option<&str>) -> Result<(Cid, Vec<(Cid, bytes::Bytes)>), XrpcError> {
    let store = DbBlocks::new(s.store.db.clone(), did);
    let (commit, tree) = s
        .repos
        .with_repo(did, |repo| {
            let mut nodes = Blocks::new();
            let records = repo.records()?;
            // The union of the paths to every key is every node of the tree.
            repo.mst().path_proof("a/a", &mut nodes).map_err(atproto::repo::RepoError::from)?;
            for (path, _) in &records {
                repo.mst().path_proof(path, &mut nodes).map_err(atproto::repo::RepoError::from)?;
            }
            let cids: Vec<Cid> = nodes.keys().copied().chain(records.iter().map(|(_, c)| *c)).collect();
            Ok::<_, WriteError>((repo.commit_cid, cids))
        })
        .await
        .map_err(write_error)?;
    let mut out = Vec::with_capacity(tree.len() + 1);
    let mut seen = std::collections::HashSet::new();
    for cid in std::iter::once(commit).chain(tree) {
        if !seen.insert(cid) {
            continue;
        }
        let (rev, bytes) = store.get_with_rev(&cid).map_err(internal)?.ok_or_else(|| internal(format!("block {cid} of {did} is missing")))?;
        if cid != commit && since.is_some_and(|s| rev.as_str() <= s) {
            continue;
        }
        out.push((cid, bytes));
    }
    Ok((commit, out))
}

pub async fn get_repo(s: &AppState, req: &Req) -> XrpcResult {
    let did = req.params.required("did")?;
    available_repo(s, did)?;
    let (root, blocks) = export_blocks(s, did, req.params.get("since")).await?;
    Ok(car_response(atproto::car::write(&[root], blocks.iter().map(|(c, b)| (c, b.as_ref())))))
}

pub async fn get_record(s: &AppState, req: &Req) -> XrpcResult {
    let did = req.params.required("did")?;
    let collection = req.params.required("collection")?;
    let rkey = req.params.required("rkey")?;
    available_repo(s, did)?;
    let path = format!("{collection}/{rkey}");
    let (commit, blocks) = s
        .repos
        .with_repo(did, |repo| {
            let mut blocks = Blocks::new();
            repo.mst().path_proof(&path, &mut blocks).map_err(atproto::repo::RepoError::from)?;
            let record = repo.record_cid(&path)?;
            Ok::<_, WriteError>((repo.commit_cid, (blocks, record)))
        })
        .await
        .map_err(write_error)?;
    let (mut nodes, record) = blocks;
    let store = DbBlocks::new(s.store.db.clone(), did);
    use atproto::blockstore::BlockStore;
    nodes.insert(commit, store.require(&commit).map_err(internal)?);
    if let Some(cid) = record {
        nodes.insert(cid, store.require(&cid).map_err(internal)?);
    }
    Ok(car_response(atproto::car::write(&[commit], nodes.iter().map(|(c, b)| (c, b.as_ref())))))
}

pub async fn get_blocks(s: &AppState, req: &Req) -> XrpcResult {
    use atproto::blockstore::BlockStore;
    let did = req.params.required("did")?;
    available_repo(s, did)?;
    let store = DbBlocks::new(s.store.db.clone(), did);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for c in req.params.all("cids") {
        let cid = atproto::cid::parse(c).map_err(|_| XrpcError::invalid_request(format!("Invalid cid: {c}")))?;
        match store.get(&cid).map_err(internal)? {
            Some(b) => found.push((cid, b)),
            None => missing.push(c.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(XrpcError::invalid_request_named("BlockNotFound", format!("Could not find cids: {}", missing.join(","))));
    }
    Ok(car_response(atproto::car::write(&[], found.iter().map(|(c, b)| (c, b.as_ref())))))
}

fn repo_status(s: &AppState, account: &Account) -> Result<Value, XrpcError> {
    let root = s.store.repo_root(&account.did).map_err(internal)?;
    let mut v = json!({"did": account.did, "active": account.active()});
    if let Some(st) = &account.status {
        v["status"] = st.clone().into();
    }
    if let Some(r) = root {
        v["rev"] = r.rev.into();
    }
    Ok(v)
}

pub async fn get_repo_status(s: &AppState, req: &Req) -> XrpcResult {
    let did = req.params.required("did")?;
    let account = s.store.account(did).map_err(internal)?.ok_or_else(|| XrpcError::repo_not_found(format!("Could not find repo for DID: {did}")))?;
    ok_json(repo_status(s, &account)?)
}

pub async fn list_repos(s: &AppState, req: &Req) -> XrpcResult {
    let limit = req.params.limit(500, 1000)?;
    let rows = s.store.list_repos(req.params.get("cursor"), limit).map_err(internal)?;
    let mut repos = Vec::with_capacity(rows.len());
    for (did, root) in &rows {
        let Some(account) = s.store.account(did).map_err(internal)? else {
            continue;
        };
        let mut v = json!({"did": did, "head": root.cid, "rev": root.rev, "active": account.active()});
        if let Some(st) = &account.status {
            v["status"] = st.clone().into();
        }
        repos.push(v);
    }
    let mut out = json!({"repos": repos});
    if rows.len() == limit {
        if let Some((did, _)) = rows.last() {
            out["cursor"] = did.clone().into();
        }
    }
    ok_json(out)
}

pub async fn list_blobs(s: &AppState, req: &Req) -> XrpcResult {
    let did = req.params.required("did")?;
    available_repo(s, did)?;
    let limit = req.params.limit(500, 1000)?;
    let since = req.params.get("since");
    let mut cursor = req.params.get("cursor").map(str::to_string);
    let mut cids = Vec::new();
    // Only blobs some record references count; skip temporary uploads.
    loop {
        let page = s.store.list_blobs(did, cursor.as_deref(), limit).map_err(internal)?;
        let done = page.len() < limit;
        for (cid, meta) in page {
            cursor = Some(cid.clone());
            if meta.refs.is_empty() || meta.missing || since.is_some_and(|s| meta.rev.as_deref().is_none_or(|r| r <= s)) {
                continue;
            }
            cids.push(cid);
            if cids.len() == limit {
                break;
            }
        }
        if done || cids.len() == limit {
            break;
        }
    }
    let mut out = json!({"cids": cids});
    if cids.len() == limit {
        out["cursor"] = cids.last().cloned().into();
    }
    ok_json(out)
}

pub async fn get_blob(s: &AppState, req: &Req) -> XrpcResult {
    let did = req.params.required("did")?;
    let cid = req.params.required("cid")?;
    available_repo(s, did)?;
    let cid = atproto::cid::parse(cid).map_err(|_| XrpcError::invalid_request(format!("Invalid cid: {cid}")))?.to_string();
    let not_found = || XrpcError::invalid_request_named("BlobNotFound", "Blob not found");
    let meta = s.store.blob(did, &cid).map_err(internal)?.ok_or_else(not_found)?;
    let path = s.config.blobstore_location.join(did).join(&cid);
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    Ok((
        [
            (http::header::CONTENT_TYPE, meta.mime_type.as_str()),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (http::header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"),
        ],
        Body::from(bytes),
    )
        .into_response())
}
