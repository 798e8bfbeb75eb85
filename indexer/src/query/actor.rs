//! Actors: profiles with counts and viewer state, and actor search.

use super::views::{ActorViewer, ProfileView, ProfileViewBasic, ProfileViewDetailed};
use super::{micros_to_rfc3339, Query, Result, Viewer};
use crate::index::{actor::fields, FOLLOW, PROFILE};
use crate::store::rows::ActorRow;
use crate::store::write::count;
use crate::store::{ActorId, RecordKey};

/// Shown when an actor has no verified handle, as the reference AppView does.
pub const INVALID_HANDLE: &str = "handle.invalid";

impl Query {
    fn profile_fields(&self, actor: ActorId) -> Result<(Option<String>, Option<String>, Option<u64>)> {
        let (Some(coll), Some(rkey)) = (self.store.coll_id(PROFILE)?, self.store.rkey("self")?) else { return Ok((None, None, None)) };
        Ok(match self.store.doc(RecordKey { actor, coll, rkey })? {
            Some(doc) => {
                let f = fields(&doc.cbor);
                (f.display_name, f.description, Some(doc.indexed_at))
            }
            None => (None, None, None),
        })
    }

    pub(crate) fn actor_viewer(&self, viewer: Viewer, actor: ActorId, did: &str) -> Result<Option<ActorViewer>> {
        let Some(v) = viewer.0 else { return Ok(None) };
        let viewer_did = match self.store.actor(v)? {
            Some(r) => r.did,
            None => return Ok(None),
        };
        let mut out = ActorViewer::default();
        if let Some(rkey) = self.edge_from("follow_rev", &actor.bytes(), v)? {
            out.following = Some(self.edge_uri(&viewer_did, FOLLOW, rkey)?);
        }
        if let Some(rkey) = self.edge_from("follow_rev", &v.bytes(), actor)? {
            out.followed_by = Some(self.edge_uri(did, FOLLOW, rkey)?);
        }
        if let Some(rkey) = self.edge_from("block_rev", &actor.bytes(), v)? {
            out.blocking = Some(self.edge_uri(&viewer_did, crate::index::BLOCK, rkey)?);
        }
        out.blocked_by = self.edge_from("block_rev", &v.bytes(), actor)?.is_some();
        Ok(Some(out))
    }

    pub fn profile_basic(&self, viewer: Viewer, actor: ActorId, row: &ActorRow) -> Result<ProfileViewBasic> {
        let (display_name, _, _) = self.profile_fields(actor)?;
        self.basic_with(viewer, actor, row, display_name)
    }

    fn basic_with(&self, viewer: Viewer, actor: ActorId, row: &ActorRow, display_name: Option<String>) -> Result<ProfileViewBasic> {
        Ok(ProfileViewBasic {
            did: row.did.clone(),
            handle: row.handle.clone().unwrap_or_else(|| INVALID_HANDLE.into()),
            display_name,
            viewer: self.actor_viewer(viewer, actor, &row.did)?,
            labels: Vec::new(),
            created_at: None,
        })
    }

    pub fn profile_view(&self, viewer: Viewer, actor: ActorId, row: &ActorRow) -> Result<ProfileView> {
        let (display_name, description, indexed) = self.profile_fields(actor)?;
        Ok(ProfileView { basic: self.basic_with(viewer, actor, row, display_name)?, description, indexed_at: indexed.map(micros_to_rfc3339) })
    }

    /// `app.bsky.actor.getProfile`.
    pub fn profile(&self, viewer: Viewer, actor: &str) -> Result<ProfileViewDetailed> {
        let (id, row) = self.resolve_actor(actor)?;
        self.profile_detailed(viewer, id, &row)
    }

    pub fn profile_detailed(&self, viewer: Viewer, id: ActorId, row: &ActorRow) -> Result<ProfileViewDetailed> {
        Ok(ProfileViewDetailed {
            view: self.profile_view(viewer, id, row)?,
            followers_count: self.store.count(count::FOLLOWERS, &id.bytes())?.max(0),
            follows_count: self.store.count(count::FOLLOWS, &id.bytes())?.max(0),
            posts_count: self.store.count(count::POSTS, &id.bytes())?.max(0),
        })
    }

    /// `app.bsky.actor.getProfiles`: the actors that resolve, in order; the rest are left out.
    pub fn profiles(&self, viewer: Viewer, actors: &[String]) -> Result<Vec<ProfileViewDetailed>> {
        let mut out = Vec::new();
        for a in actors {
            if let Ok((id, row)) = self.resolve_actor(a) {
                out.push(self.profile_detailed(viewer, id, &row)?);
            }
        }
        Ok(out)
    }

    /// `searchActors` and `searchActorsTypeahead`.
    pub fn search_actors(&self, viewer: Viewer, q: &str, typeahead: bool, offset: usize, limit: usize) -> Result<(Vec<ProfileView>, Option<String>)> {
        let dids = self.search.actors(q, typeahead, offset, limit)?;
        let more = dids.len() == limit;
        let mut out = Vec::new();
        for did in dids {
            let Some(id) = self.store.actor_id(&did)? else { continue };
            let Some(row) = self.visible(id)? else { continue };
            if self.hidden_for(viewer, id)? {
                continue;
            }
            out.push(self.profile_view(viewer, id, &row)?);
        }
        Ok((out, more.then(|| (offset + limit).to_string())))
    }
}
