//! `app.bsky.actor.*`.

use serde_json::json;

use super::{ok, AppState, Req, XrpcResult};

pub async fn get_profile(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let viewer = req.viewer(s).await?;
    ok(s.query.profile(viewer, actor)?)
}

pub async fn get_profiles(s: &AppState, req: Req) -> XrpcResult {
    let actors = req.params.all("actors", 25)?;
    if actors.is_empty() {
        return Err(atproto::xrpc::XrpcError::invalid_request("Error: Params must have the property \"actors\""));
    }
    let viewer = req.viewer(s).await?;
    ok(json!({"profiles": s.query.profiles(viewer, &actors)?}))
}

pub async fn search_actors(s: &AppState, req: Req, typeahead: bool) -> XrpcResult {
    let q = req.params.get("q").or(req.params.get("term")).unwrap_or("");
    let limit = req.params.limit(if typeahead { 10 } else { 25 }, 100)?;
    let offset: usize = match req.params.cursor() {
        Some(c) => c.parse().map_err(|_| atproto::xrpc::XrpcError::invalid_request("malformed cursor"))?,
        None => 0,
    };
    let viewer = req.viewer(s).await?;
    let (actors, cursor) = s.query.search_actors(viewer, q, typeahead, if typeahead { 0 } else { offset }, limit)?;
    if typeahead {
        // searchActorsTypeahead returns profileViewBasic, the subset of each view.
        let basic: Vec<_> = actors.into_iter().map(|a| a.basic).collect();
        return ok(json!({"actors": basic}));
    }
    let mut out = json!({"actors": actors});
    if let Some(c) = cursor {
        out["cursor"] = c.into();
    }
    ok(out)
}
