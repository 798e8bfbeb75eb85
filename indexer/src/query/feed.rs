//! Feeds: post views with counts and viewer state, author feeds, the timeline, threads,
//! likes, reposts, quotes and post search.
//!
//! Feeds are merges of per-author streams (posts in `doc`, reposts in `repost_fwd`) by record
//! key, so they are ordered by the TID time of the post or repost; the cursor is that TID.
//! A like's `createdAt` in `getLikes` is its record key's TID time: the indexer keeps the
//! like edge, not the like record.

use std::collections::{BinaryHeap, VecDeque};

use super::views::{
    BlockedAuthor, BlockedPost, FeedViewPost, Like, NotFoundPost, PostOrNot, PostView, PostViewer, ProfileView, ReasonRepost, ReplyRef, ThreadNode,
    ThreadViewPost,
};
use super::{hex_cursor, micros_to_rfc3339, parse_hex_cursor, Query, QueryError, Result, Viewer};
use crate::index::{Facts, PostFacts, LIKE, POST, REPOST};
use crate::search::query::PostQuery;
use crate::store::keys::cat;
use crate::store::write::count;
use crate::store::{ActorId, CollId, RecordId, RecordKey, Rkey};

const POST_VIEW: &str = "app.bsky.feed.defs#postView";

/// `getAuthorFeed`'s `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorFilter {
    PostsWithReplies,
    PostsNoReplies,
    PostsWithMedia,
    PostsAndAuthorThreads,
    PostsWithVideo,
}

impl AuthorFilter {
    pub fn parse(s: &str) -> Option<AuthorFilter> {
        Some(match s {
            "posts_with_replies" => AuthorFilter::PostsWithReplies,
            "posts_no_replies" => AuthorFilter::PostsNoReplies,
            "posts_with_media" => AuthorFilter::PostsWithMedia,
            "posts_and_author_threads" => AuthorFilter::PostsAndAuthorThreads,
            "posts_with_video" => AuthorFilter::PostsWithVideo,
            _ => return None,
        })
    }
    fn reposts(self) -> bool {
        matches!(self, AuthorFilter::PostsWithReplies | AuthorFilter::PostsNoReplies | AuthorFilter::PostsAndAuthorThreads)
    }
}

/// A post as feeds see it, decoded once.
struct Loaded {
    id: RecordId,
    facts: PostFacts,
}

/// One author's posts or reposts, newest first, fetched a few at a time.
struct Stream {
    /// Posts (`doc`) or reposts (`repost_fwd`) under `prefix`.
    prefix: Vec<u8>,
    author: ActorId,
    repost: bool,
    buf: VecDeque<(Rkey, Vec<u8>)>,
    after: Option<Vec<u8>>,
    done: bool,
    /// Entries the next fetch reads: one at first, since a timeline merges one stream per
    /// followed account and most give a page one item or none, then doubling.
    page: usize,
}

/// The iterators every stream of one merge shares: posts (`doc`) and reposts (`repost_fwd`).
struct Cursors<'a> {
    posts: crate::store::read::RevCursor<'a>,
    reposts: crate::store::read::RevCursor<'a>,
}

/// The most a stream fetches at once.
const STREAM_PAGE_MAX: usize = 32;

impl Stream {
    fn new(prefix: Vec<u8>, author: ActorId, repost: bool) -> Stream {
        Stream { prefix, author, repost, buf: VecDeque::new(), after: None, done: false, page: 1 }
    }

    fn head(&mut self, cursors: &mut Cursors) -> Result<Option<Rkey>> {
        if self.buf.is_empty() && !self.done {
            let cursor = if self.repost { &mut cursors.reposts } else { &mut cursors.posts };
            let page = cursor.scan(&self.prefix, self.after.as_deref(), self.page)?;
            self.page = (self.page * 2).min(STREAM_PAGE_MAX);
            self.done = page.next.is_none();
            if let Some((k, _)) = page.items.last() {
                self.after = Some(k.clone());
            }
            for (k, v) in page.items {
                if let Some(r) = Rkey::read(&k[self.prefix.len()..]) {
                    self.buf.push_back((r, v));
                }
            }
        }
        Ok(self.buf.front().map(|(r, _)| *r))
    }
}

