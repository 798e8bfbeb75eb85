//! `app.bsky.labeler.getServices`: the indexer runs no labelers and knows of none, so the
//! honest answer is an empty list.

use serde_json::json;

use super::{ok, AppState, Req, XrpcResult};

pub async fn get_services(_s: &AppState, req: Req) -> XrpcResult {
    req.params.all("dids", 100)?;
    ok(json!({"views": []}))
}
