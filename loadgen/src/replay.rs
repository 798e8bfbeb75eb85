//! `loadgen replay`: serve a frame file as an emulated host's `subscribeRepos`.
//!
//! Every connection gets the file's frames, unchanged byte for byte, starting after `cursor`
//! (frames whose `seq` is at most the cursor are skipped; a cursor beyond the last seq gets a
//! `FutureCursor` error frame), paced by the frames' own `time` fields at 1× or N× speed, or
//! as fast as the socket takes them. After the last frame the connection stays open, idle,
//! like a live host with nothing new to say, until the client leaves.
//!
//! For testing consumers, a host can drop every Nth frame of the file (counting from 1), so
//! the same file served twice makes two hosts whose difference is known exactly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use atproto::firehose::{cursor, SubscribeReposFrame};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::subscribe::SUBSCRIBE_REPOS;

/// How fast frames are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speed {
    /// As fast as the connection takes them.
    Max,
    /// The recorded pace divided by this factor (1.0 is real time).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let n: f64 = s.trim_end_matches(['x', 'X']).parse().map_err(|_| format!("{s:?}: use 1x, 10x, 0.5x or max"))?;
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("{s:?}: the speed factor must be positive"));
        }
        Ok(Speed::Factor(n))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayOptions {
    pub speed: Speed,
    /// Drop the frames whose 1-based position in the file is a multiple of this.
    pub drop_every: Option<u64>,
}

/// One frame of the file with what pacing and cursors need.
#[derive(Debug, Clone)]
struct Frame {
    bytes: Bytes,
    seq: Option<i64>,
    time_ms: Option<i64>,
}

struct Shared {
    frames: Vec<Frame>,
    max_seq: Option<i64>,
    opts: ReplayOptions,
}

/// A running replay host.
pub struct ReplayServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ReplayServer {
    /// Serves `frames` on `listener` until [`ReplayServer::shutdown`].
    pub fn start(listener: TcpListener, frames: Vec<Vec<u8>>, opts: ReplayOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let frames: Vec<Frame> = frames
            .into_iter()
            .map(|bytes| {
                let decoded = SubscribeReposFrame::decode(&bytes).ok();
                let seq = decoded.as_ref().and_then(|f| f.seq());
                let time_ms = decoded.as_ref().and_then(frame_time).and_then(|t| crate::util::rfc3339_millis(&t));
                Frame { bytes: bytes.into(), seq, time_ms }
            })
            .collect();
        let max_seq = frames.iter().filter_map(|f| f.seq).max();
        let shared = Arc::new(Shared { frames, max_seq, opts });
        let app = Router::new().route(SUBSCRIBE_REPOS, get(subscribe)).with_state(shared);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(ReplayServer { addr, shutdown: Some(tx), task })
    }

    /// The base URL clients connect to (`ws://addr`).
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops accepting, waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Open subscriptions hold graceful shutdown; don't wait for them forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
        self.task.abort();
    }
}

/// The `time` of a message frame, if it has one.
pub fn frame_time(frame: &SubscribeReposFrame) -> Option<String> {
    Some(match frame {
        SubscribeReposFrame::Commit(e) => e.time.clone(),
        SubscribeReposFrame::Sync(e) => e.time.clone(),
        SubscribeReposFrame::Identity(e) => e.time.clone(),
        SubscribeReposFrame::Account(e) => e.time.clone(),
        _ => return None,
    })
}

#[derive(Deserialize)]
struct Params {
    cursor: Option<i64>,
}

async fn subscribe(State(shared): State<Arc<Shared>>, Query(params): Query<Params>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve_connection(socket, shared, params.cursor))
}

async fn serve_connection(mut socket: WebSocket, shared: Arc<Shared>, cursor: Option<i64>) {
    if let Some(max) = shared.max_seq {
        // The file holds everything from its first frame: a cursor is either ahead of it or not.
        if let Err(future) = cursor::start(cursor, 0, max.max(0) as u64) {
            let _ = socket.send(Message::Binary(future.frame().into())).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    }
    let start = tokio::time::Instant::now();
    let mut first_time: Option<i64> = None;
    for (i, frame) in shared.frames.iter().enumerate() {
        if shared.opts.drop_every.is_some_and(|n| n > 0 && (i as u64 + 1).is_multiple_of(n)) {
            continue;
        }
        if let (Some(cursor), Some(seq)) = (cursor, frame.seq) {
            if seq <= cursor {
                continue;
            }
        }
        if let (Speed::Factor(f), Some(t)) = (shared.opts.speed, frame.time_ms) {
            let t0 = *first_time.get_or_insert(t);
            let offset = Duration::from_secs_f64(((t - t0).max(0) as f64 / 1000.0) / f);
            tokio::time::sleep_until(start + offset).await;
        }
        if socket.send(Message::Binary(frame.bytes.clone())).await.is_err() {
            return;
        }
    }
    // Stay open like an idle live host; answer pings until the client goes away.
    while let Some(Ok(msg)) = socket.recv().await {
        if matches!(msg, Message::Close(_)) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse() {
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert_eq!("10x".parse::<Speed>().unwrap(), Speed::Factor(10.0));
        assert_eq!("1".parse::<Speed>().unwrap(), Speed::Factor(1.0));
        assert!("0x".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }
}
