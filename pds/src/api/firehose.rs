//! `com.atproto.sync.subscribeRepos` over WebSocket.
//!
//! With a cursor, the stored events after it are replayed, then live events follow with no
//! gap and no duplicate: the subscriber joins the live channel *before* reading the log, and
//! skips live events it already sent. A cursor older than `PDS_REPO_BACKFILL_LIMIT_MS` gets
//! `#info OutdatedCursor` and replay from the oldest event in the window; a cursor ahead of
//! the sequencer gets the `FutureCursor` error frame and a close. A subscriber that falls
//! behind the live channel catches up from the log.

use std::sync::Arc;

use atproto::firehose::cursor;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use crate::state::AppState;
use crate::store::events::now_ms;

#[derive(serde::Deserialize)]
pub struct Params {
    cursor: Option<i64>,
}

pub async fn subscribe_repos(State(state): State<Arc<AppState>>, Query(params): Query<Params>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| async move {
        metrics::gauge!("pds_firehose_subscribers").increment(1.0);
        if let Err(e) = run(state, params.cursor, socket).await {
            tracing::debug!(error = %e, "firehose subscriber ended");
        }
        metrics::gauge!("pds_firehose_subscribers").decrement(1.0);
    })
    .into_response()
}

async fn send(socket: &mut WebSocket, frame: &[u8]) -> Result<(), axum::Error> {
    metrics::counter!("pds_firehose_frames_sent_total").increment(1);
    socket.send(Message::Binary(frame.to_vec().into())).await
}

const PAGE: usize = 500;

/// Sends stored events after `last` up to the durable head; returns the new `last`.
async fn replay(state: &AppState, socket: &mut WebSocket, mut last: u64) -> anyhow::Result<u64> {
    loop {
        let store = state.store.clone();
        let page = tokio::task::spawn_blocking(move || store.sequencer.read_after(last, PAGE)).await??;
        let n = page.len();
        for ev in page {
            send(socket, &ev.frame).await?;
            last = ev.seq;
        }
        if n < PAGE {
            return Ok(last);
        }
    }
}

async fn run(state: Arc<AppState>, cursor: Option<i64>, mut socket: WebSocket) -> anyhow::Result<()> {
    let mut live = state.store.sequencer.subscribe();
    let head = state.store.sequencer.durable_seq();
    // The oldest event a subscriber may still get: the first inside the backfill window.
    let oldest = match cursor {
        None => head + 1,
        Some(_) => {
            let cutoff = now_ms().saturating_sub(state.config.repo_backfill_limit_ms);
            let store = state.store.clone();
            let first = tokio::task::spawn_blocking(move || store.sequencer.first_since(cutoff)).await??;
            first.map_or(head + 1, |ev| ev.seq)
        }
    };
    let mut last = match cursor::start(cursor, oldest, head) {
        Err(future) => {
            send(&mut socket, &future.frame()).await?;
            let _ = socket.send(Message::Close(None)).await;
            return Ok(());
        }
        Ok(start) => {
            if let cursor::Start::Outdated(_) = start {
                send(&mut socket, &cursor::outdated_cursor_frame()).await?;
            }
            start.after()
        }
    };
    if cursor.is_some() {
        last = replay(&state, &mut socket, last).await?;
    }
    loop {
        tokio::select! {
            msg = live.recv() => match msg {
                Ok(ev) => {
                    if ev.seq <= last {
                        continue;
                    }
                    if ev.seq > last + 1 {
                        // Missed something (e.g. joined mid-group): fill from the log.
                        last = replay(&state, &mut socket, last).await?;
                        if ev.seq <= last {
                            continue;
                        }
                    }
                    send(&mut socket, &ev.frame).await?;
                    last = ev.seq;
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "firehose subscriber lagged; replaying from the log");
                    last = replay(&state, &mut socket, last).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}
