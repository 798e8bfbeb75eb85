//! The social graph: followers, follows, relationships, blocks and lists.

use super::views::{ListItemView, ListView, ProfileView, Relationship};
use super::{hex_cursor, micros_to_rfc3339, parse_hex_cursor, Page, Query, QueryError, Result, Viewer};
use crate::index::{FOLLOW, LIST};
use crate::store::keys::cat;
use crate::store::{ActorId, RecordKey};

impl Query {
    /// `getFollowers`: who follows `actor` (in actor-id order; see the store's key table).
    pub fn followers(&self, viewer: Viewer, actor: &str, cursor: Option<&str>, limit: usize) -> Result<(ProfileView, Page<ProfileView>)> {
        let (id, row) = self.resolve_actor(actor)?;
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan("follow_rev", &id.bytes(), after.as_deref(), false, limit)?;
        let mut items = Vec::new();
        for (k, _) in &page.items {
            let Some(f) = ActorId::read(&k[4..]) else { continue };
            let Some(r) = self.visible(f)? else { continue };
            if !self.hidden_for(viewer, f)? {
                items.push(self.profile_view(viewer, f, &r)?);
            }
        }
        Ok((self.profile_view(viewer, id, &row)?, Page { items, cursor: page.next.map(|k| hex_cursor(&k)) }))
    }

    /// `getFollows`: whom `actor` follows, newest first.
    pub fn follows(&self, viewer: Viewer, actor: &str, cursor: Option<&str>, limit: usize) -> Result<(ProfileView, Page<ProfileView>)> {
        let (id, row) = self.resolve_actor(actor)?;
        let (edges, next) = self.actor_edges("follow_fwd", id, cursor, limit)?;
        let mut items = Vec::new();
        for (_, v) in edges {
            let Some(f) = ActorId::read(&v) else { continue };
            let Some(r) = self.visible(f)? else { continue };
            if !self.hidden_for(viewer, f)? {
                items.push(self.profile_view(viewer, f, &r)?);
            }
        }
        Ok((self.profile_view(viewer, id, &row)?, Page { items, cursor: next }))
    }

    /// `getBlocks`: whom the viewer blocks, newest first.
    pub fn blocks(&self, viewer: ActorId, cursor: Option<&str>, limit: usize) -> Result<Page<ProfileView>> {
        let (edges, next) = self.actor_edges("block_fwd", viewer, cursor, limit)?;
        let mut items = Vec::new();
        for (_, v) in edges {
            let Some(b) = ActorId::read(&v) else { continue };
            if let Some(r) = self.visible(b)? {
                items.push(self.profile_view(Viewer(Some(viewer)), b, &r)?);
            }
        }
        Ok(Page { items, cursor: next })
    }

    /// `getRelationships`: follow edges both ways between `actor` and each of `others`.
    pub fn relationships(&self, actor: &str, others: &[String]) -> Result<(String, Vec<Relationship>)> {
        let (id, row) =
            self.store.find_actor(actor)?.ok_or_else(|| QueryError::Named { error: "ActorNotFound", message: format!("actor not found: {actor}") })?;
        let mut out = Vec::new();
        for other in others {
            let Some((oid, orow)) = self.store.find_actor(other)? else {
                out.push(Relationship::NotFound { kind: "app.bsky.graph.defs#notFoundActor", actor: other.clone(), not_found: true });
                continue;
            };
            let following = self.edge_from("follow_rev", &oid.bytes(), id)?.map(|r| self.edge_uri(&row.did, FOLLOW, r)).transpose()?;
            let followed_by = self.edge_from("follow_rev", &id.bytes(), oid)?.map(|r| self.edge_uri(&orow.did, FOLLOW, r)).transpose()?;
            out.push(Relationship::Found { kind: "app.bsky.graph.defs#relationship", did: orow.did, following, followed_by });
        }
        Ok((row.did, out))
    }

    fn list_view(&self, viewer: Viewer, key: RecordKey) -> Result<Option<ListView>> {
        let Some(doc) = self.store.doc(key)? else { return Ok(None) };
        let Some(creator) = self.visible(key.actor)? else { return Ok(None) };
        let (cid, record) = Self::doc_json(&doc);
        let text = |k: &str| record.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let id = self.store.record_id(key)?;
        let count = match id {
            Some(id) => self.store.scan("listitem_rev", &id.bytes(), None, false, 100_000)?.items.len() as i64,
            None => 0,
        };
        Ok(Some(ListView {
            uri: format!("at://{}/{LIST}/{}", creator.did, self.store.rkey_string(key.rkey)?),
            cid,
            creator: self.profile_view(viewer, key.actor, &creator)?,
            name: text("name").unwrap_or_default(),
            purpose: text("purpose").unwrap_or_default(),
            description: text("description"),
            list_item_count: count,
            indexed_at: micros_to_rfc3339(doc.indexed_at),
            labels: Vec::new(),
        }))
    }

    /// `getList`: the list and its members.
    pub fn list(&self, viewer: Viewer, uri: &str, cursor: Option<&str>, limit: usize) -> Result<(ListView, Page<ListItemView>)> {
        let not_found = || QueryError::Named { error: "NotFound", message: format!("list not found: {uri}") };
        let (key, id) = self.rid_of_uri(uri)?.ok_or_else(not_found)?;
        let view = self.list_view(viewer, key)?.ok_or_else(not_found)?;
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan("listitem_rev", &id.bytes(), after.as_deref(), false, limit)?;
        let mut items = Vec::new();
        for (k, v) in &page.items {
            let (Some(subject), Some(rkey)) = (ActorId::read(&k[5..]), crate::store::Rkey::read(v)) else { continue };
            let Some(row) = self.visible(subject)? else { continue };
            items.push(ListItemView {
                uri: self.edge_uri(&view.creator.basic.did, crate::index::LISTITEM, rkey)?,
                subject: self.profile_view(viewer, subject, &row)?,
            });
        }
        Ok((view, Page { items, cursor: page.next.map(|k| hex_cursor(&k)) }))
    }

    /// `getLists`: the lists `actor` made, newest first.
    pub fn lists(&self, viewer: Viewer, actor: &str, cursor: Option<&str>, limit: usize) -> Result<Page<ListView>> {
        let (id, _) = self.resolve_actor(actor)?;
        let Some(coll) = self.store.coll_id(LIST)? else { return Ok(Page { items: Vec::new(), cursor: None }) };
        let prefix = cat(&[&id.bytes(), &coll.bytes()]);
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan("doc", &prefix, after.as_deref(), true, limit)?;
        let mut items = Vec::new();
        for (k, _) in &page.items {
            if let Some(key) = RecordKey::read(k) {
                if let Some(v) = self.list_view(viewer, key)? {
                    items.push(v);
                }
            }
        }
        Ok(Page { items, cursor: page.next.map(|k| hex_cursor(&k)) })
    }
}
