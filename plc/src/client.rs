//! [`PlcClient`]: an HTTP client for a PLC directory (plc.directory or a Sonde `plc` server).
//!
//! It owns the directory's URL layout and status mapping: 404 is "not registered" (`None`),
//! 410 is "tombstoned" ([`ClientError::Tombstoned`]), and the directory's `{"message": ...}`
//! error bodies become [`ClientError::Rejected`] (400) or [`ClientError::Status`].

use std::time::Duration;

use atproto::did_doc::DidDocument;
use atproto::plc::{LogEntry, PlcState, SignedOp};
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::export::ExportEntry;

/// Largest response body read from a directory (an audit log is at most a few hundred KB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Why a PLC directory request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid PLC directory URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("PLC directory request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The DID has been deactivated (its log ends in a tombstone): HTTP 410.
    #[error("DID is tombstoned: {0}")]
    Tombstoned(String),
    /// The directory refused a submitted operation (HTTP 400) with this message.
    #[error("operation rejected by the PLC directory: {0}")]
    Rejected(String),
    /// Any other non-success status, with the directory's message if it sent one.
    #[error("PLC directory answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("PLC directory response larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("PLC directory sent an unreadable body: {0}")]
    Body(String),
}

/// The `{"message": ...}` error body of the PLC directory.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// A client of one PLC directory. Cheap to clone (shares its connection pool).
#[derive(Debug, Clone)]
pub struct PlcClient {
    base: String,
    http: reqwest::Client,
}

impl PlcClient {
    /// A client for the directory at `base_url` (e.g. `https://plc.directory` or
    /// `http://127.0.0.1:2582`), with a 10 s connect and 30 s request timeout.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("sonde-plc/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Self::with_http(base_url, http)
    }

    /// A client sharing an existing `reqwest::Client` (its timeouts and pool).
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BaseUrl { url: base_url.into(), reason: reason.into() };
        let parsed = url::Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("scheme must be http or https"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        Ok(PlcClient { base: base_url.trim_end_matches('/').to_string(), http })
    }

    /// The directory's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, did: &str, suffix: &str) -> String {
        format!("{}/{}{}", self.base, did, suffix)
    }

    /// `GET /{did}`: the DID document, or `None` if the DID is not registered.
    pub async fn get_document(&self, did: &str) -> Result<Option<DidDocument>, ClientError> {
        self.get_json(did, &self.url(did, "")).await
    }

    /// `GET /{did}/data`: the current PLC state, or `None` if not registered.
    pub async fn get_data(&self, did: &str) -> Result<Option<PlcState>, ClientError> {
        self.get_json(did, &self.url(did, "/data")).await
    }

    /// `GET /{did}/log`: the active operations, genesis first.
    pub async fn get_log(&self, did: &str) -> Result<Option<Vec<SignedOp>>, ClientError> {
        self.get_json(did, &self.url(did, "/log")).await
    }

    /// `GET /{did}/log/audit`: every operation (nullified ones included) with its CID,
    /// `nullified` flag and `createdAt`.
    pub async fn get_audit_log(&self, did: &str) -> Result<Option<Vec<LogEntry>>, ClientError> {
        self.get_json(did, &self.url(did, "/log/audit")).await
    }

    /// `GET /{did}/log/last`: the latest active operation.
    pub async fn get_last_op(&self, did: &str) -> Result<Option<SignedOp>, ClientError> {
        self.get_json(did, &self.url(did, "/log/last")).await
    }

    /// `POST /{did}`: submits a signed operation. A refusal is [`ClientError::Rejected`].
    pub async fn submit(&self, did: &str, op: &SignedOp) -> Result<(), ClientError> {
        let resp = self.http.post(self.url(did, "")).json(op).send().await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(error_from(did, resp).await)
    }

    /// `GET /_health`: the directory's version string.
    pub async fn health(&self) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Health {
            version: String,
        }
        let resp = self.http.get(format!("{}/_health", self.base)).send().await?;
        if !resp.status().is_success() {
            return Err(error_from("", resp).await);
        }
        Ok(parse::<Health>(resp).await?.version)
    }

    /// `GET /export?count=N[&after=SEQ]`: up to `count` log entries in acceptance order,
    /// after sequence number `after`. Only Sonde's directory numbers entries (`seq`).
    pub async fn export(&self, after: Option<u64>, count: usize) -> Result<Vec<ExportEntry>, ClientError> {
        let mut req = self.http.get(format!("{}/export", self.base)).query(&[("count", count.to_string())]);
        if let Some(after) = after {
            req = req.query(&[("after", after.to_string())]);
        }
        let resp = req.send().await?;
        if !resp.status().is_success() {
            return Err(error_from("", resp).await);
        }
        let body = read_capped(resp).await?;
        body.split(|&b| b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| serde_json::from_slice(line).map_err(|e| ClientError::Body(e.to_string())))
            .collect()
    }

    async fn get_json<T: DeserializeOwned>(&self, did: &str, url: &str) -> Result<Option<T>, ClientError> {
        let resp = self.http.get(url).send().await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(parse(resp).await?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(error_from(did, resp).await),
        }
    }
}

async fn read_capped(mut resp: Response) -> Result<Vec<u8>, ClientError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ClientError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ClientError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn parse<T: DeserializeOwned>(resp: Response) -> Result<T, ClientError> {
    let body = read_capped(resp).await?;
    serde_json::from_slice(&body).map_err(|e| ClientError::Body(e.to_string()))
}

/// Maps a non-success response to a typed error, using the `{message}` body if present.
async fn error_from(did: &str, resp: Response) -> ClientError {
    let status = resp.status();
    let message = match read_capped(resp).await {
        Ok(body) => serde_json::from_slice::<ErrorBody>(&body).map(|b| b.message).unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned()),
        Err(e) => e.to_string(),
    };
    match status {
        StatusCode::GONE => ClientError::Tombstoned(did.to_string()),
        StatusCode::BAD_REQUEST => ClientError::Rejected(message),
        s => ClientError::Status { status: s.as_u16(), message },
    }
}
