//! The XRPC surface: one file per `app.bsky` method group, plus backlinks and the service's
//! own `did:web` document. Handlers parse parameters into typed inputs, call the
//! [`crate::query`] layer and serialize its views; they never read the store themselves.
//!
//! Every method not listed answers `MethodNotImplemented`. A bad parameter is
//! `InvalidRequest` (400), never a 500.

mod actor;
pub mod auth;
mod feed;
mod graph;
mod labeler;
mod links;
mod notification;
mod params;
mod unspecced;

use std::sync::Arc;

use atproto::xrpc::XrpcError;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::query::{Query, QueryError, Viewer};
pub use auth::ServiceAuth;
pub use params::Params;

/// Shared by every handler.
pub struct AppState {
    pub query: Query,
    pub auth: ServiceAuth,
    /// The URL this service is reached at, for its DID document.
    pub public_url: String,
}

pub type Shared = Arc<AppState>;

/// A handler's answer.
pub type XrpcResult = Result<Response, XrpcError>;

impl From<QueryError> for XrpcError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadRequest(m) => XrpcError::invalid_request(m),
            QueryError::Named { error, message } => XrpcError::invalid_request_named(error, message),
            QueryError::Store(e) => {
                tracing::error!(error = %e, "store read failed");
                XrpcError::internal_server_error()
            }
            QueryError::Search(e) => {
                tracing::error!(error = %e, "search failed");
                XrpcError::internal_server_error()
            }
        }
    }
}

pub(crate) fn ok(value: impl serde::Serialize) -> XrpcResult {
    Ok(Json(value).into_response())
}

/// A request as handlers see it: its parameters and its viewer.
pub struct Req {
    pub params: Params,
    pub headers: HeaderMap,
    pub nsid: String,
}

impl Req {
    /// The signed-in viewer, if the request carries a valid service-auth token.
    pub async fn viewer(&self, s: &AppState) -> Result<Viewer, XrpcError> {
        match s.auth.viewer(&self.headers, &self.nsid).await? {
            Some(did) => Ok(Viewer(s.query.store.actor_id(&did).map_err(QueryError::from)?)),
            None => Ok(Viewer(None)),
        }
    }

    /// The viewer, required: methods about "me" need a signed-in account.
    pub async fn required_viewer(&self, s: &AppState) -> Result<crate::store::ActorId, XrpcError> {
        let Some(did) = s.auth.viewer(&self.headers, &self.nsid).await? else {
            return Err(XrpcError::auth_required("this method needs a service-auth token"));
        };
        match s.query.store.actor_id(&did).map_err(QueryError::from)? {
            Some(id) => Ok(id),
            // Not yet seen in any stream: nothing to show, but not an error of the caller's.
            None => Err(XrpcError::invalid_request_named("NotFound", format!("the indexer has no record of {did} yet"))),
        }
    }
}

async fn xrpc_get(State(s): State<Shared>, Path(nsid): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let req = Req { params: Params::parse(q.as_deref().unwrap_or("")), headers, nsid: nsid.clone() };
    let started = std::time::Instant::now();
    let result = route(&s, &nsid, req).await;
    metrics::histogram!("indexer_request_seconds", "method" => metric_method(&nsid)).record(started.elapsed().as_secs_f64());
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn xrpc_post(State(s): State<Shared>, Path(nsid): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let req = Req { params: Params::default(), headers, nsid: nsid.clone() };
    let result = match nsid.as_str() {
        "app.bsky.notification.updateSeen" => notification::update_seen(&s, req, &body).await,
        _ => Err(XrpcError::method_not_implemented()),
    };
    result.unwrap_or_else(|e| e.into_response())
}

/// The methods served, by NSID.
async fn route(s: &AppState, nsid: &str, req: Req) -> XrpcResult {
    match nsid {
        "app.bsky.actor.getProfile" => actor::get_profile(s, req).await,
        "app.bsky.actor.getProfiles" => actor::get_profiles(s, req).await,
        "app.bsky.actor.searchActors" => actor::search_actors(s, req, false).await,
        "app.bsky.actor.searchActorsTypeahead" => actor::search_actors(s, req, true).await,
        "app.bsky.feed.getTimeline" => feed::get_timeline(s, req).await,
        "app.bsky.feed.getAuthorFeed" => feed::get_author_feed(s, req).await,
        "app.bsky.feed.getPostThread" => feed::get_post_thread(s, req).await,
        "app.bsky.unspecced.getPostThreadV2" => unspecced::get_post_thread_v2(s, req).await,
        "app.bsky.feed.getPosts" => feed::get_posts(s, req).await,
        "app.bsky.feed.getLikes" => feed::get_likes(s, req).await,
        "app.bsky.feed.getRepostedBy" => feed::get_reposted_by(s, req).await,
        "app.bsky.feed.getQuotes" => feed::get_quotes(s, req).await,
        "app.bsky.feed.getActorLikes" => feed::get_actor_likes(s, req).await,
        "app.bsky.feed.searchPosts" => feed::search_posts(s, req).await,
        "app.bsky.graph.getFollowers" => graph::get_followers(s, req).await,
        "app.bsky.graph.getFollows" => graph::get_follows(s, req).await,
        "app.bsky.graph.getRelationships" => graph::get_relationships(s, req).await,
        "app.bsky.graph.getBlocks" => graph::get_blocks(s, req).await,
        "app.bsky.graph.getList" => graph::get_list(s, req).await,
        "app.bsky.graph.getLists" => graph::get_lists(s, req).await,
        "app.bsky.notification.listNotifications" => notification::list_notifications(s, req).await,
        "app.bsky.notification.getUnreadCount" => notification::get_unread_count(s, req).await,
        "app.bsky.unspecced.getConfig" => unspecced::get_config(s, req).await,
        "app.bsky.labeler.getServices" => labeler::get_services(s, req).await,
        _ => Err(XrpcError::method_not_implemented()),
    }
}

/// Bounded label values for the request histogram.
fn metric_method(nsid: &str) -> String {
    if nsid.starts_with("app.bsky.") && nsid.len() < 64 && nsid.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        nsid.to_owned()
    } else {
        "other".to_owned()
    }
}

/// The service's `did:web` document: an AppView (`#bsky_appview`) at its public URL.
async fn did_document(State(s): State<Shared>) -> Json<Value> {
    Json(json!({
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": s.auth.service_did,
        "service": [{"id": "#bsky_appview", "type": "BskyAppView", "serviceEndpoint": s.public_url}],
    }))
}

async fn metrics_handler(State(s): State<Shared>) -> impl IntoResponse {
    s.query.store.record_metrics();
    telemetry::render()
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/xrpc/{nsid}", get(xrpc_get).post(xrpc_post))
        .route("/.well-known/did.json", get(did_document))
        .route("/_health", get(|| async { Json(json!({"version": env!("CARGO_PKG_VERSION")})) }))
        .route("/metrics", get(metrics_handler))
        .merge(links::router())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .with_state(state)
}
