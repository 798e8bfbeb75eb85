//! XRPC plumbing shared by servers and clients: the error body `{error, message?}` with its
//! HTTP status, the NSID of an `/xrpc/` path, the `atproto-proxy` header, and the
//! `admin:<password>` basic auth that admin routes take (as the reference PDS's do).
//!
//! Statuses and names follow the reference `xrpc-server`: most "not found" conditions are
//! `InvalidRequest`-class 400s with a specific name (`RecordNotFound`, `RepoNotFound`, …).

use serde::{Deserialize, Serialize};

/// An XRPC error: the JSON body plus the HTTP status it is sent with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {error}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct XrpcError {
    /// Not part of the body.
    #[serde(skip, default = "default_status")]
    pub status: u16,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_status() -> u16 {
    500
}

/// The error name the reference gives a bare status.
pub fn status_name(status: u16) -> &'static str {
    match status {
        400 => "InvalidRequest",
        401 => "AuthenticationRequired",
        403 => "Forbidden",
        404 => "XRPCNotSupported",
        406 => "NotAcceptable",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        429 => "RateLimitExceeded",
        501 => "MethodNotImplemented",
        502 => "UpstreamFailure",
        503 => "NotEnoughResources",
        504 => "UpstreamTimeout",
        _ => "InternalServerError",
    }
}

impl XrpcError {
    pub fn new(status: u16, error: impl Into<String>, message: Option<String>) -> Self {
        XrpcError { status, error: error.into(), message }
    }

    fn named(status: u16, error: &str, message: impl Into<String>) -> Self {
        Self::new(status, error, Some(message.into()))
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::named(400, "InvalidRequest", message)
    }
    /// A 400 with a lexicon-specific name (`InvalidSwap`, `HandleNotAvailable`, …).
    pub fn invalid_request_named(error: &str, message: impl Into<String>) -> Self {
        Self::named(400, error, message)
    }
    pub fn auth_required(message: impl Into<String>) -> Self {
        Self::named(401, "AuthenticationRequired", message)
    }
    /// A 401 with a specific name (the reference uses e.g. `AuthMissing`).
    pub fn auth_required_named(error: &str, message: impl Into<String>) -> Self {
        Self::named(401, error, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::named(403, "Forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::named(400, "NotFound", message)
    }
    pub fn record_not_found(message: impl Into<String>) -> Self {
        Self::named(400, "RecordNotFound", message)
    }
    pub fn repo_not_found(message: impl Into<String>) -> Self {
        Self::named(400, "RepoNotFound", message)
    }
    pub fn expired_token(message: impl Into<String>) -> Self {
        Self::named(400, "ExpiredToken", message)
    }
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::named(400, "InvalidToken", message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::named(413, "PayloadTooLarge", message)
    }
    pub fn rate_limit_exceeded() -> Self {
        Self::named(429, "RateLimitExceeded", "Rate Limit Exceeded")
    }
    /// Carries no detail, like the reference: log the cause instead of sending it.
    pub fn internal_server_error() -> Self {
        Self::named(500, "InternalServerError", "Internal Server Error")
    }
    pub fn method_not_implemented() -> Self {
        Self::named(501, "MethodNotImplemented", "Method Not Implemented")
    }
    pub fn upstream_failure(message: impl Into<String>) -> Self {
        Self::named(502, "UpstreamFailure", message)
    }
    pub fn not_enough_resources(message: impl Into<String>) -> Self {
        Self::named(503, "NotEnoughResources", message)
    }
    pub fn upstream_timeout(message: impl Into<String>) -> Self {
        Self::named(504, "UpstreamTimeout", message)
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings serialize")
    }

    /// Reads an error response. A body that is not a JSON object with a string `error`
    /// (e.g. a proxy's HTML page) yields the status's generic name, without a message.
    pub fn from_response_body(status: u16, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            error: Option<String>,
            message: Option<String>,
        }
        let parsed: Option<Body> = serde_json::from_slice(body).ok();
        let (error, message) = match parsed {
            Some(Body { error: Some(e), message }) if !e.is_empty() => (e, message),
            Some(Body { message, .. }) => (status_name(status).to_string(), message),
            None => (status_name(status).to_string(), None),
        };
        XrpcError { status, error, message }
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for XrpcError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

/// The NSID of an XRPC path: `/xrpc/com.atproto.repo.getRecord[?…]` →
/// `com.atproto.repo.getRecord`. `None` for other paths or an implausible NSID (fewer than
/// three segments, characters outside `[A-Za-z0-9-]`, a name not starting with a letter).
pub fn nsid_from_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/xrpc/")?;
    let nsid = rest.split_once('?').map_or(rest, |(n, _)| n);
    let segments: Vec<&str> = nsid.split('.').collect();
    let name = *segments.last()?;
    let well_formed = segments.len() >= 3
        && nsid.len() <= 317
        && segments.iter().all(|s| !s.is_empty() && s.len() <= 63)
        && segments.iter().all(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
        && name.as_bytes()[0].is_ascii_alphabetic();
    well_formed.then_some(nsid)
}

/// The header naming the service a PDS should proxy a request to.
pub const PROXY_HEADER: &str = "atproto-proxy";

/// A parsed `atproto-proxy` value: `did:web:api.bsky.app#bsky_appview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTarget<'a> {
    pub did: &'a str,
    /// The service id without `#` (e.g. `bsky_appview`).
    pub service_id: &'a str,
}

impl ProxyTarget<'_> {
    /// The fragment to look up in the DID document's `service` list (`#bsky_appview`).
    pub fn fragment(&self) -> String {
        format!("#{}", self.service_id)
    }
}

/// Parses an `atproto-proxy` header: exactly one `#` between a DID and a non-empty service id.
pub fn parse_proxy_header(value: &str) -> Result<ProxyTarget<'_>, XrpcError> {
    let bad = |why: &str| XrpcError::invalid_request(format!("invalid {PROXY_HEADER} header: {why}"));
    let (did, service_id) = value.split_once('#').ok_or_else(|| bad("no service id"))?;
    if service_id.is_empty() || service_id.contains('#') {
        return Err(bad("expected did#service_id"));
    }
    if !service_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("invalid service id"));
    }
    let mut parts = did.splitn(3, ':');
    let plausible_did = parts.next() == Some("did")
        && parts.next().is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.next().is_some_and(|id| !id.is_empty() && !id.ends_with(':'))
        && did.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:%-".contains(&b));
    if !plausible_did {
        return Err(bad("invalid DID"));
    }
    Ok(ProxyTarget { did, service_id })
}

