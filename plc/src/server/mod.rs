//! The PLC directory HTTP server: the axum [`router`], an in-process [`PlcServer`] handle
//! (bound address, graceful shutdown) built by [`ServerBuilder`], and [`serve`] for binaries.
//!
//! Routes (as plc.directory): `GET /{did}`, `/{did}/data`, `/{did}/log`, `/{did}/log/audit`,
//! `/{did}/log/last`, `POST /{did}`, `GET /export`, `GET /_health`, and `GET /metrics`.

mod metrics;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;

pub use self::metrics::global_handle as metrics_handle;
use crate::store::Directory;

/// Default cap on a request body (a valid op is at most 4000 bytes of DAG-CBOR).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) dir: Arc<Directory>,
}

/// The directory API over `dir`, with `/metrics` rendering `metrics`.
pub fn router(dir: Arc<Directory>, metrics: PrometheusHandle, max_body_bytes: usize) -> Router {
    let api = Router::new()
        .route("/_health", get(routes::health))
        .route("/export", get(routes::export))
        .route("/{did}", get(routes::document).post(routes::submit))
        .route("/{did}/data", get(routes::data))
        .route("/{did}/log", get(routes::log))
        .route("/{did}/log/audit", get(routes::audit))
        .route("/{did}/log/last", get(routes::last))
        .fallback(routes::fallback)
        .with_state(AppState { dir: dir.clone() })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .route_layer(axum::middleware::from_fn(self::metrics::track));
    api.route(
        "/metrics",
        get(move || {
            let (handle, dir) = (metrics.clone(), dir.clone());
            async move {
                dir.record_sizes();
                handle.render()
            }
        }),
    )
    .layer(TraceLayer::new_for_http())
}

/// Configures and starts an in-process directory server.
pub struct ServerBuilder {
    data_dir: PathBuf,
    max_body_bytes: usize,
    metrics: Option<PrometheusHandle>,
    min_free_bytes: u64,
}

/// The free space a directory keeps on its disk unless told otherwise.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 256 << 20;

impl ServerBuilder {
    /// A server storing its RocksDB database in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerBuilder { data_dir: data_dir.into(), max_body_bytes: DEFAULT_MAX_BODY_BYTES, metrics: None, min_free_bytes: DEFAULT_MIN_FREE_BYTES }
    }

    /// Refuse operations (503) while less than `bytes` are free on the data directory's disk.
    pub fn min_free_bytes(mut self, bytes: u64) -> Self {
        self.min_free_bytes = bytes;
        self
    }

    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Serve this handle on `/metrics` (for programs that installed their own recorder).
    pub fn metrics_handle(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Binds `addr` (use port 0 for an ephemeral port) and starts serving.
    pub async fn bind(self, addr: SocketAddr) -> anyhow::Result<PlcServer> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        self.spawn(listener).await
    }

    /// Opens the store and serves on `listener` in a background task.
    pub async fn spawn(self, listener: TcpListener) -> anyhow::Result<PlcServer> {
        let addr = listener.local_addr()?;
        let data_dir = self.data_dir.clone();
        let min_free = self.min_free_bytes;
        let dir = tokio::task::spawn_blocking(move || Directory::open(&data_dir, min_free))
            .await?
            .with_context(|| format!("opening the store in {}", self.data_dir.display()))?;
        let dir = Arc::new(dir);
        let metrics = self.metrics.unwrap_or_else(metrics_handle);
        let app = router(dir.clone(), metrics, self.max_body_bytes);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(telemetry::net::CountingListener::new(listener, "plc"), app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%addr, "PLC directory listening");
        Ok(PlcServer { addr, dir, shutdown: tx, task })
    }
}

/// A running in-process directory server.
pub struct PlcServer {
    addr: SocketAddr,
    dir: Arc<Directory>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl PlcServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the base URL for a [`crate::PlcClient`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The store, for in-process readers.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.dir
    }

    /// Stops accepting, lets in-flight requests finish, and closes the store (so the same
    /// data directory can be reopened once this returns).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.context("server task panicked")??;
        let mut dir = self.dir;
        for _ in 0..500 {
            match Arc::try_unwrap(dir) {
                Ok(d) => {
                    tokio::task::spawn_blocking(move || drop(d)).await?;
                    tracing::info!(addr = %self.addr, "PLC directory stopped");
                    return Ok(());
                }
                Err(shared) => {
                    dir = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        anyhow::bail!("the store is still in use 5 s after shutdown")
    }
}

/// Serves the directory stored in `dir` on `listener` until Ctrl-C or SIGTERM, then shuts
/// down gracefully.
pub async fn serve(listener: TcpListener, dir: PathBuf, min_free_bytes: u64) -> anyhow::Result<()> {
    let server = ServerBuilder::new(dir).min_free_bytes(min_free_bytes).spawn(listener).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
