//! `app.bsky.unspecced.*`: the thread in the flat shape the official app now asks for, and
//! the runtime configuration (nothing is configured, so it says so).

use serde_json::{json, Value};

use super::{ok, AppState, Req, XrpcResult};
use crate::query::views::ThreadNode;

pub async fn get_config(_s: &AppState, _req: Req) -> XrpcResult {
    ok(json!({"liveNow": []}))
}

/// `getPostThreadV2`: parents above the anchor (negative depths), the anchor (0), replies
/// below it depth-first (positive depths), as `#threadItem`s.
pub async fn get_post_thread_v2(s: &AppState, req: Req) -> XrpcResult {
    let anchor = req.params.at_uri("anchor")?;
    let above = match req.params.get("above") {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(atproto::xrpc::XrpcError::invalid_request("above must be true or false")),
    };
    let below = req.params.int("below", 6, 0, 20)? as usize;
    let branching = req.params.int("branchingFactor", 10, 0, 100)? as usize;
    let viewer = req.viewer(s).await?;
    let root = s.query.thread(viewer, anchor, below, if above { 80 } else { 0 })?;
    let mut items = Vec::new();
    // Parents: walk up, then emit from the top.
    let mut parents = Vec::new();
    if let ThreadNode::Post(p) = &root {
        let mut cur = p.parent.as_ref();
        while let Some(node) = cur {
            parents.push(node);
            cur = match node {
                ThreadNode::Post(p) => p.parent.as_ref(),
                _ => None,
            };
        }
    }
    let op = match parents.last().copied().unwrap_or(&root) {
        ThreadNode::Post(p) => Some(p.post.author.did.clone()),
        _ => None,
    };
    let mut op_chain = true;
    for (i, node) in parents.iter().rev().enumerate() {
        let depth = -((parents.len() - i) as i64);
        op_chain &= author(node).as_deref() == op.as_deref();
        items.push(item(node, depth, op_chain, i == 0 && parents.len() >= 80));
    }
    op_chain &= author(&root).as_deref() == op.as_deref();
    items.push(item(&root, 0, op_chain, false));
    if let ThreadNode::Post(p) = &root {
        for r in p.replies.iter().flatten() {
            push_replies(&mut items, r, 1, branching, op_chain, op.as_deref());
        }
    }
    ok(json!({"thread": items, "hasOtherReplies": false}))
}

fn author(node: &ThreadNode) -> Option<String> {
    match node {
        ThreadNode::Post(p) => Some(p.post.author.did.clone()),
        _ => None,
    }
}

fn push_replies(items: &mut Vec<Value>, node: &ThreadNode, depth: i64, branching: usize, op_chain: bool, op: Option<&str>) {
    let chain = op_chain && author(node).as_deref() == op;
    let replies: Vec<&ThreadNode> = match node {
        ThreadNode::Post(p) => p.replies.iter().flatten().collect(),
        _ => Vec::new(),
    };
    let shown = replies.len().min(branching);
    let mut v = item(node, depth, chain, false);
    v["value"]["moreReplies"] = json!((replies.len() - shown) as i64);
    items.push(v);
    for r in replies.into_iter().take(shown) {
        push_replies(items, r, depth + 1, branching, chain, op);
    }
}

fn item(node: &ThreadNode, depth: i64, op_thread: bool, more_parents: bool) -> Value {
    let (uri, value) = match node {
        ThreadNode::Post(p) => (
            p.post.uri.clone(),
            json!({"$type": "app.bsky.unspecced.defs#threadItemPost", "post": p.post, "moreParents": more_parents,
                "moreReplies": 0, "opThread": op_thread, "hiddenByThreadgate": false, "mutedByViewer": false}),
        ),
        ThreadNode::NotFound(n) => (n.uri.clone(), json!({"$type": "app.bsky.unspecced.defs#threadItemNotFound"})),
        ThreadNode::Blocked(b) => (b.uri.clone(), json!({"$type": "app.bsky.unspecced.defs#threadItemBlocked", "author": b.author})),
    };
    json!({"uri": uri, "depth": depth, "value": value})
}
