//! Downstream `com.atproto.sync.subscribeRepos`. Each consumer replays from its cursor by
//! reading the log in batches, then follows the head: the same loop serves replay and live,
//! so there is no gap or duplicate at the switch-over. Memory per consumer is one batch plus
//! the socket's bounded write buffer; a consumer that lags more than `max_consumer_lag`
//! events, falls out of retention, or does not take a frame within `consumer_send_timeout`
//! gets a `ConsumerTooSlow` error frame and is disconnected.

use std::sync::Arc;

use atproto::firehose::{cursor, ErrorFrame, SubscribeReposFrame};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::relay::Relay;

const BATCH: usize = 256;
/// Socket write buffer limit per consumer.
pub(super) const MAX_WRITE_BUFFER: usize = 8 << 20;

#[derive(Deserialize)]
pub struct Params {
    cursor: Option<i64>,
}

pub async fn subscribe_repos(State(relay): State<Arc<Relay>>, Query(p): Query<Params>, ws: WebSocketUpgrade) -> Response {
    ws.max_write_buffer_size(MAX_WRITE_BUFFER).on_upgrade(move |socket| serve(relay, socket, p.cursor))
}

fn error_frame(error: &str, message: &str) -> Message {
    Message::Binary(SubscribeReposFrame::Error(ErrorFrame { error: error.into(), message: Some(message.into()) }).encode().into())
}

async fn serve(relay: Arc<Relay>, socket: WebSocket, cursor: Option<i64>) {
    let (mut sink, stream) = socket.split();
    let mut pos = match cursor::start(cursor, relay.log.first(), relay.log.head()) {
        Err(future) => {
            let _ = sink.send(Message::Binary(future.frame().into())).await;
            let _ = sink.close().await;
            return;
        }
        Ok(start) => {
            if let cursor::Start::Outdated(_) = start {
                if sink.send(Message::Binary(cursor::outdated_cursor_frame().into())).await.is_err() {
                    return;
                }
            }
            start.after()
        }
    };
    metrics::gauge!("relay_consumers").increment(1.0);
    let _guard = Guard;
    let mut head_rx = relay.log.subscribe();
    let mut closed_rx = super::closed(stream);
    let timeout = relay.config.consumer_send_timeout;
    loop {
        head_rx.borrow_and_update();
        loop {
            let head = relay.log.head();
            if pos >= head {
                break;
            }
            let lag = relay.log.behind(pos);
            metrics::histogram!("relay_consumer_lag_events").record(lag as f64);
            if cursor::too_slow(lag, pos, relay.log.first(), relay.config.max_consumer_lag) {
                too_slow(&mut sink).await;
                return;
            }
            let batch = match relay.log.read_after(pos, BATCH) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "reading the log failed");
                    let _ = sink.send(error_frame("InternalError", "log read failed")).await;
                    return;
                }
            };
            if pruned_under(&relay.log, pos) {
                too_slow(&mut sink).await;
                return;
            }
            for ev in batch {
                match tokio::time::timeout(timeout, sink.send(Message::Binary(ev.frame))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        too_slow(&mut sink).await;
                        return;
                    }
                }
                pos = ev.seq;
                metrics::counter!("relay_events_out_total").increment(1);
            }
        }
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return },
            _ = &mut closed_rx => return,
        }
    }
}

struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        metrics::gauge!("relay_consumers").decrement(1.0);
    }
}

/// Whether events after `pos` were pruned (checked after a read: they went while the consumer
/// read). The log moves its floor before it deletes, so a read that missed events sees it.
/// Not a gap between `pos` and the batch: sequence numbers skip after a restore.
pub(super) fn pruned_under(log: &crate::log::EventLog, pos: u64) -> bool {
    pos + 1 < log.first()
}

pub(super) async fn too_slow<S: futures::Sink<Message> + Unpin>(sink: &mut S) {
    metrics::counter!("relay_consumers_too_slow_total").increment(1);
    let send = sink.send(Message::Binary(cursor::consumer_too_slow_frame().into()));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), send).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.close()).await;
}