impl Query {
    fn post_coll(&self) -> Result<Option<CollId>> {
        Ok(self.store.coll_id(POST)?)
    }

    fn load(&self, key: RecordKey) -> Result<Option<(Loaded, crate::store::rows::DocRow)>> {
        let Some(doc) = self.store.doc(key)? else { return Ok(None) };
        let Ok(Facts::Post(facts)) = crate::index::facts(POST, &doc.cbor) else { return Ok(None) };
        let Some(id) = self.store.record_id(key)? else { return Ok(None) };
        Ok(Some((Loaded { id, facts: *facts }, doc)))
    }

    /// A post, or why it is not shown.
    pub fn post_or_not(&self, viewer: Viewer, uri: &str) -> Result<PostOrNot> {
        let not_found = || PostOrNot::NotFound(NotFoundPost { kind: "app.bsky.feed.defs#notFoundPost", uri: uri.to_owned(), not_found: true });
        let Some(key) = self.store.record_key(uri)? else { return Ok(not_found()) };
        if self.hidden_for(viewer, key.actor)? {
            let did = self.store.actor(key.actor)?.map(|r| r.did).unwrap_or_default();
            let author = BlockedAuthor { viewer: self.actor_viewer(viewer, key.actor, &did)?, did };
            return Ok(PostOrNot::Blocked(BlockedPost { kind: "app.bsky.feed.defs#blockedPost", uri: uri.to_owned(), blocked: true, author }));
        }
        Ok(match self.post_view(viewer, key)? {
            Some(v) => PostOrNot::Post(Box::new(v)),
            None => not_found(),
        })
    }

    /// The view of the post at `key`, if it exists and its author is visible.
    pub fn post_view(&self, viewer: Viewer, key: RecordKey) -> Result<Option<PostView>> {
        let Some(doc) = self.store.doc(key)? else { return Ok(None) };
        let Some(id) = self.store.record_id(key)? else { return Ok(None) };
        self.post_view_of(viewer, key, id, &doc)
    }

    /// The view of the post at `key` whose row and id were read already.
    fn post_view_of(&self, viewer: Viewer, key: RecordKey, id: RecordId, doc: &crate::store::rows::DocRow) -> Result<Option<PostView>> {
        let Some(row) = self.visible(key.actor)? else { return Ok(None) };
        let (cid, record) = Self::doc_json(doc);
        let viewer_state = match viewer.0 {
            Some(v) => {
                let vdid = self.store.actor(v)?.map(|r| r.did).unwrap_or_default();
                Some(PostViewer {
                    like: self.edge_from("like_rev", &id.bytes(), v)?.map(|r| self.edge_uri(&vdid, LIKE, r)).transpose()?,
                    repost: self.edge_from("repost_rev", &id.bytes(), v)?.map(|r| self.edge_uri(&vdid, REPOST, r)).transpose()?,
                })
            }
            None => None,
        };
        Ok(Some(PostView {
            kind: POST_VIEW,
            uri: format!("at://{}/{POST}/{}", row.did, self.store.rkey_string(key.rkey)?),
            cid,
            author: self.profile_basic(viewer, key.actor, &row)?,
            record,
            reply_count: self.store.count(count::REPLIES, &id.bytes())?.max(0),
            repost_count: self.store.count(count::REPOSTS, &id.bytes())?.max(0),
            like_count: self.store.count(count::LIKES, &id.bytes())?.max(0),
            quote_count: self.store.count(count::QUOTES, &id.bytes())?.max(0),
            indexed_at: micros_to_rfc3339(doc.indexed_at),
            viewer: viewer_state,
            labels: Vec::new(),
        }))
    }

