//! The query layer: every read of the store and the search index, and the views the
//! lexicons define. Handlers call it with parsed parameters and serialize what it returns.
//!
//! Visibility rules, applied everywhere:
//! - an account that is not active (deactivated, taken down, suspended, deleted) is hidden:
//!   its profile is an error and its posts are left out;
//! - blocks hide content both ways: a post by someone the viewer blocks, or who blocks the
//!   viewer, is left out of lists and shown as `#blockedPost` in threads.

pub mod actor;
pub mod feed;
pub mod graph;
pub mod links;
pub mod notification;
pub mod views;

use std::sync::Arc;

use atproto::Cid;

use crate::search::{Search, SearchError};
use crate::store::keys::cat;
use crate::store::rows::{AccountStatus, ActorRow, DocRow};
use crate::store::{ActorId, RecordId, RecordKey, Rkey, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
    /// A parameter that does not fit (bad cursor, bad URI…): `InvalidRequest`.
    #[error("{0}")]
    BadRequest(String),
    /// `error` is the lexicon's error name (`NotFound`, `AccountDeactivated`…).
    #[error("{message}")]
    Named { error: &'static str, message: String },
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

/// The reads, shared by every handler.
pub struct Query {
    pub store: Arc<Store>,
    pub search: Arc<Search>,
}

/// The actor a request is made for (from its service-auth token), if any.
#[derive(Debug, Clone, Copy, Default)]
pub struct Viewer(pub Option<ActorId>);

pub(crate) fn micros_to_rfc3339(micros: u64) -> String {
    chrono::DateTime::from_timestamp_micros(micros as i64).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn hex_cursor(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// An actor's edges (record key, forward value) and the cursor after them.
pub(crate) type EdgePage = (Vec<(Rkey, Vec<u8>)>, Option<String>);

pub(crate) fn parse_hex_cursor(cursor: &str) -> Result<Vec<u8>> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 256 {
        return Err(QueryError::BadRequest("malformed cursor".into()));
    }
    (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).map_err(|_| QueryError::BadRequest("malformed cursor".into()))).collect()
}

impl Query {
    /// An actor by DID or handle that the reads may show.
    pub fn resolve_actor(&self, actor: &str) -> Result<(ActorId, ActorRow)> {
        let found = self.store.find_actor(actor)?;
        let Some((id, row)) = found else {
            return Err(QueryError::Named { error: "NotFound", message: format!("profile not found: {actor}") });
        };
        match row.status {
            AccountStatus::Active => Ok((id, row)),
            AccountStatus::Deactivated => Err(QueryError::Named { error: "AccountDeactivated", message: "account is deactivated".into() }),
            AccountStatus::Takendown | AccountStatus::Suspended => {
                Err(QueryError::Named { error: "AccountTakedown", message: "account has been suspended".into() })
            }
            _ => Err(QueryError::Named { error: "NotFound", message: format!("profile not found: {actor}") }),
        }
    }

    pub(crate) fn visible(&self, actor: ActorId) -> Result<Option<ActorRow>> {
        Ok(self.store.actor(actor)?.filter(|r| r.status.visible()))
    }

    /// The rkey of the viewer's edge of `kind` to a subject, if any (`[subject][viewer]` in
    /// the reverse family).
    pub(crate) fn edge_from(&self, rev_cf: &str, subject: &[u8], author: ActorId) -> Result<Option<Rkey>> {
        Ok(self.store.raw(rev_cf, &cat(&[subject, &author.bytes()]))?.and_then(|v| Rkey::read(&v)))
    }

    pub(crate) fn edge_uri(&self, author: &str, collection: &str, rkey: Rkey) -> Result<String> {
        Ok(format!("at://{author}/{collection}/{}", self.store.rkey_string(rkey)?))
    }

    /// Whether either of two actors blocks the other.
    pub(crate) fn blocked_between(&self, a: ActorId, b: ActorId) -> Result<bool> {
        Ok(self.edge_from("block_rev", &a.bytes(), b)?.is_some() || self.edge_from("block_rev", &b.bytes(), a)?.is_some())
    }

    /// Every actor `a` blocks or is blocked by.
    pub(crate) fn blocks_either_way(&self, a: ActorId) -> Result<std::collections::HashSet<ActorId>> {
        let mut out = std::collections::HashSet::new();
        // `block_fwd` is `[actor][rkey]` → subject; `block_rev` is `[subject][actor]` → rkey.
        out.extend(self.store.scan("block_fwd", &a.bytes(), None, false, usize::MAX)?.items.iter().filter_map(|(_, v)| ActorId::read(v)));
        out.extend(self.store.scan("block_rev", &a.bytes(), None, false, usize::MAX)?.items.iter().filter_map(|(k, _)| ActorId::read(&k[a.bytes().len()..])));
        Ok(out)
    }

    pub(crate) fn hidden_for(&self, viewer: Viewer, author: ActorId) -> Result<bool> {
        match viewer.0 {
            Some(v) if v != author => self.blocked_between(v, author),
            _ => Ok(false),
        }
    }

    /// A stored document with its key parts resolved.
    pub(crate) fn doc_json(doc: &DocRow) -> (String, serde_json::Value) {
        let cid = Cid::try_from(doc.cid.as_slice()).map(|c| c.to_string()).unwrap_or_default();
        (cid, Self::cbor_json(&doc.cbor))
    }

    /// A stored record's JSON form (`null` if its bytes no longer decode).
    pub(crate) fn cbor_json(cbor: &[u8]) -> serde_json::Value {
        atproto::cbor::decode_value(cbor).map(|v| atproto::json::to_json(&v)).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn rid_of_uri(&self, uri: &str) -> Result<Option<(RecordKey, RecordId)>> {
        let Some(key) = self.store.record_key(uri)? else { return Ok(None) };
        Ok(self.store.record_id(key)?.map(|id| (key, id)))
    }

    /// One page of `limit` items from `cf` under `prefix` after `cursor`, reading on while
    /// `keep` skips entries (hidden, filtered), for at most `max_reads` scans; the cursor is
    /// the last entry examined, so the next page starts where this one stopped.
    #[allow(clippy::too_many_arguments)] // one pager for every listing; each argument is one of its knobs
    pub(crate) fn kept_page<T>(
        &self,
        cf: &str,
        prefix: &[u8],
        cursor: Option<&str>,
        reverse: bool,
        limit: usize,
        max_reads: usize,
        mut keep: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        let mut after = cursor.map(parse_hex_cursor).transpose()?;
        let mut items = Vec::new();
        let mut last = None;
        for _ in 0..max_reads {
            let page = self.store.scan(cf, prefix, after.as_deref(), reverse, limit)?;
            for (k, v) in &page.items {
                last = Some(k.clone());
                if let Some(item) = keep(k, v)? {
                    items.push(item);
                    if items.len() == limit {
                        return Ok(Page { items, cursor: last.map(|k| hex_cursor(&k)) });
                    }
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(Page { items, cursor: None }),
            }
        }
        Ok(Page { items, cursor: last.map(|k| hex_cursor(&k)) })
    }

    pub(crate) fn actor_edges(&self, fwd_cf: &str, actor: ActorId, cursor: Option<&str>, limit: usize) -> Result<EdgePage> {
        let after = cursor.map(parse_hex_cursor).transpose()?;
        let page = self.store.scan(fwd_cf, &actor.bytes(), after.as_deref(), true, limit)?;
        let items = page.items.into_iter().filter_map(|(k, v)| Rkey::read(&k[4..]).map(|r| (r, v))).collect();
        Ok((items, page.next.map(|k| hex_cursor(&k))))
    }
}
