//! `app.bsky.notification.*`.

use atproto::xrpc::XrpcError;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{ok, AppState, Req, XrpcResult};
use crate::query::micros_to_rfc3339;

pub async fn list_notifications(s: &AppState, req: Req) -> XrpcResult {
    let limit = req.params.limit(50, 100)?;
    let reasons = req.params.all("reasons", 20)?;
    let viewer = req.required_viewer(s).await?;
    let (page, seen) = s.query.notifications(viewer, &reasons, req.params.cursor(), limit)?;
    let mut out = json!({"notifications": page.items, "priority": false});
    if seen > 0 {
        out["seenAt"] = micros_to_rfc3339(seen).into();
    }
    if let Some(c) = page.cursor {
        out["cursor"] = c.into();
    }
    ok(out)
}

pub async fn get_unread_count(s: &AppState, req: Req) -> XrpcResult {
    let viewer = req.required_viewer(s).await?;
    ok(json!({"count": s.query.unread_count(viewer)?}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateSeen {
    seen_at: String,
}

pub async fn update_seen(s: &AppState, req: Req, body: &[u8]) -> XrpcResult {
    let input: UpdateSeen = serde_json::from_slice(body).map_err(|e| XrpcError::invalid_request(format!("body: {e}")))?;
    let viewer = req.required_viewer(s).await?;
    s.query.update_seen(viewer, &input.seen_at)?;
    Ok(axum::http::StatusCode::OK.into_response())
}