    /// `getPosts`: the posts that exist, in the order asked.
    pub fn posts(&self, viewer: Viewer, uris: &[String]) -> Result<Vec<PostView>> {
        let mut out = Vec::new();
        for uri in uris {
            if let PostOrNot::Post(p) = self.post_or_not(viewer, uri)? {
                out.push(*p);
            }
        }
        Ok(out)
    }

    fn feed_item(&self, viewer: Viewer, post: PostView, facts: &PostFacts, reason: Option<ReasonRepost>) -> Result<FeedViewPost> {
        let reply = match (&facts.reply_root, &facts.reply_parent) {
            (Some(root), Some(parent)) => Some(ReplyRef { root: self.post_or_not(viewer, root)?, parent: self.post_or_not(viewer, parent)? }),
            _ => None,
        };
        Ok(FeedViewPost { post, reply, reason })
    }

    fn streams_for(&self, author: ActorId, reposts: bool) -> Result<Vec<Stream>> {
        let mut out = Vec::new();
        if let Some(coll) = self.post_coll()? {
            out.push(Stream::new(cat(&[&author.bytes(), &coll.bytes()]), author, false));
        }
        if reposts {
            out.push(Stream::new(author.bytes().to_vec(), author, true));
        }
        Ok(out)
    }

    /// Merges streams newest first below `before`, keeping items `keep` accepts.
    fn merge(
        &self,
        viewer: Viewer,
        mut streams: Vec<Stream>,
        before: Option<u64>,
        limit: usize,
        keep: &dyn Fn(&Loaded, bool) -> bool,
    ) -> Result<super::Page<FeedViewPost>> {
        if let Some(b) = before {
            for s in &mut streams {
                s.after = Some(cat(&[&s.prefix, &b.to_be_bytes()]));
            }
        }
        let mut cursors = Cursors { posts: self.store.rev_cursor("doc"), reposts: self.store.rev_cursor("repost_fwd") };
        let mut heap = BinaryHeap::new();
        for (i, s) in streams.iter_mut().enumerate() {
            if let Some(r) = s.head(&mut cursors)? {
                heap.push((r, i));
            }
        }
        let mut items = Vec::new();
        let mut last = None;
        let mut examined = 0usize;
        while let Some((rkey, i)) = heap.pop() {
            let s = &mut streams[i];
            let (_, value) = s.buf.pop_front().expect("head was present");
            if let Some(r) = s.head(&mut cursors)? {
                heap.push((r, i));
            }
            examined += 1;
            if examined > limit * 50 + 1000 {
                // A sparse filter over a long history: stop and let the client page on.
                last = Some(rkey.0);
                break;
            }
            let (author, repost) = (s.author, s.repost);
            let item = if repost {
                let Some(subject) = RecordId::read(&value) else { continue };
                let Some(key) = self.store.key_of(subject)? else { continue };
                let Some(by) = self.visible(author)? else { continue };
                let Some((loaded, doc)) = self.load(key)? else { continue };
                if !keep(&loaded, true) || self.hidden_for(viewer, key.actor)? {
                    continue;
                }
                let Some(post) = self.post_view_of(viewer, key, loaded.id, &doc)? else { continue };
                let reason = ReasonRepost {
                    kind: "app.bsky.feed.defs#reasonRepost",
                    by: self.profile_basic(viewer, author, &by)?,
                    uri: self.edge_uri(&by.did, REPOST, rkey)?,
                    indexed_at: micros_to_rfc3339(rkey.micros()),
                };
                self.feed_item(viewer, post, &loaded.facts, Some(reason))?
            } else {
                let key = RecordKey { actor: author, coll: self.post_coll()?.unwrap_or(CollId(0)), rkey };
                let Some((loaded, doc)) = self.load(key)? else { continue };
                if !keep(&loaded, false) {
                    continue;
                }
                let Some(post) = self.post_view_of(viewer, key, loaded.id, &doc)? else { continue };
                self.feed_item(viewer, post, &loaded.facts, None)?
            };
            items.push(item);
            last = Some(rkey.0);
            if items.len() == limit {
                break;
            }
        }
        let more = items.len() == limit || heap.peek().is_some() && last.is_some() && items.len() < limit;
        Ok(super::Page { items, cursor: if more { last.map(|l| l.to_string()) } else { None } })
    }

