//! Backlinks for any lexicon, in Constellation's shape: which records link to a target (an
//! AT-URI or a DID) from a collection at a path. Typed app.bsky paths are answered from the
//! typed indexes (likes, reposts, follows, blocks, list membership, replies, quotes); every
//! other path from the generic `link` family.

use serde::Serialize;

use super::{Page, Query, QueryError, Result};
use crate::store::keys::cat;
use crate::store::{ActorId, RecordId, RecordKey, Rkey};

/// One linking record, as Constellation lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LinkingRecord {
    pub did: String,
    pub collection: String,
    pub rkey: String,
}

/// Where the typed index for a `(collection, path)` lives.
enum Typed {
    /// `[subject RecordId][actor]` → rkey.
    RecordEdge(&'static str),
    /// `[subject ActorId][actor]` → rkey.
    ActorEdge(&'static str),
    /// `[parent RecordId][child RecordId]` (replies, quotes).
    Child(&'static str),
    /// `[list RecordId][subject]` → rkey, records owned by the list's creator.
    ListItem,
}

fn typed(collection: &str, path: &str) -> Option<Typed> {
    use crate::index::*;
    Some(match (collection, path) {
        (LIKE, ".subject.uri") => Typed::RecordEdge("like_rev"),
        (REPOST, ".subject.uri") => Typed::RecordEdge("repost_rev"),
        (FOLLOW, ".subject") => Typed::ActorEdge("follow_rev"),
        (BLOCK, ".subject") => Typed::ActorEdge("block_rev"),
        (LISTITEM, ".list") => Typed::ListItem,
        (POST, ".reply.parent.uri") => Typed::Child("reply"),
        (POST, ".embed.record.uri" | ".embed.record.record.uri") => Typed::Child("quote"),
        _ => return None,
    })
}

impl Query {
    /// `/links`: records linking to `target` from `collection` at `path`, optionally only
    /// those by `dids`.
    pub fn links(&self, target: &str, collection: &str, path: &str, dids: &[String], cursor: Option<&str>, limit: usize) -> Result<(Page<LinkingRecord>, u64)> {
        if !path.starts_with('.') {
            return Err(QueryError::BadRequest("path must start with '.', e.g. .subject.uri".into()));
        }
        let filter: Vec<ActorId> = dids.iter().filter_map(|d| self.store.actor_id(d).ok().flatten()).collect();
        if !dids.is_empty() && filter.is_empty() {
            return Ok((Page { items: Vec::new(), cursor: None }, 0));
        }
        let Some((cf, prefix, source)) = self.link_scan(target, collection, path)? else {
            return Ok((Page { items: Vec::new(), cursor: None }, 0));
        };
        let total = self.store.scan(cf, &prefix, None, false, usize::MAX)?.items.len() as u64;
        let page = self.kept_page(cf, &prefix, cursor, false, limit, usize::MAX, |k, v| {
            let Some(key) = source.record(self, &k[prefix.len()..], v, collection)? else { return Ok(None) };
            if !filter.is_empty() && !filter.contains(&key.actor) {
                return Ok(None);
            }
            let Some(row) = self.visible(key.actor)? else { return Ok(None) };
            Ok(Some(LinkingRecord { did: row.did, collection: collection.to_owned(), rkey: self.store.rkey_string(key.rkey)? }))
        })?;
        Ok((page, total))
    }

    /// `/links/count`.
    pub fn links_count(&self, target: &str, collection: &str, path: &str) -> Result<u64> {
        let Some((cf, prefix, _)) = self.link_scan(target, collection, path)? else { return Ok(0) };
        Ok(self.store.scan(cf, &prefix, None, false, usize::MAX)?.items.len() as u64)
    }

    /// `/links/distinct-dids`: the distinct authors of linking records.
    pub fn links_distinct_dids(&self, target: &str, collection: &str, path: &str, cursor: Option<&str>, limit: usize) -> Result<(Page<String>, u64)> {
        let (all, _) = self.links(target, collection, path, &[], None, usize::MAX)?;
        let mut dids: Vec<String> = all.items.into_iter().map(|r| r.did).collect();
        dids.sort();
        dids.dedup();
        let total = dids.len() as u64;
        let start = match cursor {
            Some(c) => dids.iter().position(|d| d.as_str() > c).unwrap_or(dids.len()),
            None => 0,
        };
        let page: Vec<String> = dids[start..].iter().take(limit).cloned().collect();
        let cursor = (start + page.len() < dids.len()).then(|| page.last().cloned()).flatten();
        Ok((Page { items: page, cursor }, total))
    }

    fn link_scan(&self, target: &str, collection: &str, path: &str) -> Result<Option<(&'static str, Vec<u8>, Source)>> {
        if let Some(t) = typed(collection, path) {
            return Ok(match t {
                Typed::RecordEdge(cf) | Typed::Child(cf) => {
                    let Some((_, id)) = self.rid_of_uri(target)? else { return Ok(None) };
                    let source = if matches!(t, Typed::Child(_)) { Source::Child } else { Source::Edge };
                    Some((cf, id.bytes().to_vec(), source))
                }
                Typed::ActorEdge(cf) => {
                    let Some(id) = self.store.actor_id(target)? else { return Ok(None) };
                    Some((cf, id.bytes().to_vec(), Source::Edge))
                }
                Typed::ListItem => {
                    let Some((key, id)) = self.rid_of_uri(target)? else { return Ok(None) };
                    Some(("listitem_rev", id.bytes().to_vec(), Source::ListItem(key.actor)))
                }
            });
        }
        let (Some(t), Some(c), Some(p)) = (self.store.target_id(target)?, self.store.coll_id(collection)?, self.store.path_id(path)?) else {
            return Ok(None);
        };
        Ok(Some(("link", cat(&[&RecordId(t).bytes(), &c.bytes(), &p.to_be_bytes()]), Source::Generic)))
    }
}

/// How a scanned entry names its linking record.
enum Source {
    /// Key rest `[actor]`, value the rkey.
    Edge,
    /// Key rest `[child RecordId]`.
    Child,
    /// Key rest `[subject]`, value the rkey; the record is the list owner's.
    ListItem(ActorId),
    /// Key rest `[source RecordId]`.
    Generic,
}

impl Source {
    fn record(&self, q: &Query, rest: &[u8], value: &[u8], collection: &str) -> Result<Option<RecordKey>> {
        let coll = || q.store.coll_id(collection);
        Ok(match self {
            Source::Edge => match (ActorId::read(rest), Rkey::read(value), coll()?) {
                (Some(actor), Some(rkey), Some(coll)) => Some(RecordKey { actor, coll, rkey }),
                _ => None,
            },
            Source::ListItem(owner) => match (Rkey::read(value), coll()?) {
                (Some(rkey), Some(coll)) => Some(RecordKey { actor: *owner, coll, rkey }),
                _ => None,
            },
            Source::Child | Source::Generic => match RecordId::read(rest) {
                Some(id) => q.store.key_of(id)?,
                None => None,
            },
        })
    }
}
