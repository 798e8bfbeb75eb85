//! The lexicons' view objects (`app.bsky.*.defs`), as the reads return them. Optional fields
//! the indexer does not know are left out, never filled with made-up values.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActorViewer {
    pub muted: bool,
    pub blocked_by: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocking: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub following: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followed_by: Option<String>,
}

/// `app.bsky.actor.defs#profileViewBasic`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileViewBasic {
    pub did: String,
    pub handle: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewer: Option<ActorViewer>,
    pub labels: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `app.bsky.actor.defs#profileView`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    #[serde(flatten)]
    pub basic: ProfileViewBasic,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexed_at: Option<String>,
}

/// `app.bsky.actor.defs#profileViewDetailed`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileViewDetailed {
    #[serde(flatten)]
    pub view: ProfileView,
    pub followers_count: i64,
    pub follows_count: i64,
    pub posts_count: i64,
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PostViewer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub like: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repost: Option<String>,
}

/// `app.bsky.feed.defs#postView`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostView {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    pub uri: String,
    pub cid: String,
    pub author: ProfileViewBasic,
    pub record: Value,
    pub reply_count: i64,
    pub repost_count: i64,
    pub like_count: i64,
    pub quote_count: i64,
    pub indexed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewer: Option<PostViewer>,
    pub labels: Vec<Value>,
}

/// A post, or why it is not shown (`#notFoundPost`, `#blockedPost`), as unions hold them.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PostOrNot {
    Post(Box<PostView>),
    NotFound(NotFoundPost),
    Blocked(BlockedPost),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotFoundPost {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    pub uri: String,
    pub not_found: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockedPost {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    pub uri: String,
    pub blocked: bool,
    pub author: BlockedAuthor,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedAuthor {
    pub did: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewer: Option<ActorViewer>,
}

/// `app.bsky.feed.defs#replyRef`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyRef {
    pub root: PostOrNot,
    pub parent: PostOrNot,
}

/// `app.bsky.feed.defs#reasonRepost`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasonRepost {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    pub by: ProfileViewBasic,
    pub uri: String,
    pub indexed_at: String,
}

/// `app.bsky.feed.defs#feedViewPost`.
#[derive(Debug, Clone, Serialize)]
pub struct FeedViewPost {
    pub post: PostView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonRepost>,
}

/// `app.bsky.feed.defs#threadViewPost`, or a post not shown.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ThreadNode {
    Post(Box<ThreadViewPost>),
    NotFound(NotFoundPost),
    Blocked(BlockedPost),
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadViewPost {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    pub post: PostView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ThreadNode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<Vec<ThreadNode>>,
}

/// `app.bsky.notification.listNotifications#notification`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub uri: String,
    pub cid: String,
    pub author: ProfileView,
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_subject: Option<String>,
    pub record: Value,
    pub is_read: bool,
    pub indexed_at: String,
    pub labels: Vec<Value>,
}

/// `app.bsky.graph.defs#listView` (and `#listViewBasic`, its subset).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListView {
    pub uri: String,
    pub cid: String,
    pub creator: ProfileView,
    pub name: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub list_item_count: i64,
    pub indexed_at: String,
    pub labels: Vec<Value>,
}

/// `app.bsky.graph.defs#listItemView`.
#[derive(Debug, Clone, Serialize)]
pub struct ListItemView {
    pub uri: String,
    pub subject: ProfileView,
}

/// `app.bsky.graph.defs#relationship`, or `#notFoundActor`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Relationship {
    Found {
        #[serde(rename = "$type")]
        kind: &'static str,
        did: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        following: Option<String>,
        #[serde(rename = "followedBy", skip_serializing_if = "Option::is_none")]
        followed_by: Option<String>,
    },
    NotFound {
        #[serde(rename = "$type")]
        kind: &'static str,
        actor: String,
        #[serde(rename = "notFound")]
        not_found: bool,
    },
}

/// `app.bsky.feed.getLikes#like`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Like {
    pub indexed_at: String,
    pub created_at: String,
    pub actor: ProfileView,
}