    /// `getAuthorFeed`.
    pub fn author_feed(&self, viewer: Viewer, actor: &str, filter: AuthorFilter, cursor: Option<&str>, limit: usize) -> Result<super::Page<FeedViewPost>> {
        let (id, row) = self.resolve_actor(actor)?;
        let author_did = row.did;
        if self.hidden_for(viewer, id)? {
            let blocked_by = viewer.0.map(|v| self.edge_from("block_rev", &v.bytes(), id)).transpose()?.flatten().is_some();
            let (error, message) = if blocked_by { ("BlockedByActor", "the author blocks you") } else { ("BlockedActor", "you block the author") };
            return Err(QueryError::Named { error, message: message.into() });
        }
        let before = parse_tid_cursor(cursor)?;
        let streams = self.streams_for(id, filter.reposts())?;
        let keep = move |p: &Loaded, repost: bool| -> bool {
            if repost {
                return true;
            }
            let media =
                p.facts.embed.as_deref().is_some_and(|e| {
                    matches!(e, "app.bsky.embed.images" | "app.bsky.embed.video" | "app.bsky.embed.recordWithMedia" | "app.bsky.embed.gallery")
                });
            match filter {
                AuthorFilter::PostsWithReplies => true,
                AuthorFilter::PostsNoReplies => p.facts.reply_parent.is_none(),
                AuthorFilter::PostsWithMedia => media && p.facts.reply_parent.is_none(),
                AuthorFilter::PostsWithVideo => p.facts.embed.as_deref() == Some("app.bsky.embed.video"),
                AuthorFilter::PostsAndAuthorThreads => match &p.facts.reply_root {
                    None => true,
                    Some(root) => crate::store::write::split_uri(root).is_some_and(|(did, _, _)| did == author_did),
                },
            }
        };
        self.merge(viewer, streams, before, limit, &keep)
    }

