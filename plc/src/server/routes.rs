//! The PLC directory's HTTP API, shaped like plc.directory: routes, status codes and the
//! `{"message": ...}` error body.

use std::sync::Arc;

use atproto::plc::{PlcError, SignedOp};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::store::{DidStatus, Directory, StoreError, SubmitError};

/// An error answer: a status and the directory's `{"message"}` body.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    fn not_registered(did: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("DID not registered: {did}"))
    }
    fn not_available(did: &str) -> Self {
        Self::new(StatusCode::GONE, format!("DID not available: {did}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::DiskFull(full) = &e {
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("The directory is out of disk space, so nothing was stored; try again later ({full})"));
        }
        tracing::error!(error = %e, "directory store failure");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Runs a blocking store call off the async runtime.
async fn blocking<T: Send + 'static>(dir: &Arc<Directory>, f: impl FnOnce(&Directory) -> T + Send + 'static) -> ApiResult<T> {
    let dir = dir.clone();
    tokio::task::spawn_blocking(move || f(&dir)).await.map_err(|e| {
        tracing::error!(error = %e, "store task failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    })
}

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /{did}`: the DID document (`application/did+ld+json`).
pub(crate) async fn document(State(st): State<AppState>, Path(did): Path<String>) -> ApiResult<Response> {
    let state = active_state(&st, &did).await?;
    let doc = state.to_did_document(&did);
    let body = serde_json::to_vec(&doc).expect("DID documents serialise");
    Ok(([(header::CONTENT_TYPE, "application/did+ld+json")], body).into_response())
}

/// `GET /{did}/data`: the current PLC state with the DID.
pub(crate) async fn data(State(st): State<AppState>, Path(did): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let state = active_state(&st, &did).await?;
    let mut value = serde_json::to_value(&state).expect("PLC state serialises");
    value.as_object_mut().expect("PLC state is an object").insert("did".into(), did.into());
    Ok(Json(value))
}

async fn active_state(st: &AppState, did: &str) -> ApiResult<atproto::plc::PlcState> {
    let d = did.to_string();
    match blocking(&st.dir, move |dir| dir.status(&d)).await?? {
        DidStatus::Active(state) => Ok(state),
        DidStatus::Tombstoned => Err(ApiError::not_available(did)),
        DidStatus::NotFound => Err(ApiError::not_registered(did)),
    }
}

/// `GET /{did}/log`: the active operations.
pub(crate) async fn log(State(st): State<AppState>, Path(did): Path<String>) -> ApiResult<Json<Vec<SignedOp>>> {
    let d = did.clone();
    let ops = blocking(&st.dir, move |dir| dir.active_log(&d)).await??;
    ops.map(Json).ok_or_else(|| ApiError::not_registered(&did))
}

/// `GET /{did}/log/audit`: every entry, nullified ones included.
pub(crate) async fn audit(State(st): State<AppState>, Path(did): Path<String>) -> ApiResult<Json<Vec<atproto::plc::LogEntry>>> {
    let d = did.clone();
    let log = blocking(&st.dir, move |dir| dir.audit_log(&d)).await??;
    log.map(Json).ok_or_else(|| ApiError::not_registered(&did))
}

/// `GET /{did}/log/last`: the latest active operation.
pub(crate) async fn last(State(st): State<AppState>, Path(did): Path<String>) -> ApiResult<Json<SignedOp>> {
    let d = did.clone();
    let op = blocking(&st.dir, move |dir| dir.last_op(&d)).await??;
    op.map(Json).ok_or_else(|| ApiError::not_registered(&did))
}

/// `POST /{did}`: validates and stores a signed operation.
pub(crate) async fn submit(State(st): State<AppState>, Path(did): Path<String>, body: Result<Bytes, BytesRejection>) -> ApiResult<&'static str> {
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let op: SignedOp = serde_json::from_slice(&body).map_err(|e| {
        metrics::counter!("plc_operations_total", "result" => "rejected").increment(1);
        ApiError::new(StatusCode::BAD_REQUEST, format!("Invalid operation: {e}"))
    })?;
    let d = did.clone();
    match blocking(&st.dir, move |dir| dir.submit(&d, op)).await? {
        Ok(accepted) => {
            metrics::counter!("plc_operations_total", "result" => "accepted").increment(1);
            if !accepted.nullified.is_empty() {
                metrics::counter!("plc_nullified_operations_total").increment(accepted.nullified.len() as u64);
            }
            Ok("OK")
        }
        Err(SubmitError::Store(e)) => Err(e.into()),
        Err(e) => {
            metrics::counter!("plc_operations_total", "result" => "rejected").increment(1);
            tracing::info!(did, error = %e, "rejected PLC operation");
            Err(ApiError::new(StatusCode::BAD_REQUEST, rejection_message(&e)))
        }
    }
}

fn rejection_message(e: &SubmitError) -> String {
    match e {
        SubmitError::Invalid(PlcError::InvalidSignature) => "Invalid signature on op".into(),
        SubmitError::Invalid(PlcError::LateRecovery { .. }) => "Recovery operation occurred outside of the allowed 72 hr recovery window".into(),
        SubmitError::Invalid(PlcError::Misordered(why)) => {
            format!("Operations not correctly ordered: {why}")
        }
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    count: Option<usize>,
    after: Option<u64>,
}

/// `GET /export?count=N&after=SEQ`: JSON lines in acceptance order (max 1000 per page).
pub(crate) async fn export(State(st): State<AppState>, query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let count = q.count.unwrap_or(10).clamp(1, 1000);
    let after = q.after.unwrap_or(0);
    let entries = blocking(&st.dir, move |dir| dir.export(after, count)).await??;
    let mut body = Vec::new();
    for e in &entries {
        serde_json::to_writer(&mut body, e).expect("export entries serialise");
        body.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/jsonlines")], body).into_response())
}

#[derive(Serialize)]
struct NotFoundBody {
    message: &'static str,
}

pub(crate) async fn fallback() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(NotFoundBody { message: "Not found" }))
}
