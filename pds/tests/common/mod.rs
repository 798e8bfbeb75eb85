//! Test harness: an in-process PLC directory and PDS on loopback ephemeral ports, and a small
//! XRPC client.
#![allow(dead_code)]

pub mod methods;

use std::collections::HashMap;

use atproto::firehose::SubscribeReposFrame;
use futures::StreamExt;
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "admin-secret";

pub fn rotation_hex() -> String {
    let key = atproto::keys::Keypair::generate(atproto::keys::KeyType::K256);
    key.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Env {
    pub plc: plc::PlcServer,
    pub pds: pds::Server,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

pub fn vars(dir: &std::path::Path, port: u16, plc_url: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut v: HashMap<String, String> = [
        ("PDS_HOSTNAME", format!("localhost:{port}")),
        ("PDS_PORT", port.to_string()),
        ("PDS_DATA_DIRECTORY", dir.join("pds").display().to_string()),
        ("PDS_BLOBSTORE_DISK_LOCATION", dir.join("blobs").display().to_string()),
        ("PDS_JWT_SECRET", "jwt-secret-of-the-tests-32-bytes".into()),
        ("PDS_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", rotation_hex()),
        ("PDS_DID_PLC_URL", plc_url.into()),
        ("PDS_SERVICE_HANDLE_DOMAINS", ".test".into()),
        ("PDS_DEV_MODE", "true".into()),
        ("PDS_BLOB_UPLOAD_LIMIT", "100000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, val) in extra {
        v.insert(k.to_string(), val.to_string());
    }
    v
}

/// A free port on 127.0.0.1 (for a PDS whose DID documents must name its port up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the `pds` binary with exactly `vars` and `RUST_LOG=rust_log`, its log appended to
/// `log`, and waits for its health check. The child is killed when dropped.
pub async fn launch(vars: &std::collections::HashMap<String, String>, log: &std::path::Path, rust_log: &str) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pds"))
        .args(["serve", "--bind", "127.0.0.1"])
        .env_clear()
        .envs(vars)
        .env("RUST_LOG", rust_log)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/_health", vars["PDS_PORT"]);
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("pds did not start; see its log");
}

/// The `pds` binary on a free port with open sign-up, beside an in-process PLC directory.
pub struct Binary {
    pub dir: tempfile::TempDir,
    pub plc: plc::PlcServer,
    pub vars: HashMap<String, String>,
    pub log: std::path::PathBuf,
    pub client: Client,
    pub child: tokio::process::Child,
}

/// Starts a [`Binary`] logging at `rust_log`.
pub async fn binary(rust_log: &str) -> Binary {
    let dir = tempfile::tempdir().unwrap();
    let plc = start_plc(dir.path()).await;
    let port = free_port();
    let vars = vars(dir.path(), port, &plc.url(), &[("PDS_INVITE_REQUIRED", "false")]);
    let log = dir.path().join("pds.log");
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let child = launch(&vars, &log, rust_log).await;
    Binary { dir, plc, vars, log, client, child }
}

pub async fn start_plc(dir: &std::path::Path) -> plc::PlcServer {
    plc::ServerBuilder::new(dir.join("plc")).metrics_handle(pds::state::metrics_handle()).bind("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

pub async fn start(extra: &[(&str, &str)]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let plc = start_plc(dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = pds::Config::from_vars(&vars(dir.path(), port, &plc.url(), extra)).unwrap();
    let pds = pds::spawn(config, listener).await.unwrap();
    let client = Client::new(&pds.url());
    Env { plc, pds, client, dir }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

/// A response: status and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Resp {
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected success, got {:?}", self.body);
        self.body
    }
    #[track_caller]
    pub fn err(self, status: u16, name: &str) -> Resp {
        assert_eq!((self.status, self.body["error"].as_str().unwrap_or("")), (status, name), "{:?}", self.body);
        self
    }
}

#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Admin(&'a str),
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client { base: base.into(), http: reqwest::Client::new() }
    }

    fn auth(&self, req: reqwest::RequestBuilder, auth: Auth) -> reqwest::RequestBuilder {
        match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Admin(p) => req.basic_auth("admin", Some(p)),
        }
    }

    pub async fn post(&self, nsid: &str, auth: Auth<'_>, body: Value) -> Resp {
        let req = self.auth(self.http.post(format!("{}/xrpc/{nsid}", self.base)).json(&body), auth);
        to_resp(req.send().await.unwrap()).await
    }

    pub async fn get(&self, nsid: &str, auth: Auth<'_>, query: &[(&str, &str)]) -> Resp {
        let req = self.auth(self.http.get(format!("{}/xrpc/{nsid}", self.base)).query(query), auth);
        to_resp(req.send().await.unwrap()).await
    }

    /// A plain GET of a non-XRPC path (`/metrics`, `/.well-known/…`), optionally with a `Host`.
    pub async fn get_path(&self, path: &str, host: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(host) = host {
            req = req.header("host", host);
        }
        req.send().await.unwrap()
    }

    pub async fn get_bytes(&self, nsid: &str, query: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let resp = self.http.get(format!("{}/xrpc/{nsid}", self.base)).query(query).send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    pub async fn invite(&self, uses: u32) -> String {
        self.post("com.atproto.server.createInviteCode", Auth::Admin(ADMIN_PASSWORD), json!({"useCount": uses})).await.ok()["code"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates `name.test` and returns the createAccount output.
    pub async fn account(&self, name: &str, invite: Option<&str>) -> Value {
        let mut body = json!({"handle": format!("{name}.test"), "email": format!("{name}@example.com"), "password": format!("{name}-pw")});
        if let Some(c) = invite {
            body["inviteCode"] = c.into();
        }
        self.post("com.atproto.server.createAccount", Auth::None, body).await.ok()
    }

    /// A post written with `token`, whatever the answer: its status.
    pub async fn post_text_status(&self, token: &str, did: &str) -> u16 {
        let body = json!({"repo": did, "collection": "app.bsky.feed.post", "record": {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-11-21T12:00:00.000Z"}});
        self.post("com.atproto.repo.createRecord", Auth::Bearer(token), body).await.status
    }

    pub async fn post_text(&self, token: &str, did: &str, text: &str) -> Value {
        self.post(
            "com.atproto.repo.createRecord",
            Auth::Bearer(token),
            json!({"repo": did, "collection": "app.bsky.feed.post", "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-21T12:00:00.000Z"}}),
        )
        .await
        .ok()
    }
}

async fn to_resp(resp: reqwest::Response) -> Resp {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    Resp { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// Reads firehose frames from `cursor` until `idle_ms` pass without one.
pub async fn read_firehose(base: &str, cursor: Option<i64>, idle_ms: u64) -> Vec<SubscribeReposFrame> {
    let ws = base.replacen("http", "ws", 1);
    let url = match cursor {
        Some(c) => format!("{ws}/xrpc/com.atproto.sync.subscribeRepos?cursor={c}"),
        None => format!("{ws}/xrpc/com.atproto.sync.subscribeRepos"),
    };
    let (mut stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(idle_ms), stream.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b)))) => out.push(SubscribeReposFrame::decode(&b).unwrap()),
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    out
}

/// Fetches `did`'s repository with getRepo and checks it: the commit signature against the
/// key in `did_doc`, and the MST root recomputed from the records. Returns the records.
pub async fn verify_repo(client: &Client, did: &str, key: &atproto::keys::PublicKey) -> Vec<(String, atproto::Cid)> {
    use atproto::blockstore::MemoryBlockStore;
    let (status, headers, car) = client.get_bytes("com.atproto.sync.getRepo", &[("did", did)]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/vnd.ipld.car");
    let mut repo = atproto::repo::Repo::from_car(&car, Default::default()).unwrap();
    repo.commit.verify(key).unwrap();
    assert_eq!(repo.did(), did);
    let records = repo.records().unwrap();
    let mut fresh = atproto::mst::Mst::new(MemoryBlockStore::new());
    for (path, cid) in &records {
        fresh.insert(path, *cid).unwrap();
        // Every record block is in the CAR.
        assert!(repo.record(path).unwrap().is_some());
    }
    assert_eq!(fresh.root(), repo.commit.data, "MST root recomputed from the records");
    records
}

pub fn signing_key(did_doc: &Value) -> atproto::keys::PublicKey {
    let doc: atproto::did_doc::DidDocument = serde_json::from_value(did_doc.clone()).unwrap();
    doc.signing_key().unwrap()
}
