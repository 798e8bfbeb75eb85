//! Shared server state and start-up: opening the store, the PLC client, the HTTP listener,
//! and the crawler notifier.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use telemetry::net::{CountingListener, PeerAddr};
use tokio::net::TcpListener;

use crate::api::rate_limit::RateLimiter;
use crate::auth::Auth;
use crate::config::Config;
use crate::repos::Repos;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Arc<Store>,
    pub repos: Repos,
    pub auth: Auth,
    pub plc: plc::PlcClient,
    pub resolver: plc::Resolver,
    pub http: reqwest::Client,
    /// For URLs from untrusted documents (proxy targets named by someone's DID document).
    pub guarded_http: reqwest::Client,
    /// Free space on the blob directory's disk (the database's is the store's).
    pub blob_disk: telemetry::disk::DiskGuard,
    pub mailer: crate::mailer::Mailer,
    pub lexicons: atproto::lexicon::Lexicons,
    pub metrics: PrometheusHandle,
    pub session_limiter: RateLimiter,
    pub account_limiter: RateLimiter,
    /// Unix seconds of the last `requestCrawl` round (0: never).
    pub last_crawl: AtomicU64,
    /// Serialises account creation and handle changes (handle/email uniqueness).
    pub account_lock: tokio::sync::Mutex<()>,
    /// A handle on this state's own `Arc`, for spawning background work from `&self`.
    pub me: OnceLock<std::sync::Weak<AppState>>,
}

/// The process's Prometheus handle (shared with any service embedded in the same process).
pub fn metrics_handle() -> PrometheusHandle {
    telemetry::metrics_handle()
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    blob_gc: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
        self.blob_gc.abort();
    }
}

impl AppState {
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        std::fs::create_dir_all(&config.blobstore_location)?;
        let store = Store::open(&config.data_directory, config.disk_min_free_bytes)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("sonde-pds/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let plc = plc::PlcClient::with_http(&config.plc_url, http.clone())?;
        let resolver = plc::Resolver::new(plc::ResolverConfig::with_plc_url(&config.plc_url))?;
        let window = Duration::from_secs(5 * 60);
        Ok(Arc::new(AppState {
            auth: Auth::new(&config.jwt_secret, &config.service_did(), &config.admin_password),
            repos: Repos::new(store.clone(), config.blobstore_location.clone()),
            session_limiter: RateLimiter::new(config.create_session_limit, window),
            account_limiter: RateLimiter::new(config.create_account_limit, window),
            metrics: metrics_handle(),
            last_crawl: AtomicU64::new(0),
            account_lock: Default::default(),
            mailer: crate::mailer::Mailer::from_config(&config)?,
            guarded_http: plc::resolver::guard::guarded_client(config.dev_mode, Duration::from_secs(30))?,
            lexicons: crate::lexicons::load(config.lexicon_directory.as_deref())?,
            me: OnceLock::new(),
            blob_disk: telemetry::disk::DiskGuard::new("pds", &config.blobstore_location, config.disk_min_free_bytes),
            store,
            plc,
            resolver,
            http,
            config,
        }))
    }

    /// Called after each repository write: crawlers hear about this PDS at most every 20 minutes.
    pub fn notify_after_write(self: &AppState) {
        if let Some(me) = self.me.get().and_then(|w| w.upgrade()) {
            me.notify_crawlers();
        }
    }

    /// Notifies every crawler (`PDS_CRAWLERS`) with `requestCrawl`, at most every 20 minutes.
    pub fn notify_crawlers(self: &Arc<Self>) {
        if self.config.crawlers.is_empty() {
            return;
        }
        let now = crate::auth::now_secs();
        let last = self.last_crawl.load(Ordering::Acquire);
        if now < last + 20 * 60 || self.last_crawl.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let state = self.clone();
        tokio::spawn(async move {
            let input = xrpc_client::methods::RequestCrawl { hostname: state.config.hostname.clone() };
            for crawler in &state.config.crawlers {
                let relay = xrpc_client::Client::with_http(crawler, state.http.clone());
                match relay.procedure::<_, xrpc_client::methods::Empty>("com.atproto.sync.requestCrawl", &input).await {
                    Ok(_) => tracing::info!(%crawler, "requested crawl"),
                    Err(e) => tracing::warn!(%crawler, error = %e, "requestCrawl failed"),
                }
            }
        });
    }
}

/// Starts serving `config` on `listener` in a background task.
pub async fn spawn(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let state = tokio::task::spawn_blocking(move || AppState::new(config)).await??;
    let _ = state.me.set(Arc::downgrade(&state));
    let app = crate::api::router(state.clone()).into_make_service_with_connect_info::<PeerAddr>();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(CountingListener::new(listener, "pds"), app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    state.notify_crawlers();
    let blob_gc = crate::blob_gc::spawn(state.clone());
    tracing::info!(%addr, hostname = %state.config.hostname, "PDS listening");
    Ok(Server { addr, state, shutdown: tx, task, blob_gc })
}
