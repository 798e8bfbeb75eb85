//! An emulated PDS host: one loopback port serving `subscribeRepos` (live, with a bounded
//! backlog for cursors), `describeServer`, `getRepo`, `getLatestCommit` and `listRepos` for
//! the accounts the generator keeps on it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use atproto::firehose::cursor;
use atproto::xrpc::XrpcError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use super::account::{self, Origin};
use super::store::SharedRepo;

/// An account as its host sees it.
pub struct HostAccount {
    pub did: String,
    pub repo: SharedRepo,
    /// What regenerates its starting records, for `getRepo`.
    pub origin: Origin,
}

pub struct Host {
    pub index: usize,
    pub addr: SocketAddr,
    backlog: Mutex<VecDeque<(i64, Bytes)>>,
    backlog_cap: usize,
    live: broadcast::Sender<(i64, Bytes)>,
    accounts: RwLock<Vec<HostAccount>>,
    by_did: RwLock<HashMap<String, usize>>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Host {
    /// Binds a host on `listener` and starts serving. Accounts are added afterwards (their
    /// DID documents need this host's URL).
    pub fn start(index: usize, listener: TcpListener, backlog_cap: usize) -> std::io::Result<Arc<Host>> {
        let addr = listener.local_addr()?;
        let (live, _) = broadcast::channel(4096);
        let host = Arc::new(Host {
            index,
            addr,
            backlog: Mutex::new(VecDeque::new()),
            backlog_cap,
            live,
            accounts: RwLock::new(Vec::new()),
            by_did: RwLock::new(HashMap::new()),
            server: Mutex::new(None),
        });
        let app = Router::new()
            .route("/xrpc/com.atproto.sync.subscribeRepos", get(subscribe))
            .route("/xrpc/com.atproto.server.describeServer", get(describe))
            .route("/xrpc/com.atproto.sync.getRepo", get(get_repo))
            .route("/xrpc/com.atproto.sync.getLatestCommit", get(latest_commit))
            .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
            .with_state(host.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("host {index}: {e}");
            }
        });
        *host.server.lock().expect("server lock") = Some(server);
        Ok(host)
    }

    /// Stops serving (open subscriptions end when their tasks notice).
    pub fn stop(&self) {
        if let Some(server) = self.server.lock().expect("server lock").take() {
            server.abort();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The host's service DID.
    pub fn did(&self) -> String {
        format!("did:web:{}", self.addr.to_string().replace(':', "%3A"))
    }

    pub fn add_account(&self, account: HostAccount) {
        let mut accounts = self.accounts.write().expect("accounts lock");
        self.by_did.write().expect("index lock").insert(account.did.clone(), accounts.len());
        accounts.push(account);
    }

    /// Publishes a frame with sequence number `seq` to live subscribers and the backlog.
    pub fn publish(&self, seq: i64, frame: Bytes) {
        let mut backlog = self.backlog.lock().expect("backlog lock");
        if self.backlog_cap > 0 {
            if backlog.len() == self.backlog_cap {
                backlog.pop_front();
            }
            backlog.push_back((seq, frame.clone()));
        }
        // No subscribers is fine.
        let _ = self.live.send((seq, frame));
    }

    fn account<T>(&self, did: &str, f: impl FnOnce(&HostAccount) -> T) -> Result<T, XrpcError> {
        let i =
            *self.by_did.read().expect("index lock").get(did).ok_or_else(|| XrpcError::invalid_request_named("RepoNotFound", format!("no repo for {did}")))?;
        Ok(f(&self.accounts.read().expect("accounts lock")[i]))
    }
}

#[derive(Deserialize)]
struct CursorParam {
    cursor: Option<i64>,
}

async fn subscribe(State(host): State<Arc<Host>>, Query(q): Query<CursorParam>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve_subscription(socket, host, q.cursor))
}

/// What a new subscription starts with, decided under the backlog lock.
enum Start {
    Future(cursor::FutureCursor),
    Replay { live: broadcast::Receiver<(i64, Bytes)>, frames: Vec<(i64, Bytes)>, outdated: bool },
}

