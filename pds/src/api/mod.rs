//! The HTTP surface: `/xrpc/{nsid}` dispatched by method name, `subscribeRepos` over
//! WebSocket, `/.well-known/*`, `/_health` and `/metrics`.
//!
//! Every XRPC handler takes a [`Req`] (headers, query parameters, body) and answers JSON or
//! an [`XrpcError`] with the lexicon's error name. Methods this server does not implement
//! answer `MethodNotImplemented` (501); `app.bsky.*`/`chat.bsky.*` and requests carrying an
//! `atproto-proxy` header go to [`proxy`].

pub mod admin;
pub mod email;
pub mod firehose;
pub mod identity;
pub mod import;
pub mod preferences;
pub mod proxy;
pub mod rate_limit;
pub mod repo;
pub mod server;
pub mod sync;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::store::StoreError;
use atproto::xrpc::XrpcError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::state::AppState;
use telemetry::net::PeerAddr;

pub type XrpcResult = Result<Response, XrpcError>;

/// One XRPC request.
pub struct Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Params,
    pub body: Bytes,
    pub ip: Option<IpAddr>,
    pub nsid: String,
    pub uri: Uri,
}

/// Query parameters, repeated names allowed (`cids=a&cids=b`).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(url::form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
    pub fn required(&self, name: &str) -> Result<&str, XrpcError> {
        self.get(name).ok_or_else(|| XrpcError::invalid_request(format!("Error: Params must have the property \"{name}\"")))
    }
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, XrpcError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(XrpcError::invalid_request(format!("Error: limit must be an integer between 1 and {max}"))),
            },
        }
    }
    pub fn bool(&self, name: &str) -> Result<bool, XrpcError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(XrpcError::invalid_request(format!("Error: {name} must be a boolean"))),
        }
    }
}

impl Req {
    /// The JSON body as `T`; malformed input is `InvalidRequest`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, XrpcError> {
        if self.body.is_empty() {
            return Err(XrpcError::invalid_request("Request body is required"));
        }
        serde_json::from_slice(&self.body).map_err(|e| XrpcError::invalid_request(format!("Invalid input: {e}")))
    }
}

pub fn ok_json(value: serde_json::Value) -> XrpcResult {
    Ok(Json(value).into_response())
}

pub fn ok_empty() -> XrpcResult {
    Ok(StatusCode::OK.into_response())
}

/// Logs an internal error and answers the reference's detail-free 500.
pub fn internal(e: impl std::fmt::Display) -> XrpcError {
    tracing::error!(error = %e, "internal error");
    XrpcError::internal_server_error()
}

/// A full disk is the operator's to fix and the client's to retry: a 503 that says so. Other
/// store failures are internal.
impl From<StoreError> for XrpcError {
    fn from(e: StoreError) -> XrpcError {
        match e {
            StoreError::DiskFull(full) => disk_full(full),
            other => internal(other),
        }
    }
}

pub fn disk_full(full: telemetry::disk::DiskFull) -> XrpcError {
    XrpcError::not_enough_resources(format!("the server is out of disk space, so nothing was written; try again later ({full})"))
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = (state.config.blob_upload_limit as usize).max(2 << 20) + 1024;
    Router::new()
        .route("/xrpc/com.atproto.sync.subscribeRepos", get(firehose::subscribe_repos))
        .route("/xrpc/com.atproto.repo.importRepo", any(import::handler).layer(DefaultBodyLimit::max(import::MAX_IMPORT_BYTES)))
        .route("/xrpc/{nsid}", any(dispatch))
        .route("/.well-known/atproto-did", get(identity::well_known_atproto_did))
        .route("/.well-known/did.json", get(identity::well_known_did_json))
        .route("/admin/backup", axum::routing::post(admin::backup))
        .route("/_health", get(health))
        .route("/metrics", get(metrics))
        .route("/", get(|| async { "This is an AT Protocol Personal Data Server (Sonde PDS)\n\nMost API routes are under /xrpc/\n" }))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(track))
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"version": env!("CARGO_PKG_VERSION")}))
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.store.record_sizes();
    state.metrics.render()
}

