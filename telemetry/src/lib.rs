//! Prometheus metrics and runtime guards shared by Sonde's services (PDS, relay, PLC directory, indexer).
//!
//! What every service needs and none should write again:
//!
//! - [`metrics_handle`]: the process-wide Prometheus recorder, installed on first use, whose
//!   handle renders `/metrics`. One process may embed several services (loadgen's world runs a
//!   PLC directory in process), and they then share one registry.
//! - [`net`]: byte counters on the sockets a service accepts ([`net::CountingListener`]) and on
//!   the payloads it reads from connections it opens itself ([`net::count_client_bytes`]), as
//!   `<service>_network_bytes_total{direction, side}`. The experiment runner reads these to
//!   price egress; counting at the socket includes HTTP headers and WebSocket framing, which
//!   a provider bills too.
//! - [`disk`]: the floor of free space below which a service refuses writes whole, so a full
//!   disk is a clear, temporary refusal instead of a broken database or a half-written file.

pub mod disk;
pub mod net;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Histogram buckets in seconds, from 10 µs to 10 s: fine enough for per-frame verification
/// and coarse enough for a slow HTTP request.
pub const SECONDS_BUCKETS: &[f64] = &[1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.25, 1.0, 10.0];

/// The process's Prometheus handle, installing the global recorder on first use.
///
/// Histograms whose name ends in `_seconds` get [`SECONDS_BUCKETS`]; others render as
/// summaries (quantiles, `_sum` and `_count`). If another recorder was installed first (an
/// embedding program's own), the handle renders an empty registry and the log says so.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the bucket list is not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics will be empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// The body of a `/metrics` response and its content type.
pub fn render() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics_handle().render())
}

#[cfg(feature = "rocksdb")]
pub mod store;
