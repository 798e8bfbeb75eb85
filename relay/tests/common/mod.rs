//! Test scaffolding over real sockets on 127.0.0.1: a scripted upstream host (an axum
//! `subscribeRepos` server with `describeServer`), a PLC directory serving DID documents, a
//! relay on an ephemeral port with its RocksDB in a tempdir, and WebSocket consumers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atproto::did_doc::DidDocument;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use tokio::sync::Notify;

pub mod account;

pub const CORPUS: &str = "corpus/bsky-network-2026-07-04";

pub fn corpus_path(file: &str) -> Option<std::path::PathBuf> {
    atproto::fixtures::shared_path(&format!("{CORPUS}/{file}"))
}

/// The corpus frames: a zstd-compressed frame sequence.
pub fn corpus_frames() -> Option<Vec<Vec<u8>>> {
    let raw = zstd::decode_all(std::fs::File::open(corpus_path("frames.bin.zst")?).unwrap()).unwrap();
    Some(atproto::firehose::frame_file::split(&raw).unwrap())
}

pub fn corpus_did_docs() -> Option<HashMap<String, serde_json::Value>> {
    let raw = zstd::decode_all(std::fs::File::open(corpus_path("did_docs.json.zst")?).unwrap()).unwrap();
    Some(serde_json::from_slice(&raw).unwrap())
}

pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

// ---------------------------------------------------------------------------------------
// PLC directory

#[derive(Clone)]
pub struct TestPlc {
    pub docs: Arc<Mutex<HashMap<String, serde_json::Value>>>,
    /// DIDs answered with this HTTP status instead (410 for a tombstone).
    pub statuses: Arc<Mutex<HashMap<String, u16>>>,
    /// While set, every request gets 503 (a directory outage).
    pub outage: Arc<std::sync::atomic::AtomicBool>,
    pub addr: SocketAddr,
}

impl TestPlc {
    pub async fn start(docs: HashMap<String, serde_json::Value>) -> TestPlc {
        let docs = Arc::new(Mutex::new(docs));
        let statuses: Arc<Mutex<HashMap<String, u16>>> = Default::default();
        let outage: Arc<std::sync::atomic::AtomicBool> = Default::default();
        let (d, st, out) = (docs.clone(), statuses.clone(), outage.clone());
        let router = Router::new().route(
            "/{did}",
            get(move |Path(did): Path<String>| {
                let (d, st, out) = (d.clone(), st.clone(), out.clone());
                async move {
                    use axum::http::StatusCode;
                    if out.load(std::sync::atomic::Ordering::SeqCst) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
                    }
                    if let Some(code) = st.lock().unwrap().get(&did) {
                        return (StatusCode::from_u16(*code).unwrap(), "status").into_response();
                    }
                    match d.lock().unwrap().get(&did) {
                        Some(doc) => Json(doc.clone()).into_response(),
                        None => (StatusCode::NOT_FOUND, "not found").into_response(),
                    }
                }
            }),
        );
        let addr = serve(router).await;
        TestPlc { docs, statuses, outage, addr }
    }

    pub fn set_outage(&self, down: bool) {
        self.outage.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, did: &str, doc: &DidDocument) {
        self.docs.lock().unwrap().insert(did.into(), serde_json::to_value(doc).unwrap());
    }
}

// ---------------------------------------------------------------------------------------
// Upstream host

/// One step of a host's script.
#[derive(Clone, Debug)]
pub enum Step {
    /// A frame; `pos` orders it for cursors (the frame's seq, or the previous frame's seq
    /// for frames without one). Sent to a connection whose cursor is below `pos`.
    Frame { pos: i64, bytes: Vec<u8> },
    /// Close the connection the first time this step is reached.
    Disconnect { done: Arc<Mutex<bool>> },
}

#[derive(Clone)]
pub struct TestHost {
    pub script: Arc<Mutex<Vec<Step>>>,
    pub notify: Arc<Notify>,
    /// Cursors the relay connected with.
    pub cursors: Arc<Mutex<Vec<Option<i64>>>>,
    /// While set, connections are closed and new ones refused (503): the host is away.
    pub offline: Arc<std::sync::atomic::AtomicBool>,
    pub addr: SocketAddr,
}

#[derive(serde::Deserialize)]
struct CursorParam {
    cursor: Option<i64>,
}

#[derive(Clone)]
struct HostState {
    script: Arc<Mutex<Vec<Step>>>,
    notify: Arc<Notify>,
    cursors: Arc<Mutex<Vec<Option<i64>>>>,
    offline: Arc<std::sync::atomic::AtomicBool>,
}

impl TestHost {
    pub async fn start() -> TestHost {
        let st = HostState { script: Default::default(), notify: Default::default(), cursors: Default::default(), offline: Default::default() };
        let router = Router::new()
            .route(
                "/xrpc/com.atproto.server.describeServer",
                get(|| async { Json(serde_json::json!({"did": "did:web:testhost.example", "availableUserDomains": []})) }),
            )
            .route("/xrpc/com.atproto.sync.subscribeRepos", get(subscribe))
            .with_state(st.clone());
        let addr = serve(router).await;
        TestHost { script: st.script, notify: st.notify, cursors: st.cursors, offline: st.offline, addr }
    }

    /// Takes the host away (closing its connections, refusing new ones) or brings it back.
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn hostname(&self) -> String {
        self.addr.to_string()
    }