    /// `getTimeline`: the viewer's own posts and those of everyone they follow, with reposts.
    pub fn timeline(&self, viewer: ActorId, cursor: Option<&str>, limit: usize) -> Result<super::Page<FeedViewPost>> {
        let before = parse_tid_cursor(cursor)?;
        let mut authors = vec![viewer];
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.store.scan("follow_fwd", &viewer.bytes(), after.as_deref(), false, 1000)?;
            authors.extend(page.items.iter().filter_map(|(_, v)| ActorId::read(v)));
            match page.next {
                Some(n) if authors.len() < 20_000 => after = Some(n),
                _ => break,
            }
        }
        authors.sort();
        authors.dedup();
        // Blocks either way, read once rather than twice per followed account.
        let blocked = self.blocks_either_way(viewer)?;
        let mut streams = Vec::new();
        for a in authors {
            if a != viewer && blocked.contains(&a) {
                continue;
            }
            streams.extend(self.streams_for(a, true)?);
        }
        self.merge(Viewer(Some(viewer)), streams, before, limit, &|_, _| true)
    }

    /// `getPostThread`: the post, its parents up to `parent_height`, replies to `depth`.
    pub fn thread(&self, viewer: Viewer, uri: &str, depth: usize, parent_height: usize) -> Result<ThreadNode> {
        match self.post_or_not(viewer, uri)? {
            PostOrNot::Post(_) => {}
            PostOrNot::NotFound(_) => return Err(QueryError::Named { error: "NotFound", message: format!("post not found: {uri}") }),
            PostOrNot::Blocked(b) => return Ok(ThreadNode::Blocked(b)),
        }
        self.thread_node(viewer, uri, depth, parent_height, true)
    }

    fn thread_node(&self, viewer: Viewer, uri: &str, depth: usize, parent_height: usize, with_parent: bool) -> Result<ThreadNode> {
        let post = match self.post_or_not(viewer, uri)? {
            PostOrNot::Post(p) => *p,
            PostOrNot::NotFound(n) => return Ok(ThreadNode::NotFound(n)),
            PostOrNot::Blocked(b) => return Ok(ThreadNode::Blocked(b)),
        };
        let Some(key) = self.store.record_key(uri)? else { return Err(QueryError::BadRequest("post vanished".into())) };
        let loaded = self.load(key)?;
        let parent = match (&loaded, with_parent && parent_height > 0) {
            (Some((l, _)), true) => match &l.facts.reply_parent {
                Some(p) => Some(self.thread_node(viewer, p, 0, parent_height - 1, true)?),
                None => None,
            },
            _ => None,
        };
        let replies = if depth > 0 {
            let mut out = Vec::new();
            if let Some((l, _)) = &loaded {
                for (k, _) in self.store.scan("reply", &l.id.bytes(), None, false, 1000)?.items {
                    let Some(child) = RecordId::read(&k[5..]) else { continue };
                    let Some(ck) = self.store.key_of(child)? else { continue };
                    if self.hidden_for(viewer, ck.actor)? || self.visible(ck.actor)?.is_none() {
                        continue;
                    }
                    let Some(child_uri) = self.store.uri(ck)? else { continue };
                    if let node @ ThreadNode::Post(_) = self.thread_node(viewer, &child_uri, depth - 1, 0, false)? {
                        out.push(node);
                    }
                }
            }
            Some(out)
        } else {
            None
        };
        Ok(ThreadNode::Post(Box::new(ThreadViewPost { kind: "app.bsky.feed.defs#threadViewPost", post, parent, replies })))
    }

    /// `getLikes`: who liked a post (in actor-id order; see the store's key table).
    pub fn likes(&self, viewer: Viewer, uri: &str, cursor: Option<&str>, limit: usize) -> Result<super::Page<Like>> {
        let Some((_, id)) = self.rid_of_uri(uri)? else { return Ok(super::Page { items: Vec::new(), cursor: None }) };
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan("like_rev", &id.bytes(), after.as_deref(), false, limit)?;
        let mut items = Vec::new();
        for (k, v) in &page.items {
            let (Some(actor), Some(rkey)) = (ActorId::read(&k[5..]), Rkey::read(v)) else { continue };
            let Some(row) = self.visible(actor)? else { continue };
            if self.hidden_for(viewer, actor)? {
                continue;
            }
            let time = micros_to_rfc3339(rkey.micros());
            items.push(Like { indexed_at: time.clone(), created_at: time, actor: self.profile_view(viewer, actor, &row)? });
        }
        Ok(super::Page { items, cursor: page.next.map(|k| hex_cursor(&k)) })
    }

    /// `getRepostedBy`.
    pub fn reposted_by(&self, viewer: Viewer, uri: &str, cursor: Option<&str>, limit: usize) -> Result<super::Page<ProfileView>> {
        let Some((_, id)) = self.rid_of_uri(uri)? else { return Ok(super::Page { items: Vec::new(), cursor: None }) };
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan("repost_rev", &id.bytes(), after.as_deref(), false, limit)?;
        let mut items = Vec::new();
        for (k, _) in &page.items {
            let Some(actor) = ActorId::read(&k[5..]) else { continue };
            let Some(row) = self.visible(actor)? else { continue };
            if !self.hidden_for(viewer, actor)? {
                items.push(self.profile_view(viewer, actor, &row)?);
            }
        }
        Ok(super::Page { items, cursor: page.next.map(|k| hex_cursor(&k)) })
    }

    /// `getQuotes`.
    pub fn quotes(&self, viewer: Viewer, uri: &str, cursor: Option<&str>, limit: usize) -> Result<super::Page<PostView>> {
        let Some((_, id)) = self.rid_of_uri(uri)? else { return Ok(super::Page { items: Vec::new(), cursor: None }) };
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan("quote", &id.bytes(), after.as_deref(), false, limit)?;
        let mut items = Vec::new();
        for (k, _) in &page.items {
            let Some(q) = RecordId::read(&k[5..]) else { continue };
            let Some(key) = self.store.key_of(q)? else { continue };
            if self.hidden_for(viewer, key.actor)? {
                continue;
            }
            if let Some(v) = self.post_view(viewer, key)? {
                items.push(v);
            }
        }
        Ok(super::Page { items, cursor: page.next.map(|k| hex_cursor(&k)) })
    }

    /// `getActorLikes`: the viewer's own likes, newest first.
    pub fn actor_likes(&self, viewer: ActorId, cursor: Option<&str>, limit: usize) -> Result<super::Page<FeedViewPost>> {
        let (edges, next) = self.actor_edges("like_fwd", viewer, cursor, limit)?;
        let mut items = Vec::new();
        for (_, v) in edges {
            let Some(subject) = RecordId::read(&v) else { continue };
            let Some(key) = self.store.key_of(subject)? else { continue };
            if self.hidden_for(Viewer(Some(viewer)), key.actor)? {
                continue;
            }
            let Some((loaded, _)) = self.load(key)? else { continue };
            if let Some(post) = self.post_view(Viewer(Some(viewer)), key)? {
                items.push(self.feed_item(Viewer(Some(viewer)), post, &loaded.facts, None)?);
            }
        }
        Ok(super::Page { items, cursor: next })
    }

    /// `searchPosts`: `sort` `latest` (newest first) or `top` (most liked and reposted of the
    /// newest 500 matches). Actor terms (`from:`…) take a handle, a DID or `me`.
    pub fn search_posts(&self, viewer: Viewer, q: &str, top: bool, cursor: Option<&str>, limit: usize) -> Result<super::Page<PostView>> {
        let mut parsed = PostQuery::parse(q).map_err(|e| QueryError::BadRequest(e.to_string()))?;
        let viewer_did = viewer.0.map(|v| self.store.actor(v)).transpose()?.flatten().map(|r| r.did);
        for a in parsed.actors_mut() {
            if a == "me" {
                *a = viewer_did.clone().ok_or_else(|| QueryError::BadRequest("`me` needs a signed-in viewer".into()))?;
            } else if !a.starts_with("did:") {
                // An unknown handle matches nothing (rather than everything).
                *a = self.store.find_actor(a)?.map(|(_, r)| r.did).unwrap_or_else(|| format!("unknown:{a}"));
            }
        }
        let offset: usize = match cursor {
            Some(c) => c.parse().map_err(|_| QueryError::BadRequest("malformed cursor".into()))?,
            None => 0,
        };
        let uris = if top {
            let mut scored = Vec::new();
            for uri in self.search.posts(&parsed, 0, 500)? {
                let Some((_, id)) = self.rid_of_uri(&uri)? else { continue };
                let score = self.store.count(count::LIKES, &id.bytes())? + self.store.count(count::REPOSTS, &id.bytes())?;
                scored.push((std::cmp::Reverse(score), uri));
            }
            scored.sort();
            scored.into_iter().skip(offset).take(limit).map(|(_, u)| u).collect()
        } else {
            self.search.posts(&parsed, offset, limit)?
        };
        let more = uris.len() == limit;
        let mut items = Vec::new();
        for uri in &uris {
            if let PostOrNot::Post(p) = self.post_or_not(viewer, uri)? {
                items.push(*p);
            }
        }
        Ok(super::Page { items, cursor: more.then(|| (offset + limit).to_string()) })
    }
}

fn parse_tid_cursor(cursor: Option<&str>) -> Result<Option<u64>> {
    cursor.map(|c| c.parse::<u64>().map_err(|_| QueryError::BadRequest("malformed cursor".into()))).transpose()
}