/// Whether an `Authorization` header value is `Basic` auth for user `admin` with `password`.
/// The password is compared in constant time (`subtle`), so a wrong guess takes as long
/// whatever prefix it shares with the right one.
pub fn is_admin_basic_auth(authorization: Option<&str>, password: &str) -> bool {
    use base64::Engine;
    use subtle::ConstantTimeEq;
    let Some(encoded) = authorization.and_then(|v| v.strip_prefix("Basic ")) else { return false };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    match raw.strip_prefix(b"admin:") {
        Some(given) => bool::from(given.ct_eq(password.as_bytes())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn admin_basic_auth_needs_the_user_and_the_exact_password() {
        use base64::Engine;
        let basic = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert!(super::is_admin_basic_auth(Some(&basic("admin:s3cret")), "s3cret"));
        for wrong in ["admin:s3cre", "admin:s3crett", "root:s3cret", "admin", "admin:", ":s3cret"] {
            assert!(!super::is_admin_basic_auth(Some(&basic(wrong)), "s3cret"), "{wrong}");
        }
        assert!(!super::is_admin_basic_auth(Some("Bearer admin:s3cret"), "s3cret"));
        assert!(!super::is_admin_basic_auth(Some("Basic !!!"), "s3cret"));
        assert!(!super::is_admin_basic_auth(None, "s3cret"));
    }

    use super::*;

    #[test]
    fn error_bodies_and_statuses() {
        let e = XrpcError::invalid_request("bad cursor");
        assert_eq!((e.status, e.error.as_str()), (400, "InvalidRequest"));
        assert_eq!(e.body(), br#"{"error":"InvalidRequest","message":"bad cursor"}"#);
        let bare = XrpcError::new(400, "InvalidSwap", None);
        assert_eq!(bare.body(), br#"{"error":"InvalidSwap"}"#);
        assert_eq!(bare.to_string(), "400 InvalidSwap");
        assert_eq!(e.to_string(), "400 InvalidRequest: bad cursor");

        let cases = [
            (XrpcError::auth_required("x"), 401, "AuthenticationRequired"),
            (XrpcError::auth_required_named("AuthMissing", "x"), 401, "AuthMissing"),
            (XrpcError::forbidden("x"), 403, "Forbidden"),
            (XrpcError::not_found("x"), 400, "NotFound"),
            (XrpcError::record_not_found("x"), 400, "RecordNotFound"),
            (XrpcError::repo_not_found("x"), 400, "RepoNotFound"),
            (XrpcError::expired_token("x"), 400, "ExpiredToken"),
            (XrpcError::invalid_token("x"), 400, "InvalidToken"),
            (XrpcError::payload_too_large("x"), 413, "PayloadTooLarge"),
            (XrpcError::rate_limit_exceeded(), 429, "RateLimitExceeded"),
            (XrpcError::internal_server_error(), 500, "InternalServerError"),
            (XrpcError::method_not_implemented(), 501, "MethodNotImplemented"),
            (XrpcError::upstream_failure("x"), 502, "UpstreamFailure"),
            (XrpcError::not_enough_resources("x"), 503, "NotEnoughResources"),
            (XrpcError::upstream_timeout("x"), 504, "UpstreamTimeout"),
        ];
        for (e, status, name) in cases {
            assert_eq!((e.status, e.error.as_str()), (status, name));
        }
    }

    #[test]
    fn reading_response_bodies() {
        let e = XrpcError::from_response_body(400, br#"{"error":"RecordNotFound","message":"gone"}"#);
        assert_eq!(e, XrpcError::new(400, "RecordNotFound", Some("gone".into())));
        let e = XrpcError::from_response_body(401, br#"{"message":"who?"}"#);
        assert_eq!(e, XrpcError::new(401, "AuthenticationRequired", Some("who?".into())));
        let e = XrpcError::from_response_body(502, b"<html>Bad Gateway</html>");
        assert_eq!(e, XrpcError::new(502, "UpstreamFailure", None));
        let e = XrpcError::from_response_body(418, b"");
        assert_eq!(e.error, "InternalServerError");
        let e = XrpcError::from_response_body(400, br#"{"error":"X","extra":1}"#);
        assert_eq!(e, XrpcError::new(400, "X", None));
    }

    #[test]
    fn nsids_from_paths() {
        assert_eq!(nsid_from_path("/xrpc/com.atproto.repo.getRecord"), Some("com.atproto.repo.getRecord"));
        assert_eq!(nsid_from_path("/xrpc/app.bsky.feed.getTimeline?limit=5"), Some("app.bsky.feed.getTimeline"));
        assert_eq!(nsid_from_path("/xrpc/_health"), None);
        assert_eq!(nsid_from_path("/xrpc/com.atproto"), None);
        assert_eq!(nsid_from_path("/xrpc/com.atproto.repo.getRecord/extra"), None);
        assert_eq!(nsid_from_path("/xrpc/com..atproto.x"), None);
        assert_eq!(nsid_from_path("/xrpc/com.atproto.repo.1get"), None);
        assert_eq!(nsid_from_path("/xrpc/"), None);
        assert_eq!(nsid_from_path("/.well-known/did.json"), None);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn into_response_uses_the_status() {
        use axum::response::IntoResponse;
        let resp = XrpcError::repo_not_found("no such repo").into_response();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(XrpcError::new(42, "Odd", None).into_response().status(), 500);
    }

    #[test]
    fn proxy_headers() {
        let t = parse_proxy_header("did:web:api.bsky.app#bsky_appview").unwrap();
        assert_eq!(t, ProxyTarget { did: "did:web:api.bsky.app", service_id: "bsky_appview" });
        assert_eq!(t.fragment(), "#bsky_appview");
        let t = parse_proxy_header("did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler").unwrap();
        assert_eq!(t.did, "did:plc:ar7c4by46qjdydhdevvrndac");
        for bad in [
            "did:web:api.bsky.app",
            "did:web:api.bsky.app#",
            "#bsky_appview",
            "did:web:api.bsky.app#a#b",
            "web:api.bsky.app#x",
            "did::x#y",
            "did:web:#x",
            "did:web:a b#x",
            "did:WEB:a#x",
        ] {
            let e = parse_proxy_header(bad).unwrap_err();
            assert_eq!((e.status, e.error.as_str()), (400, "InvalidRequest"), "{bad}");
        }
    }
}