fn start_subscription(host: &Host, cursor: Option<i64>) -> Start {
    // Subscribe under the backlog lock so nothing falls between the backlog and live frames.
    let backlog = host.backlog.lock().expect("backlog lock");
    let last = backlog.back().map_or(0, |(s, _)| *s).max(0) as u64;
    let oldest = backlog.front().map_or(last + 1, |(s, _)| (*s).max(0) as u64);
    let start = match cursor::start(cursor, oldest, last) {
        Ok(start) => start,
        Err(future) => return Start::Future(future),
    };
    let live = host.live.subscribe();
    let frames = match cursor {
        None => Vec::new(),
        Some(_) => backlog.iter().filter(|(s, _)| *s > start.after() as i64).cloned().collect(),
    };
    Start::Replay { live, frames, outdated: matches!(start, cursor::Start::Outdated(_)) }
}

async fn serve_subscription(mut socket: WebSocket, host: Arc<Host>, cursor: Option<i64>) {
    let (mut live, replay, outdated) = match start_subscription(&host, cursor) {
        Start::Future(future) => {
            let _ = socket.send(Message::Binary(future.frame().into())).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        Start::Replay { live, frames, outdated } => (live, frames, outdated),
    };
    if outdated && socket.send(Message::Binary(cursor::outdated_cursor_frame().into())).await.is_err() {
        return;
    }
    let mut last_sent = cursor.unwrap_or(i64::MIN);
    for (seq, frame) in replay {
        if socket.send(Message::Binary(frame)).await.is_err() {
            return;
        }
        last_sent = seq;
    }
    loop {
        tokio::select! {
            msg = live.recv() => match msg {
                Ok((seq, frame)) => {
                    if seq <= last_sent {
                        continue;
                    }
                    if socket.send(Message::Binary(frame)).await.is_err() {
                        return;
                    }
                    last_sent = seq;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = socket.send(Message::Binary(cursor::consumer_too_slow_frame().into())).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn describe(State(host): State<Arc<Host>>) -> Json<serde_json::Value> {
    Json(json!({
        "did": host.did(),
        "availableUserDomains": [format!(".h{}.test", host.index)],
        "inviteCodeRequired": false,
        "phoneVerificationRequired": false,
        "links": {},
    }))
}

#[derive(Deserialize)]
struct DidParam {
    did: String,
}

async fn get_repo(State(host): State<Arc<Host>>, Query(q): Query<DidParam>) -> Result<Response, XrpcError> {
    let (repo, origin) = host.account(&q.did, |a| (a.repo.clone(), a.origin.clone()))?;
    let car = tokio::task::spawn_blocking(move || account::repo_car(&repo, &origin, &q.did))
        .await
        .expect("export does not panic")
        .map_err(|e| XrpcError::new(500, "InternalServerError", Some(format!("exporting the repository: {e}"))))?;
    Ok(([(header::CONTENT_TYPE, "application/vnd.ipld.car")], car).into_response())
}

async fn latest_commit(State(host): State<Arc<Host>>, Query(q): Query<DidParam>) -> Result<Json<serde_json::Value>, XrpcError> {
    let head = host.account(&q.did, |a| a.repo.head())?;
    Ok(Json(json!({ "cid": head.cid.to_string(), "rev": head.rev })))
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_repos(State(host): State<Arc<Host>>, Query(q): Query<ListParams>) -> Result<Json<serde_json::Value>, XrpcError> {
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let start: usize = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| XrpcError::invalid_request(format!("bad cursor {c:?}")))?,
    };
    let accounts = host.accounts.read().expect("accounts lock");
    let end = (start + limit).min(accounts.len());
    let repos: Vec<_> = accounts
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let head = a.repo.head();
            json!({ "did": a.did, "head": head.cid.to_string(), "rev": head.rev, "active": true })
        })
        .collect();
    let mut body = json!({ "repos": repos });
    if end < accounts.len() {
        body["cursor"] = json!(end.to_string());
    }
    Ok(Json(body))
}
