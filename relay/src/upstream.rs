//! One task per upstream host: subscribes to its `com.atproto.sync.subscribeRepos`, resuming
//! from the stored cursor, feeds every frame to [`Relay::ingest`], applies the host's event
//! rate limit by back-pressure (reading slower, never dropping), and reconnects with
//! exponential backoff after errors, error frames and disconnects, and after an event that
//! could not be ingested through no fault of its own (it is read again from the cursor).
//! Between frames it retries the host's held events ([`Relay::release_held`]), with its own
//! backoff.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_tungstenite_axum::tungstenite::Message;

use crate::ingest::{HostCtx, IngestError, Ingested};
use crate::relay::Relay;
use crate::store::HostStatus;

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The first retry of held events, doubled while their identities stay unavailable.
const RELEASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_RELEASE_BACKOFF: Duration = Duration::from_secs(30);
const MAX_FRAME: usize = 8 << 20;

/// A host's event rate limit: `governor`'s GCRA with a burst of one second of events,
/// rebuilt when the host's configured rate changes.
struct HostRate {
    rate: u32,
    limiter: governor::DefaultDirectRateLimiter,
}

/// Waits until one more event of this host may be read at `rate` per second.
async fn acquire(slot: &mut Option<HostRate>, rate: u32) {
    let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    if slot.as_ref().is_none_or(|s| s.rate != rate.get()) {
        *slot = Some(HostRate { rate: rate.get(), limiter: governor::RateLimiter::direct(governor::Quota::per_second(rate)) });
    }
    let limiter = &slot.as_ref().expect("just set").limiter;
    if limiter.check().is_err() {
        metrics::counter!("relay_host_throttled_total").increment(1);
        limiter.until_ready().await;
    }
}

fn set_status(ctx: &HostCtx, status: HostStatus) {
    let mut st = ctx.state.lock().unwrap();
    if st.status != HostStatus::Banned {
        st.status = status;
    }
}

/// How many upstream frames may be in verification at once, ahead of the one being ingested.
const PIPELINE: usize = 64;