    /// Appends a frame with a seq (its cursor position).
    pub fn push(&self, seq: i64, bytes: Vec<u8>) {
        self.script.lock().unwrap().push(Step::Frame { pos: seq, bytes });
        self.notify.notify_waiters();
    }

    /// Appends a frame that must come through, and adds it to `valid`.
    pub fn push_valid(&self, seq: i64, bytes: Vec<u8>, valid: &mut Vec<Vec<u8>>) {
        self.push(seq, bytes.clone());
        valid.push(bytes);
    }

    /// Appends a frame without a usable seq (garbage, error frames), positioned at the last
    /// frame's seq: it is not replayed to a cursor at or after that seq.
    pub fn push_raw(&self, bytes: Vec<u8>) {
        let mut s = self.script.lock().unwrap();
        let pos = s.iter().rev().find_map(|st| match st {
            Step::Frame { pos, .. } => Some(*pos),
            _ => None,
        });
        s.push(Step::Frame { pos: pos.unwrap_or(0), bytes });
        drop(s);
        self.notify.notify_waiters();
    }

    pub fn push_disconnect(&self) {
        self.script.lock().unwrap().push(Step::Disconnect { done: Arc::new(Mutex::new(false)) });
        self.notify.notify_waiters();
    }
}

async fn subscribe(State(h): State<HostState>, Query(p): Query<CursorParam>, ws: WebSocketUpgrade) -> Response {
    if h.offline.load(std::sync::atomic::Ordering::SeqCst) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "away").into_response();
    }
    h.cursors.lock().unwrap().push(p.cursor);
    ws.on_upgrade(move |socket| play(h, socket, p.cursor))
}

async fn play(h: HostState, mut socket: WebSocket, cursor: Option<i64>) {
    let mut i = 0;
    loop {
        let notified = h.notify.notified();
        if h.offline.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let step = h.script.lock().unwrap().get(i).cloned();
        match step {
            Some(Step::Frame { pos, bytes }) => {
                i += 1;
                if cursor.is_none_or(|c| pos > c) {
                    // An error frame ({op: -1} header) ends the stream, as on a real host.
                    let is_error = bytes.starts_with(&[0xa1, 0x62, b'o', b'p', 0x20]);
                    if socket.send(Message::Binary(bytes.into())).await.is_err() || is_error {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
            }
            Some(Step::Disconnect { done }) => {
                i += 1;
                let first = !std::mem::replace(&mut *done.lock().unwrap(), true);
                if first {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
            None => {
                tokio::select! {
                    _ = notified => {}
                    msg = socket.recv() => if msg.is_none() { return },
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Relay and consumers

pub struct TestRelay {
    pub relay: Arc<relay::Relay>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

pub async fn start_relay(config: relay::Config) -> TestRelay {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay::Relay::open(config, dir.path()).unwrap();
    relay.start().unwrap();
    let addr = serve(relay::server::router(relay.clone())).await;
    TestRelay { relay, addr, dir }
}

/// A testbed config whose DID documents' PDS hosts (any name) map to `host`.
pub fn testbed_config(plc: &TestPlc, host: &TestHost) -> relay::Config {
    relay::Config {
        testbed: true,
        host_aliases: vec![("*".into(), host.hostname())],
        plc_url: plc.url(),
        limits: relay::Limits { enabled: false, ..Default::default() },
        ..Default::default()
    }
}

pub type Ws = tokio_tungstenite_axum::WebSocketStream<tokio_tungstenite_axum::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite_axum::connect_async(url).await.unwrap();
    ws
}

/// Reads messages until `n` arrived, the socket closed, or `timeout` passed with nothing new.
pub async fn read_frames(ws: &mut Ws, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
    use tokio_tungstenite_axum::tungstenite::Message as M;
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(timeout, ws.next()).await {
            Ok(Some(Ok(M::Binary(b)))) => out.push(b.to_vec()),
            Ok(Some(Ok(M::Text(t)))) => out.push(t.as_bytes().to_vec()),
            Ok(Some(Ok(M::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
            Ok(Some(Ok(_))) => {}
        }
    }
    out
}

/// A metric's value from `/metrics`, summed over the series whose labels contain `labels`.
pub async fn metric(addr: SocketAddr, name: &str, labels: &str) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name} ")) || (l.starts_with(&format!("{name}{{")) && l.contains(labels)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn wait_until<F: FnMut() -> bool>(timeout: Duration, mut f: F) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

// ---------------------------------------------------------------------------------------
// The relay binary

/// A `relay` process, killed (SIGKILL) when dropped, so a failing test leaves none behind.
pub struct RelayChild(std::process::Child);

impl RelayChild {
    /// `kill -9`, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `relay` binary on `port` over `data`, in testbed mode, crawling `host`.
pub fn spawn_relay(port: u16, data: &std::path::Path, plc: &TestPlc, host: &TestHost) -> RelayChild {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data")
        .arg(data)
        .args(["--testbed", "--no-limits", "--plc-url", &plc.url()])
        .args(["--host-alias", &format!("*={}", host.hostname())])
        .args(["--crawl", &format!("http://{}", host.hostname())])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    RelayChild(child)
}

pub async fn wait_healthy(port: u16) {
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{port}/_health")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("relay did not come up");
}
