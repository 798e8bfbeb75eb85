//! A typed XRPC client: the one way Sonde's programs call a PDS, a relay or any other XRPC
//! service over HTTP (the operator CLIs, the PDS's crawler notification, loadgen's crawl
//! requests, and the admin routes beside XRPC).
//!
//! Inputs and outputs are serde types, the lexicon's shapes, never JSON walked by hand; the
//! few methods the programs share have their types in [`methods`]. A refusal comes back as the
//! service's own XRPC error body ([`Error::Xrpc`]), so a caller can tell `RepoNotFound` from
//! `AuthRequired`; a failure to reach the service keeps the `reqwest` error (and with it, say,
//! an SSRF guard's refusal in its source chain).

pub mod methods;

use atproto::xrpc::XrpcError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (a session or service-auth JWT).
    Bearer(String),
    /// HTTP basic auth `admin:<password>`, as admin routes take it.
    Admin(String),
}

impl std::fmt::Debug for Auth {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Bearer(_) => "Bearer(..)",
            Auth::Admin(_) => "Admin(..)",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service could not be reached, or the connection failed.
    #[error("{method}: {source}")]
    Transport { method: String, source: reqwest::Error },
    /// The service answered with an error.
    #[error("{method}: {error}")]
    Xrpc { method: String, error: XrpcError },
    /// The service answered success with a body that is not the method's output.
    #[error("{method}: unexpected answer: {why}")]
    Decode { method: String, why: String },
}

impl Error {
    /// The service's XRPC error, when it answered with one.
    pub fn xrpc(&self) -> Option<&XrpcError> {
        match self {
            Error::Xrpc { error, .. } => Some(error),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An XRPC service at a base URL (`https://pds.example.com`), with optional credentials.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    auth: Option<Auth>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client::with_http(base, reqwest::Client::new())
    }

    /// Over a given HTTP client (an SSRF-guarded one, or one with timeouts).
    pub fn with_http(base: &str, http: reqwest::Client) -> Client {
        Client { base: base.trim_end_matches('/').to_string(), http, auth: None }
    }

    /// The same service, authenticated with `auth`.
    pub fn with_auth(&self, auth: Auth) -> Client {
        Client { auth: Some(auth), ..self.clone() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /xrpc/<nsid>` with `params` as the query string.
    pub async fn query<P: Serialize + ?Sized, O: DeserializeOwned>(&self, nsid: &str, params: &P) -> Result<O> {
        let req = self.http.get(format!("{}/xrpc/{nsid}", self.base)).query(params);
        self.send(nsid, req).await
    }

    /// `POST /xrpc/<nsid>` with `input` as the JSON body.
    pub async fn procedure<I: Serialize + ?Sized, O: DeserializeOwned>(&self, nsid: &str, input: &I) -> Result<O> {
        let req = self.http.post(format!("{}/xrpc/{nsid}", self.base)).json(input);
        self.send(nsid, req).await
    }

    /// `POST /xrpc/<nsid>` with raw `body` bytes of `content_type` (`uploadBlob`).
    pub async fn procedure_bytes<O: DeserializeOwned>(&self, nsid: &str, content_type: &str, body: Vec<u8>) -> Result<O> {
        let req = self.http.post(format!("{}/xrpc/{nsid}", self.base)).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        self.send(nsid, req).await
    }

    /// `POST <path>` with a JSON body, for a service's routes beside XRPC (`/admin/backup`).
    pub async fn post<I: Serialize + ?Sized, O: DeserializeOwned>(&self, path: &str, input: &I) -> Result<O> {
        let req = self.http.post(format!("{}{path}", self.base)).json(input);
        self.send(path, req).await
    }

    async fn send<O: DeserializeOwned>(&self, method: &str, mut req: reqwest::RequestBuilder) -> Result<O> {
        req = match &self.auth {
            Some(Auth::Bearer(token)) => req.bearer_auth(token),
            Some(Auth::Admin(password)) => req.basic_auth("admin", Some(password)),
            None => req,
        };
        let transport = |source| Error::Transport { method: method.to_string(), source };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(Error::Xrpc { method: method.to_string(), error: XrpcError::from_response_body(status.as_u16(), &body) });
        }
        // A procedure without output answers with an empty body: read it as `{}`.
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &body };
        serde_json::from_slice(body).map_err(|e| Error::Decode { method: method.to_string(), why: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn typed_answers_errors_and_credentials() {
        let router = axum::Router::new()
            .route(
                "/xrpc/com.atproto.server.describeServer",
                get(|| async { axum::Json(serde_json::json!({"did": "did:web:pds.test", "availableUserDomains": [".test"], "inviteCodeRequired": true})) }),
            )
            .route(
                "/xrpc/com.atproto.sync.requestCrawl",
                post(|headers: axum::http::HeaderMap| async move {
                    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                        Some("Bearer t0ken") => (axum::http::StatusCode::OK, String::new()),
                        _ => (axum::http::StatusCode::UNAUTHORIZED, r#"{"error":"AuthRequired","message":"no"}"#.into()),
                    }
                }),
            )
            .route("/xrpc/odd.answer", get(|| async { "not json" }));
        let client = Client::new(&serve(router).await);
        let described: methods::DescribeServerOutput = client.query("com.atproto.server.describeServer", &()).await.unwrap();
        assert_eq!((described.did.as_str(), described.invite_code_required), ("did:web:pds.test", true));

        let crawl = methods::RequestCrawl { hostname: "pds.test".into() };
        let refused = client.procedure::<_, methods::Empty>("com.atproto.sync.requestCrawl", &crawl).await.unwrap_err();
        assert_eq!(refused.xrpc().map(|e| e.error.as_str()), Some("AuthRequired"));
        assert_eq!(refused.to_string(), "com.atproto.sync.requestCrawl: 401 AuthRequired: no");
        let authed = client.with_auth(Auth::Bearer("t0ken".into()));
        authed.procedure::<_, methods::Empty>("com.atproto.sync.requestCrawl", &crawl).await.unwrap();
        assert_eq!(format!("{:?}", authed), format!("{:?}", authed).replace("t0ken", ""), "no secret in Debug");

        assert!(matches!(client.query::<_, methods::Empty>("odd.answer", &()).await, Err(Error::Decode { .. })));
        let gone = Client::new("http://127.0.0.1:1").query::<_, methods::Empty>("com.atproto.server.describeServer", &()).await;
        assert!(matches!(gone, Err(Error::Transport { .. })));
    }
}