/// Request counters and latency by XRPC method (or path) and status, and a log line each.
async fn track(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let route = atproto::xrpc::nsid_from_path(path).map(str::to_string).unwrap_or_else(|| {
        if path.starts_with("/xrpc/") {
            "xrpc_unknown".into()
        } else {
            path.to_string()
        }
    });
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    metrics::counter!("pds_http_requests_total", "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("pds_http_request_seconds", "route" => route.clone()).record(elapsed.as_secs_f64());
    tracing::debug!(%method, %route, status, ms = elapsed.as_secs_f64() * 1e3, "request");
    resp
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    Path(nsid): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ConnectInfo(PeerAddr(addr)): ConnectInfo<PeerAddr>,
    body: Bytes,
) -> Response {
    let req = Req { params: Params::parse(uri.query().unwrap_or("")), method, headers, body, ip: Some(addr.ip()), nsid, uri };
    match route(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(state: &Arc<AppState>, req: Req) -> XrpcResult {
    // Preferences are the PDS's own, whatever the proxy header says.
    let local_prefs = matches!(req.nsid.as_str(), "app.bsky.actor.getPreferences" | "app.bsky.actor.putPreferences");
    if req.headers.contains_key(atproto::xrpc::PROXY_HEADER) && !local_prefs {
        return proxy::forward(state, req).await;
    }
    let is_get = req.method == Method::GET || req.method == Method::HEAD;
    let s = state.as_ref();
    macro_rules! q {
        ($f:expr) => {
            if is_get {
                $f(s, &req).await
            } else {
                Err(wrong_method())
            }
        };
    }
    macro_rules! p {
        ($f:expr) => {
            if req.method == Method::POST {
                $f(s, &req).await
            } else {
                Err(wrong_method())
            }
        };
    }
    let nsid = req.nsid.clone();
    match nsid.as_str() {
        // server
        "com.atproto.server.describeServer" => q!(server::describe_server),
        "com.atproto.server.createAccount" => p!(server::create_account),
        "com.atproto.server.createSession" => p!(server::create_session),
        "com.atproto.server.refreshSession" => p!(server::refresh_session),
        "com.atproto.server.getSession" => q!(server::get_session),
        "com.atproto.server.deleteSession" => p!(server::delete_session),
        "com.atproto.server.createAppPassword" => p!(server::create_app_password),
        "com.atproto.server.listAppPasswords" => q!(server::list_app_passwords),
        "com.atproto.server.revokeAppPassword" => p!(server::revoke_app_password),
        "com.atproto.server.createInviteCode" => p!(server::create_invite_code),
        "com.atproto.server.createInviteCodes" => p!(server::create_invite_codes),
        "com.atproto.server.getAccountInviteCodes" => q!(server::get_account_invite_codes),
        "com.atproto.server.checkAccountStatus" => q!(server::check_account_status),
        "com.atproto.server.activateAccount" => p!(server::activate_account),
        "com.atproto.server.deactivateAccount" => p!(server::deactivate_account),
        "com.atproto.server.getServiceAuth" => q!(server::get_service_auth),
        // repo
        "com.atproto.repo.createRecord" => p!(repo::create_record),
        "com.atproto.repo.putRecord" => p!(repo::put_record),
        "com.atproto.repo.deleteRecord" => p!(repo::delete_record),
        "com.atproto.repo.applyWrites" => p!(repo::apply_writes),
        "com.atproto.repo.getRecord" => q!(repo::get_record),
        "com.atproto.repo.listRecords" => q!(repo::list_records),
        "com.atproto.repo.describeRepo" => q!(repo::describe_repo),
        "com.atproto.repo.uploadBlob" => p!(repo::upload_blob),
        "com.atproto.repo.listMissingBlobs" => q!(import::list_missing_blobs),
        // sync
        "com.atproto.sync.getLatestCommit" => q!(sync::get_latest_commit),
        "com.atproto.sync.getRepo" => q!(sync::get_repo),
        "com.atproto.sync.getRecord" => q!(sync::get_record),
        "com.atproto.sync.getBlocks" => q!(sync::get_blocks),
        "com.atproto.sync.getRepoStatus" => q!(sync::get_repo_status),
        "com.atproto.sync.listRepos" => q!(sync::list_repos),
        "com.atproto.sync.listBlobs" => q!(sync::list_blobs),
        "com.atproto.sync.getBlob" => q!(sync::get_blob),
        // identity
        "com.atproto.identity.resolveHandle" => q!(identity::resolve_handle),
        "com.atproto.identity.updateHandle" => p!(identity::update_handle),
        // operator
        "com.atproto.admin.getAccountInfo" => q!(admin::get_account_info),
        "com.atproto.admin.getAccountInfos" => q!(admin::get_account_infos),
        "com.atproto.admin.searchAccounts" => q!(admin::search_accounts),
        "com.atproto.admin.deleteAccount" => p!(admin::delete_account),
        "com.atproto.admin.updateAccountPassword" => p!(admin::update_account_password),
        "com.atproto.admin.updateSubjectStatus" => p!(admin::update_subject_status),
        "com.atproto.admin.getSubjectStatus" => q!(admin::get_subject_status),
        "com.atproto.admin.disableInviteCodes" => p!(admin::disable_invite_codes),
        // email tokens
        "com.atproto.server.requestAccountDelete" => p!(email::request_account_delete),
        "com.atproto.server.deleteAccount" => p!(email::delete_account),
        "com.atproto.server.requestPasswordReset" => p!(email::request_password_reset),
        "com.atproto.server.resetPassword" => p!(email::reset_password),
        "com.atproto.server.requestEmailConfirmation" => p!(email::request_email_confirmation),
        "com.atproto.server.confirmEmail" => p!(email::confirm_email),
        "com.atproto.server.requestEmailUpdate" => p!(email::request_email_update),
        "com.atproto.server.updateEmail" => p!(email::update_email),
        "app.bsky.actor.getPreferences" => q!(preferences::get_preferences),
        "app.bsky.actor.putPreferences" => p!(preferences::put_preferences),
        nsid if nsid.starts_with("app.bsky.") || nsid.starts_with("chat.bsky.") => proxy::forward(state, req).await,
        _ => Err(XrpcError::method_not_implemented()),
    }
}

fn wrong_method() -> XrpcError {
    XrpcError::invalid_request("Incorrect HTTP method")
}

/// Body of an empty 200 for `Response` builders.
pub fn empty_body() -> Body {
    Body::empty()
}
