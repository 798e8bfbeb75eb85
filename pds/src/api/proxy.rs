//! Forwarding to the AppView (or any service named by `atproto-proxy`), as the reference PDS
//! does: requests it does not serve itself go to the service with a service-auth JWT signed
//! by the caller's repository key (`iss` the account, `aud` the service DID, `lxm` the
//! method, one minute of validity).

use atproto::xrpc::{parse_proxy_header, XrpcError, PROXY_HEADER};
use axum::body::Body;
use axum::response::Response;

use super::server::{authed_account, signing_key};
use super::{Req, XrpcResult};
use crate::state::AppState;

/// Headers passed through in each direction.
const REQUEST_HEADERS: [&str; 4] = ["accept-language", "atproto-accept-labelers", "content-type", "accept"];
const RESPONSE_HEADERS: [&str; 4] = ["content-type", "content-language", "atproto-content-labelers", "atproto-repo-rev"];

/// The `(url, did, trusted)` of the target service: configured services are trusted; a URL
/// from some DID document is fetched through the SSRF-guarded client.
async fn target(s: &AppState, req: &Req) -> Result<(String, String, bool), XrpcError> {
    if let Some(h) = req.headers.get(PROXY_HEADER) {
        let value = h.to_str().map_err(|_| XrpcError::invalid_request("invalid atproto-proxy header"))?;
        let t = parse_proxy_header(value)?;
        for svc in [&s.config.bsky_app_view, &s.config.report_service].into_iter().flatten() {
            if svc.did == t.did {
                return Ok((svc.url.clone(), t.did.to_string(), true));
            }
        }
        let doc = s.resolver.resolve(t.did).await.map_err(|e| XrpcError::invalid_request(format!("could not resolve proxy did: {e}")))?;
        let url = doc.service_endpoint(&t.fragment(), None).ok_or_else(|| XrpcError::invalid_request("could not resolve proxy did service url"))?;
        let url = url.trim_end_matches('/').to_string();
        let allowed = url::Url::parse(&url).is_ok_and(|u| plc::resolver::guard::url_allowed(&u, s.config.dev_mode));
        if !allowed {
            return Err(XrpcError::invalid_request("proxy service endpoint is not a public http(s) URL"));
        }
        return Ok((url, t.did.to_string(), false));
    }
    match &s.config.bsky_app_view {
        Some(svc) => Ok((svc.url.clone(), svc.did.clone(), true)),
        None => Err(XrpcError::method_not_implemented()),
    }
}

pub async fn forward(s: &AppState, req: Req) -> XrpcResult {
    let (url, aud, trusted) = target(s, &req).await?;
    let http = if trusted { &s.http } else { &s.guarded_http };
    let mut out = http.request(req.method.clone(), format!("{url}/xrpc/{}", req.nsid));
    if let Some(q) = req.uri.query() {
        out = out.query(&url::form_urlencoded::parse(q.as_bytes()).into_owned().collect::<Vec<_>>());
    }
    for name in REQUEST_HEADERS {
        if let Some(v) = req.headers.get(name) {
            out = out.header(name, v);
        }
    }
    if crate::auth::bearer(&req.headers).is_some() {
        let access = s.auth.access(&req.headers)?;
        let account = authed_account(s, &access, false)?;
        let key = signing_key(&account)?;
        let jwt = crate::auth::service_jwt(&key, &account.did, &aud, Some(&req.nsid), crate::auth::now_secs() + 60);
        out = out.bearer_auth(jwt);
    }
    if !req.body.is_empty() {
        out = out.body(req.body.clone());
    }
    let resp = out.send().await.map_err(|e| {
        if e.is_timeout() {
            XrpcError::upstream_timeout("Upstream timed out")
        } else {
            XrpcError::upstream_failure(format!("Upstream request failed: {e}"))
        }
    })?;
    let mut builder = Response::builder().status(resp.status().as_u16());
    for name in RESPONSE_HEADERS {
        if let Some(v) = resp.headers().get(name) {
            builder = builder.header(name, v.as_bytes());
        }
    }
    let body = resp.bytes().await.map_err(|e| XrpcError::upstream_failure(format!("Upstream body: {e}")))?;
    builder.body(Body::from(body)).map_err(super::internal)
}