pub async fn run_host(relay: Arc<Relay>, ctx: HostCtx) {
    let mut backoff = Duration::from_millis(250);
    let mut limiter = None;
    while let Err(e) = relay.load_held(&ctx) {
        tracing::error!(host = %ctx.hostname, error = %e, "reading the held events failed");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let mut release_backoff = RELEASE_BACKOFF;
    let mut next_release = tokio::time::Instant::now() + release_backoff;
    loop {
        let (ssl, cursor) = {
            let st = ctx.state.lock().unwrap();
            if st.status == HostStatus::Banned {
                return;
            }
            (st.ssl, st.cursor)
        };
        let scheme = if ssl { "wss" } else { "ws" };
        let mut url = format!("{scheme}://{}/xrpc/com.atproto.sync.subscribeRepos", ctx.hostname);
        if cursor > 0 {
            url.push_str(&format!("?cursor={cursor}"));
        }
        let config =
            tokio_tungstenite_axum::tungstenite::protocol::WebSocketConfig::default().max_message_size(Some(MAX_FRAME)).max_frame_size(Some(MAX_FRAME));
        match connect(&url, &ctx.hostname, ssl, config, relay.config.testbed).await {
            Ok((mut ws, _)) => {
                tracing::info!(host = %ctx.hostname, cursor, "connected upstream");
                metrics::counter!("relay_upstream_connects_total", "host" => ctx.hostname.clone()).increment(1);
                set_status(&ctx, HostStatus::Active);
                let mut last_persist = Instant::now();
                // Commits are verified in parallel (up to PIPELINE ahead) and ingested in order.
                let mut pending = futures::stream::FuturesOrdered::new();
                let mut open = true;
                while open || !pending.is_empty() {
                    let waiting = !ctx.waiting.lock().unwrap().is_empty();
                    tokio::select! {
                        _ = tokio::time::sleep_until(next_release), if waiting => {
                            match relay.release_held(&ctx).await {
                                Ok(0) => release_backoff = RELEASE_BACKOFF,
                                Ok(_) => release_backoff = (release_backoff * 2).min(MAX_RELEASE_BACKOFF),
                                Err(e) => {
                                    tracing::error!(host = %ctx.hostname, error = %e, "releasing held events failed");
                                    release_backoff = (release_backoff * 2).min(MAX_RELEASE_BACKOFF);
                                }
                            }
                            next_release = tokio::time::Instant::now() + release_backoff;
                        }
                        msg = ws.next(), if open && pending.len() < PIPELINE => {
                            let data = match msg {
                                Some(Ok(Message::Binary(data))) => {
                                    telemetry::net::count_client_bytes("relay", telemetry::net::Direction::In, data.len() as u64);
                                    data
                                }
                                Some(Ok(Message::Text(_))) => {
                                    metrics::counter!("relay_events_dropped_total", "reason" => "malformed").increment(1);
                                    continue;
                                }
                                Some(Ok(Message::Close(_))) | None => { open = false; continue; }
                                Some(Ok(_)) => continue,
                                Some(Err(e)) => {
                                    tracing::info!(host = %ctx.hostname, error = %e, "upstream read error");
                                    open = false;
                                    continue;
                                }
                            };
                            let limits = relay.limits();
                            if limits.enabled {
                                let rate = ctx.state.lock().unwrap().rate_limit.unwrap_or(limits.events_per_sec);
                                acquire(&mut limiter, rate).await;
                            }
                            let r = relay.clone();
                            pending.push_back(tokio::spawn(async move {
                                let pre = r.preverify(data.clone()).await;
                                (data, pre)
                            }));
                        }
                        Some(done) = pending.next(), if !pending.is_empty() => {
                            let Ok((data, pre)) = done else { continue };
                            match relay.ingest(&ctx, &data, pre).await {
                                Ok(Ingested::UpstreamError(name)) => {
                                    tracing::warn!(host = %ctx.hostname, error = %name, "upstream error frame");
                                    metrics::counter!("relay_upstream_error_frames_total", "error" => name).increment(1);
                                    // Disconnect; frames read after it are not ingested (the cursor
                                    // stays before them).
                                    open = false;
                                    pending = futures::stream::FuturesOrdered::new();
                                }
                                // Our fault, or an identity outage with the held events at
                                // their cap: the cursor stayed before this event, so
                                // reconnecting (with backoff) reads it again.
                                Err(IngestError::Store(_) | IngestError::IdentityUnavailable(_)) => {
                                    open = false;
                                    pending = futures::stream::FuturesOrdered::new();
                                }
                                // Progress (an event accepted, ignored or dropped for its own
                                // fault) resets the backoff.
                                Ok(_) | Err(IngestError::Dropped(_)) => backoff = Duration::from_millis(250),
                            }
                            if last_persist.elapsed() > Duration::from_secs(1) {
                                persist(&relay, &ctx);
                                last_persist = Instant::now();
                            }
                        }
                    }
                }
                persist(&relay, &ctx);
                tracing::info!(host = %ctx.hostname, "upstream disconnected");
            }
            Err(e) => {
                tracing::info!(host = %ctx.hostname, error = %e, "upstream connect failed");
                set_status(&ctx, HostStatus::Offline);
            }
        }
        metrics::counter!("relay_upstream_disconnects_total", "host" => ctx.hostname.clone()).increment(1);
        // Held events do not need the host: retry them while it is away too.
        if !ctx.waiting.lock().unwrap().is_empty() && tokio::time::Instant::now() >= next_release {
            if let Err(e) = relay.release_held(&ctx).await {
                tracing::error!(host = %ctx.hostname, error = %e, "releasing held events failed");
            }
            next_release = tokio::time::Instant::now() + release_backoff;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Opens the host's WebSocket through plc's SSRF guard: the name resolves once, to public
/// addresses only (any address in a testbed), and the socket dials one of those.
async fn connect(
    url: &str,
    hostname: &str,
    ssl: bool,
    config: tokio_tungstenite_axum::tungstenite::protocol::WebSocketConfig,
    testbed: bool,
) -> Result<(Ws, tokio_tungstenite_axum::tungstenite::handshake::client::Response), String> {
    // `name`, `name:port` or `[v6]:port`.
    let (host, port) = match hostname.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse::<u16>().map_err(|e| format!("{hostname}: port: {e}"))?),
        _ => (hostname, if ssl { 443 } else { 80 }),
    };
    let addrs = plc::resolver::guard::dialable(host, port, testbed).await.map_err(|e| e.to_string())?;
    let stream = tokio::net::TcpStream::connect(&addrs[..]).await.map_err(|e| format!("{hostname}: {e}"))?;
    tokio_tungstenite_axum::client_async_tls_with_config(url, stream, Some(config), None).await.map_err(|e| e.to_string())
}

type Ws = tokio_tungstenite_axum::WebSocketStream<tokio_tungstenite_axum::MaybeTlsStream<tokio::net::TcpStream>>;

/// Saves the host's cursor (advanced by dropped events too, which the log did not write).
fn persist(relay: &Relay, ctx: &HostCtx) {
    let snapshot = ctx.state.lock().unwrap().clone();
    if let Err(e) = relay.log.store().put_host(&snapshot) {
        tracing::error!(host = %ctx.hostname, error = %e, "saving host state failed");
    }
}
