//! Backlinks in Constellation's HTTP shape: `/links`, `/links/count` and
//! `/links/distinct-dids`, each with `target`, `collection` and `path` (and `did` filters and
//! `cursor` where Constellation has them). Paths are as in the record: `.subject.uri`, with
//! `[]` for each array level.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::{ok, Params, Shared, XrpcResult};

pub fn router() -> Router<Shared> {
    Router::new().route("/links", get(links)).route("/links/count", get(count)).route("/links/distinct-dids", get(distinct_dids))
}

fn query(params: &Params) -> Result<(String, String, String), atproto::xrpc::XrpcError> {
    Ok((params.required("target")?.to_owned(), params.required("collection")?.to_owned(), params.required("path")?.to_owned()))
}

fn answer(r: XrpcResult) -> Response {
    r.unwrap_or_else(|e| e.into_response())
}

async fn links(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref().unwrap_or(""));
    answer((|| {
        let (target, collection, path) = query(&p)?;
        let limit = p.limit(16, 100)?;
        let dids = p.all("did", 100)?;
        let (page, total) = s.query.links(&target, &collection, &path, &dids, p.cursor(), limit)?;
        ok(json!({"total": total, "linking_records": page.items, "cursor": page.cursor}))
    })())
}

async fn count(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref().unwrap_or(""));
    answer((|| {
        let (target, collection, path) = query(&p)?;
        ok(json!({"total": s.query.links_count(&target, &collection, &path)?}))
    })())
}

async fn distinct_dids(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref().unwrap_or(""));
    answer((|| {
        let (target, collection, path) = query(&p)?;
        let limit = p.limit(16, 100)?;
        let (page, total) = s.query.links_distinct_dids(&target, &collection, &path, p.cursor(), limit)?;
        ok(json!({"total": total, "linking_dids": page.items, "cursor": page.cursor}))
    })())
}
