//! The relay's HTTP surface: `subscribeRepos`, the Jetstream-style `/subscribe`, the sync and
//! host XRPC queries, `requestCrawl`, the password-protected admin routes, `/metrics` and
//! `/_health`.

mod admin;
mod firehose;
mod subscribe;
mod xrpc;

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::relay::Relay;

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1, 1.0])
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
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

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics_handle().render())
}

async fn health(State(relay): State<Arc<Relay>>) -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "seq": relay.log.head()}))
}

/// Resolves when a consumer closes its WebSocket (or the read half fails), watching the read
/// half in a task of its own.
fn closed(
    mut stream: futures::stream::SplitStream<axum::extract::ws::WebSocket>,
) -> tokio::sync::oneshot::Receiver<()> {
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
