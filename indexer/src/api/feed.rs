//! `app.bsky.feed.*`.

use atproto::xrpc::XrpcError;
use serde_json::json;

use super::{ok, AppState, Req, XrpcResult};
use crate::query::feed::AuthorFilter;
use crate::query::Page;

fn page<T: serde::Serialize>(name: &str, page: Page<T>) -> serde_json::Value {
    let mut out = json!({ name: page.items });
    if let Some(c) = page.cursor {
        out["cursor"] = c.into();
    }
    out
}

pub async fn get_timeline(s: &AppState, req: Req) -> XrpcResult {
    let limit = req.params.limit(50, 100)?;
    let viewer = req.required_viewer(s).await?;
    ok(page("feed", s.query.timeline(viewer, req.params.cursor(), limit)?))
}

pub async fn get_author_feed(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let limit = req.params.limit(50, 100)?;
    let filter = match req.params.get("filter") {
        None => AuthorFilter::PostsWithReplies,
        Some(f) => AuthorFilter::parse(f).ok_or_else(|| XrpcError::invalid_request(format!("unknown filter {f:?}")))?,
    };
    let viewer = req.viewer(s).await?;
    ok(page("feed", s.query.author_feed(viewer, actor, filter, req.params.cursor(), limit)?))
}

pub async fn get_post_thread(s: &AppState, req: Req) -> XrpcResult {
    let uri = req.params.at_uri("uri")?;
    let depth = req.params.int("depth", 6, 0, 1000)? as usize;
    let parent_height = req.params.int("parentHeight", 80, 0, 1000)? as usize;
    let viewer = req.viewer(s).await?;
    ok(json!({"thread": s.query.thread(viewer, uri, depth, parent_height)?}))
}

pub async fn get_posts(s: &AppState, req: Req) -> XrpcResult {
    let uris = req.params.all("uris", 25)?;
    for u in &uris {
        u.parse::<atproto::syntax::AtUri>().map_err(|e| XrpcError::invalid_request(format!("uris: {e}")))?;
    }
    let viewer = req.viewer(s).await?;
    ok(json!({"posts": s.query.posts(viewer, &uris)?}))
}

pub async fn get_likes(s: &AppState, req: Req) -> XrpcResult {
    let uri = req.params.at_uri("uri")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let mut out = page("likes", s.query.likes(viewer, uri, req.params.cursor(), limit)?);
    out["uri"] = uri.into();
    ok(out)
}

pub async fn get_reposted_by(s: &AppState, req: Req) -> XrpcResult {
    let uri = req.params.at_uri("uri")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let mut out = page("repostedBy", s.query.reposted_by(viewer, uri, req.params.cursor(), limit)?);
    out["uri"] = uri.into();
    ok(out)
}

pub async fn get_quotes(s: &AppState, req: Req) -> XrpcResult {
    let uri = req.params.at_uri("uri")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.viewer(s).await?;
    let mut out = page("posts", s.query.quotes(viewer, uri, req.params.cursor(), limit)?);
    out["uri"] = uri.into();
    ok(out)
}

pub async fn get_actor_likes(s: &AppState, req: Req) -> XrpcResult {
    let actor = req.params.actor("actor")?;
    let limit = req.params.limit(50, 100)?;
    let viewer = req.required_viewer(s).await?;
    let (id, _) = s.query.resolve_actor(actor)?;
    if id != viewer {
        return Err(XrpcError::invalid_request("Profile not found"));
    }
    ok(page("feed", s.query.actor_likes(viewer, req.params.cursor(), limit)?))
}

pub async fn search_posts(s: &AppState, req: Req) -> XrpcResult {
    let q = req.params.required("q")?;
    let limit = req.params.limit(25, 100)?;
    let top = match req.params.get("sort") {
        None | Some("latest") => false,
        Some("top") => true,
        Some(other) => return Err(XrpcError::invalid_request(format!("sort must be latest or top, not {other:?}"))),
    };
    let viewer = req.viewer(s).await?;
    ok(page("posts", s.query.search_posts(viewer, q, top, req.params.cursor(), limit)?))
}
