//! Identity: `resolveHandle`, `updateHandle` (a PLC update signed with the PDS rotation key,
//! then `#identity`), `/.well-known/atproto-did` for hosted handles and
//! `/.well-known/did.json` for the service's `did:web`.

use std::sync::Arc;

use atproto::xrpc::XrpcError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rocksdb::WriteBatch;
use serde::Deserialize;
use serde_json::json;

use super::server::{authed_account, check_new_handle, identity_event};
use super::{internal, ok_empty, ok_json, Req, XrpcResult};
use crate::state::AppState;

pub async fn resolve_handle(s: &AppState, req: &Req) -> XrpcResult {
    let handle = req.params.required("handle")?.to_ascii_lowercase();
    if let Some(did) = s.store.did_for_handle(&handle).map_err(internal)? {
        return ok_json(json!({"did": did}));
    }
    match s.resolver.resolve_handle(&handle).await {
        Ok(did) => ok_json(json!({"did": did.as_str()})),
        Err(_) => Err(XrpcError::invalid_request_named("HandleNotFound", "Unable to resolve handle")),
    }
}

#[derive(Deserialize)]
struct UpdateHandleInput {
    handle: String,
}

pub async fn update_handle(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let input: UpdateHandleInput = req.json()?;
    let _guard = s.account_lock.lock().await;
    let wanted = input.handle.to_ascii_lowercase();
    let handle = if wanted == account.handle { wanted } else { check_new_handle(s, &input.handle)? };
    // Update the DID document: the latest op, with the new handle.
    let did = account.did.clone();
    let upstream = |e: plc::ClientError| XrpcError::upstream_failure(format!("PLC directory: {e}"));
    let last = s.plc.get_last_op(&did).await.map_err(upstream)?.ok_or_else(|| XrpcError::upstream_failure("DID not found in the PLC directory"))?;
    let mut state = s.plc.get_data(&did).await.map_err(upstream)?.ok_or_else(|| XrpcError::upstream_failure("DID not found in the PLC directory"))?;
    if state.handle() != Some(handle.as_str()) {
        state.set_handle(&handle);
        let op = atproto::plc::update(&last, state, &s.config.rotation_key);
        s.plc.submit(&did, &op).await.map_err(upstream)?;
    }
    let mut updated = account.clone();
    updated.handle = handle.clone();
    let mut batch = WriteBatch::default();
    s.store.put_account(&mut batch, &updated, Some(&account));
    s.store.commit(batch, vec![identity_event(&did, Some(handle.clone()))]).await?;
    tracing::info!(%did, %handle, "handle updated");
    ok_empty()
}

/// The DID of the hosted handle named by the `Host` header, as plain text.
pub async fn well_known_atproto_did(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    match s.store.did_for_handle(&host) {
        Ok(Some(did)) => ([(http::header::CONTENT_TYPE, "text/plain")], did).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "User not found").into_response(),
        Err(e) => internal(e).into_response(),
    }
}

/// The service's own `did:web` document.
pub async fn well_known_did_json(State(s): State<Arc<AppState>>) -> Response {
    Json(json!({
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": s.config.service_did(),
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": s.config.public_url(),
        }],
    }))
    .into_response()
}
