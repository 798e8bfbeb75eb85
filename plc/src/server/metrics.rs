//! Prometheus metrics: the process-wide recorder and the per-request middleware.
//!
//! The first server in a process installs a global Prometheus recorder. An embedding program
//! that already installed its own passes its handle to the builder instead; if neither is
//! possible `/metrics` serves an empty (unrecorded) registry and says so in the log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;

/// The process's Prometheus handle, installing the recorder on first use.
pub fn global_handle() -> PrometheusHandle {
    telemetry::metrics_handle()
}

/// Counts requests and their latency by route template and status.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("plc_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("plc_http_request_duration_seconds", "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    resp
}
