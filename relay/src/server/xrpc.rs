//! The relay's XRPC queries and procedures: `listRepos`, `getRepoStatus`, `getLatestCommit`,
//! `listHosts`, `getHostStatus`, `requestCrawl`. Other `/xrpc/` methods answer
//! `MethodNotImplemented`.

use std::sync::Arc;

use atproto::xrpc::XrpcError;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::relay::{CrawlError, Relay};
use crate::store::StoreError;

type XResult = Result<Json<Value>, XrpcError>;

pub fn routes() -> Router<Arc<Relay>> {
    Router::new()
        .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
        .route("/xrpc/com.atproto.sync.getRepoStatus", get(get_repo_status))
        .route("/xrpc/com.atproto.sync.getLatestCommit", get(get_latest_commit))
        .route("/xrpc/com.atproto.sync.listHosts", get(list_hosts))
        .route("/xrpc/com.atproto.sync.getHostStatus", get(get_host_status))
        .route("/xrpc/com.atproto.sync.requestCrawl", post(request_crawl))
        .route("/xrpc/{*method}", any(not_implemented))
}

/// A store failure as an answer: a full disk is a 503 that says so, anything else internal.
fn store_error(e: StoreError) -> XrpcError {
    if let StoreError::DiskFull(full) = e {
        return XrpcError::not_enough_resources(format!("the relay is out of disk space, so nothing was stored; try again later ({full})"));
    }
    tracing::error!(error = %e, "store error");
    XrpcError::internal_server_error()
}

async fn not_implemented() -> Response {
    XrpcError::method_not_implemented().into_response()
}

#[derive(Deserialize)]
struct Page {
    limit: Option<usize>,
    cursor: Option<String>,
}

fn limit(p: &Page, default: usize, max: usize) -> Result<usize, XrpcError> {
    match p.limit {
        None => Ok(default),
        Some(l) if (1..=max).contains(&l) => Ok(l),
        Some(_) => Err(XrpcError::invalid_request(format!("limit must be between 1 and {max}"))),
    }
}

async fn list_repos(State(relay): State<Arc<Relay>>, Query(p): Query<Page>) -> XResult {
    let limit = limit(&p, 500, 1000)?;
    let page = relay.log.store().list_accounts(p.cursor.as_deref(), limit).map_err(store_error)?;
    let cursor = (page.len() == limit).then(|| page.last().map(|(d, _)| d.clone())).flatten();
    let repos: Vec<Value> = page
        .into_iter()
        .filter_map(|(did, a)| {
            let mut r = json!({"did": did, "head": a.commit.clone()?, "rev": a.rev.clone()?, "active": a.active()});
            if let Some(s) = a.status() {
                r["status"] = s.into();
            }
            Some(r)
        })
        .collect();
    let mut out = json!({"repos": repos});
    if let Some(c) = cursor {
        out["cursor"] = c.into();
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct DidParam {
    did: String,
}

async fn get_repo_status(State(relay): State<Arc<Relay>>, Query(p): Query<DidParam>) -> XResult {
    let a = relay.log.store().get_account(&p.did).map_err(store_error)?.ok_or_else(|| XrpcError::repo_not_found(format!("unknown repo {}", p.did)))?;
    let mut out = json!({"did": p.did, "active": a.active()});
    if let Some(s) = a.status() {
        out["status"] = s.into();
    }
    if let Some(rev) = &a.rev {
        out["rev"] = rev.clone().into();
    }
    Ok(Json(out))
}

async fn get_latest_commit(State(relay): State<Arc<Relay>>, Query(p): Query<DidParam>) -> XResult {
    let a = relay.log.store().get_account(&p.did).map_err(store_error)?;
    let a = a.ok_or_else(|| XrpcError::repo_not_found(format!("unknown repo {}", p.did)))?;
    if let Some(status) = a.status() {
        let name = match status {
            "takendown" => "RepoTakendown",
            "suspended" => "RepoSuspended",
            "deactivated" => "RepoDeactivated",
            _ => "RepoNotFound",
        };
        return Err(XrpcError::invalid_request_named(name, format!("repo is {status}")));
    }
    match (a.commit, a.rev) {
        (Some(cid), Some(rev)) => Ok(Json(json!({"cid": cid, "rev": rev}))),
        _ => Err(XrpcError::repo_not_found("no commit seen for this repo")),
    }
}

fn host_json(h: &crate::store::HostState) -> Value {
    json!({"hostname": h.hostname, "seq": h.cursor, "accountCount": h.account_count, "status": h.status.as_str()})
}

async fn list_hosts(State(relay): State<Arc<Relay>>, Query(p): Query<Page>) -> XResult {
    let limit = limit(&p, 200, 1000)?;
    let page = relay.log.store().list_hosts(p.cursor.as_deref(), limit).map_err(store_error)?;
    let cursor = (page.len() == limit).then(|| page.last().map(|(h, _)| h.clone())).flatten();
    let mut hosts = Vec::with_capacity(page.len());
    for (name, stored) in page {
        let live = relay.host_state(&name).map_err(store_error)?.unwrap_or(stored);
        hosts.push(host_json(&live));
    }
    let mut out = json!({"hosts": hosts});
    if let Some(c) = cursor {
        out["cursor"] = c.into();
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct HostParam {
    hostname: String,
}

async fn get_host_status(State(relay): State<Arc<Relay>>, Query(p): Query<HostParam>) -> XResult {
    let name = relay.normalize_host(&p.hostname).map(|(n, _)| n).unwrap_or(p.hostname.clone());
    match relay.host_state(&name).map_err(store_error)? {
        Some(h) => Ok(Json(host_json(&h))),
        None => Err(XrpcError::invalid_request_named("HostNotFound", format!("unknown host {}", p.hostname))),
    }
}

async fn request_crawl(State(relay): State<Arc<Relay>>, Json(body): Json<HostParam>) -> XResult {
    match relay.request_crawl(&body.hostname).await {
        Ok(()) => Ok(Json(json!({}))),
        Err(CrawlError::Banned) => Err(XrpcError::forbidden("host is banned")),
        Err(CrawlError::Store(e)) => Err(store_error(e)),
        Err(e) => Err(XrpcError::invalid_request(e.to_string())),
    }
}
