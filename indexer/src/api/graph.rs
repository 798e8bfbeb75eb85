//! `app.bsky.graph.*`.

use serde_json::json;

use super::{ok, AppState, Req, XrpcResult};

fn with_cursor(mut v: serde_json::Value, cursor: Option<String>) -> serde_json::Value {
    if let Some(c) = cursor {
        v["cursor"] = c.into();
    }
    v
}

pub async fn get_followers(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let (subject, page) = s.query.followers(viewer, actor, req.params.cursor(), limit)?;
    ok(with_cursor(json!({"subject": subject, "followers": page.items}), page.cursor))
}

pub async fn get_follows(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let (subject, page) = s.query.follows(viewer, actor, req.params.cursor(), limit)?;
    ok(with_cursor(json!({"subject": subject, "follows": page.items}), page.cursor))
}

pub async fn get_relationships(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let others = req.params.all("others", 30)?;
    let (did, rels) = s.query.relationships(actor, &others)?;
    ok(json!({"actor": did, "relationships": rels}))
}

pub async fn get_blocks(s: &AppState, req: Req) -> XrpcResult {
    let limit = req.params.limit(50, 100)?;
    let viewer = req.required_viewer(s).await?;
    let page = s.query.blocks(viewer, req.params.cursor(), limit)?;
    ok(with_cursor(json!({"blocks": page.items}), page.cursor))
}

pub async fn get_list(s: &AppState, req: Req) -> XrpcResult {
    let uri = req.params.at_uri("list")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let (list, page) = s.query.list(viewer, uri, req.params.cursor(), limit)?;
    ok(with_cursor(json!({"list": list, "items": page.items}), page.cursor))
}

pub async fn get_lists(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let page = s.query.lists(viewer, actor, req.params.cursor(), limit)?;
    ok(with_cursor(json!({"lists": page.items}), page.cursor))
}
