//! Admin routes, behind HTTP basic auth (`admin` and the configured password; without a
//! password they are refused): ban/unban hosts and accounts, read and change limits.
//!
//! - `POST /admin/hosts/ban`, `/admin/hosts/unban`: `{"hostname"}`
//! - `POST /admin/hosts/limits`: `{"hostname", "eventsPerSec"?, "accountsPerHost"?}`
//! - `POST /admin/accounts/ban`, `/admin/accounts/unban`: `{"did"}`
//! - `GET /admin/limits`, `POST /admin/limits`: `{"enabled", "events_per_sec", "accounts_per_host"}`
//! - `POST /admin/backup`: `{"directory"}`, an online backup ([`crate::backups`]) into a new
//!   or empty directory on the relay's machine; answers the backup's manifest.

use std::sync::Arc;

use atproto::xrpc::XrpcError;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Limits;
use crate::relay::{CrawlError, Relay};

type XResult = Result<Json<Value>, XrpcError>;

pub fn routes() -> Router<Arc<Relay>> {
    Router::new()
        .route("/admin/hosts/ban", post(ban_host))
        .route("/admin/hosts/unban", post(unban_host))
        .route("/admin/hosts/limits", post(host_limits))
        .route("/admin/accounts/ban", post(ban_account))
        .route("/admin/accounts/unban", post(unban_account))
        .route("/admin/limits", get(get_limits).post(set_limits))
        .route("/admin/backup", post(take_backup))
}

fn check(relay: &Relay, headers: &axum::http::HeaderMap) -> Result<(), XrpcError> {
    let Some(expected) = relay.config.admin_password.as_deref() else {
        return Err(XrpcError::forbidden("admin routes are disabled (no admin password configured)"));
    };
    let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if atproto::xrpc::is_admin_basic_auth(given, expected) {
        Ok(())
    } else {
        Err(XrpcError::auth_required("invalid admin credentials"))
    }
}

fn crawl_err(e: CrawlError) -> XrpcError {
    XrpcError::invalid_request(e.to_string())
}

#[derive(Deserialize)]
struct HostBody {
    hostname: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostLimitsBody {
    hostname: String,
    events_per_sec: Option<u32>,
    accounts_per_host: Option<u64>,
}

#[derive(Deserialize)]
struct DidBody {
    did: String,
}

async fn ban_host(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(b): Json<HostBody>) -> XResult {
    check(&relay, &headers)?;
    relay.ban_host(&b.hostname).map_err(crawl_err)?;
    Ok(Json(json!({})))
}

async fn unban_host(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(b): Json<HostBody>) -> XResult {
    check(&relay, &headers)?;
    if !relay.unban_host(&b.hostname).map_err(crawl_err)? {
        return Err(XrpcError::invalid_request_named("HostNotFound", "unknown host"));
    }
    Ok(Json(json!({})))
}

async fn host_limits(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(b): Json<HostLimitsBody>) -> XResult {
    check(&relay, &headers)?;
    if !relay.set_host_limits(&b.hostname, b.events_per_sec, b.accounts_per_host).map_err(crawl_err)? {
        return Err(XrpcError::invalid_request_named("HostNotFound", "unknown host"));
    }
    Ok(Json(json!({})))
}

async fn set_account(relay: &Relay, did: &str, banned: bool) -> XResult {
    match relay.set_account_banned(did, banned) {
        Ok(true) => Ok(Json(json!({}))),
        Ok(false) => Err(XrpcError::repo_not_found(format!("unknown repo {did}"))),
        Err(e) => {
            tracing::error!(error = %e, "store error");
            Err(XrpcError::internal_server_error())
        }
    }
}

async fn ban_account(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(b): Json<DidBody>) -> XResult {
    check(&relay, &headers)?;
    set_account(&relay, &b.did, true).await
}

async fn unban_account(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(b): Json<DidBody>) -> XResult {
    check(&relay, &headers)?;
    set_account(&relay, &b.did, false).await
}

async fn get_limits(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap) -> XResult {
    check(&relay, &headers)?;
    Ok(Json(serde_json::to_value(relay.limits()).expect("limits serialize")))
}

async fn set_limits(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(l): Json<Limits>) -> XResult {
    check(&relay, &headers)?;
    relay.set_limits(l);
    Ok(Json(serde_json::to_value(l).expect("limits serialize")))
}

#[derive(Deserialize)]
struct BackupBody {
    directory: std::path::PathBuf,
}

async fn take_backup(State(relay): State<Arc<Relay>>, headers: axum::http::HeaderMap, Json(b): Json<BackupBody>) -> Result<Json<backup::Manifest>, XrpcError> {
    check(&relay, &headers)?;
    let r = relay.clone();
    let taken = tokio::task::spawn_blocking(move || crate::backups::backup(&r.log, &b.directory)).await.map_err(|e| {
        tracing::error!(error = %e, "backup task failed");
        XrpcError::internal_server_error()
    })?;
    match taken {
        Ok(manifest) => Ok(Json(manifest)),
        Err(e @ backup::BackupError::NotEmpty(_)) => Err(XrpcError::invalid_request(e.to_string())),
        Err(e) => {
            tracing::error!(error = %e, "backup failed");
            Err(XrpcError::new(500, "InternalServerError", Some(format!("backup failed: {e}"))))
        }
    }
}
