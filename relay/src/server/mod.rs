//! The relay's HTTP surface: `subscribeRepos`, the Jetstream-style `/subscribe`, the sync and
//! host XRPC queries, `requestCrawl`, the password-protected admin routes, `/metrics` and
//! `/_health`.

mod admin;
mod firehose;
mod subscribe;
mod xrpc;

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::relay::Relay;

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    telemetry::metrics_handle()
}

pub fn router(relay: Arc<Relay>) -> Router {
    let _ = metrics_handle();
    Router::new()
        .route("/xrpc/com.atproto.sync.subscribeRepos", get(firehose::subscribe_repos))
        .route("/subscribe", get(subscribe::subscribe))
        .merge(xrpc::routes())
        .merge(admin::routes())
        .route("/metrics", get(metrics))
        .route("/_health", get(health))
        .with_state(relay)
}

async fn metrics(State(relay): State<Arc<Relay>>) -> impl IntoResponse {
    relay.log.store().record_sizes();
    telemetry::render()
}

async fn health(State(relay): State<Arc<Relay>>) -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "seq": relay.log.head()}))
}

/// Resolves when a consumer closes its WebSocket (or the read half fails), watching the read
/// half in a task of its own.
fn closed(mut stream: futures::stream::SplitStream<axum::extract::ws::WebSocket>) -> tokio::sync::oneshot::Receiver<()> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, axum::extract::ws::Message::Close(_)) {
                break;
            }
        }
        let _ = tx.send(());
    });
    rx
}
