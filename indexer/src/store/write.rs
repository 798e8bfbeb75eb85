//! The one writer: turns indexed records and account events into key-value changes, all of
//! one ingest batch in one `WriteBatch` with the sources' cursors.
//!
//! Exactness rules:
//! - a commit whose rev is at or below the last applied rev of its repo is a replay and
//!   changes nothing;
//! - a create for a key that already holds a record first undoes that record (an update);
//! - a delete of a key that holds nothing changes nothing;
//! - a second like (or repost, follow, block) by one author of one subject is kept for
//!   deletes but not counted twice, as the reference AppView's unique index does.
//!
//! Within a batch, reads see the batch's own writes through an overlay, so a create and a
//! delete of one URI in one batch apply in stream order.

use std::collections::HashMap;
use std::sync::Arc;

use atproto::syntax::{AtUri, Tid};
use atproto::Cid;
use rocksdb::WriteBatch;

use super::keys::{cat, ActorId, CollId, RecordId, RecordKey, Rkey, INTERNED_RKEY};
use super::rows::{self, AccountStatus, ActorRow, DocRow, LinkRow, NotifRow};
use super::{Result, Store, StoreError};
use crate::index::{self, edge_record, EdgeKind, Facts, Indexed, PostFacts};
use crate::search::SearchOp;

/// Kinds of counts (`count` family key prefix).
pub mod count {
    pub const LIKES: u8 = 1;
    pub const REPOSTS: u8 = 2;
    pub const REPLIES: u8 = 3;
    pub const QUOTES: u8 = 4;
    pub const FOLLOWERS: u8 = 5;
    pub const FOLLOWS: u8 = 6;
    pub const POSTS: u8 = 7;
    /// Records currently indexed, per collection id.
    pub const RECORDS: u8 = 8;
    /// Records skipped as invalid, per collection id (a running total).
    pub const INVALID: u8 = 9;
}

/// Why a notification was made (`notif` key suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    Like = 1,
    Repost = 2,
    Follow = 3,
    Reply = 4,
    Mention = 5,
    Quote = 6,
}

impl Reason {
    pub fn from_u8(b: u8) -> Option<Reason> {
        Some(match b {
            1 => Reason::Like,
            2 => Reason::Repost,
            3 => Reason::Follow,
            4 => Reason::Reply,
            5 => Reason::Mention,
            6 => Reason::Quote,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Like => "like",
            Reason::Repost => "repost",
            Reason::Follow => "follow",
            Reason::Reply => "reply",
            Reason::Mention => "mention",
            Reason::Quote => "quote",
        }
    }
    /// The collection of the record that caused it.
    pub fn collection(self) -> &'static str {
        match self {
            Reason::Like => index::LIKE,
            Reason::Repost => index::REPOST,
            Reason::Follow => index::FOLLOW,
            Reason::Reply | Reason::Mention | Reason::Quote => index::POST,
        }
    }
    /// The edge whose record caused it, for likes, reposts and follows.
    pub fn edge_kind(self) -> Option<EdgeKind> {
        match self {
            Reason::Like => Some(EdgeKind::Like),
            Reason::Repost => Some(EdgeKind::Repost),
            Reason::Follow => Some(EdgeKind::Follow),
            Reason::Reply | Reason::Mention | Reason::Quote => None,
        }
    }
}

/// Intern tables (`intern` family prefixes: forward by name, back by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Coll,
    Path,
    Rkey,
    Target,
}

impl Table {
    fn tags(self) -> (u8, u8, &'static str) {
        match self {
            Table::Coll => (b'c', b'C', "next/coll"),
            Table::Path => (b'p', b'P', "next/path"),
            Table::Rkey => (b'r', b'R', "next/rkey"),
            Table::Target => (b't', b'T', "next/target"),
        }
    }
    fn limit(self) -> u64 {
        match self {
            Table::Coll | Table::Path => u16::MAX as u64,
            Table::Rkey => (1 << 62) - 1,
            Table::Target => (1 << 40) - 1,
        }
    }
}

pub(crate) fn intern_key(table: Table, name: &str) -> Vec<u8> {
    cat(&[&[table.tags().0], name.as_bytes()])
}
pub(crate) fn intern_back_key(table: Table, id: u64) -> Vec<u8> {
    cat(&[&[table.tags().1], &id.to_be_bytes()])
}
pub(crate) fn cursor_key(source: &str) -> Vec<u8> {
    cat(&[b"cursor/", source.as_bytes()])
}
pub(crate) fn count_key(kind: u8, id: &[u8]) -> Vec<u8> {
    cat(&[&[kind], id])
}

/// The forward and reverse column families of an edge kind.
pub(crate) fn edge_cfs(kind: EdgeKind) -> (&'static str, &'static str) {
    match kind {
        EdgeKind::Like => ("like_fwd", "like_rev"),
        EdgeKind::Repost => ("repost_fwd", "repost_rev"),
        EdgeKind::Follow => ("follow_fwd", "follow_rev"),
        EdgeKind::Block => ("block_fwd", "block_rev"),
        EdgeKind::ListItem => ("listitem_fwd", "listitem_rev"),
    }
}

pub(crate) fn edge_collection(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Like => index::LIKE,
        EdgeKind::Repost => index::REPOST,
        EdgeKind::Follow => index::FOLLOW,
        EdgeKind::Block => index::BLOCK,
        EdgeKind::ListItem => index::LISTITEM,
    }
}

pub(crate) fn edge_kind(collection: &str) -> Option<EdgeKind> {
    Some(match collection {
        index::LIKE => EdgeKind::Like,
        index::REPOST => EdgeKind::Repost,
        index::FOLLOW => EdgeKind::Follow,
        index::BLOCK => EdgeKind::Block,
        index::LISTITEM => EdgeKind::ListItem,
        _ => return None,
    })
}

/// Paths of typed records already answered by a typed index; their links are not also put
/// in the generic backlink family.
fn typed_path(collection: &str, path: &str) -> bool {
    matches!(
        (collection, path),
        (index::LIKE | index::REPOST, ".subject.uri")
            | (index::FOLLOW | index::BLOCK, ".subject")
            | (index::LISTITEM, ".list")
            | (index::POST, ".reply.parent.uri" | ".embed.record.uri" | ".embed.record.record.uri")
    )
}

/// What applying one commit did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub created: u64,
    pub deleted: u64,
    /// Records that did not decode as their collection: `(collection, why)`.
    pub invalid: Vec<(String, String)>,
    /// The commit was at or below the repo's last applied rev.
    pub replay: bool,
}

/// Next-id counters, persisted in `meta` with each batch.
#[derive(Debug, Clone, Default)]
struct Counters {
    actor: u32,
    rid: u64,
    search: u64,
    tables: HashMap<Table, u64>,
}

/// The single writer. Holds the id counters and read caches of interned values.
pub struct Writer {
    store: Arc<Store>,
    next: Counters,
    actors: moka::sync::Cache<String, ActorId>,
    interned: moka::sync::Cache<(Table, String), u64>,
}

fn meta_u64(store: &Store, key: &str) -> Result<u64> {
    Ok(store.db.get_cf(store.cf("meta"), key)?.map_or(0, |v| v.as_slice().try_into().map(u64::from_be_bytes).unwrap_or(0)))
}

impl Writer {
    pub fn new(store: Arc<Store>) -> Result<Writer> {
        let mut w = Writer { store, next: Counters::default(), actors: moka::sync::Cache::new(1_000_000), interned: moka::sync::Cache::new(1_000_000) };
        w.load_counters()?;
        Ok(w)
    }

    fn load_counters(&mut self) -> Result<()> {
        let s = &self.store;
        let mut next =
            Counters { actor: meta_u64(s, "next/actor")? as u32, rid: meta_u64(s, "next/rid")?, search: meta_u64(s, "next/search")?, tables: HashMap::new() };
        for t in [Table::Coll, Table::Path, Table::Rkey, Table::Target] {
            next.tables.insert(t, meta_u64(s, t.tags().2)?);
        }
        self.next = next;
        Ok(())
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn batch(&mut self) -> Batch<'_> {
        let next = self.next.clone();
        Batch {
            w: self,
            wb: WriteBatch::default(),
            overlay: HashMap::new(),
            next,
            new_interned: Vec::new(),
            new_actors: Vec::new(),
            out: BatchOutput::default(),
        }
    }
}

/// What a committed batch hands to the later stages.
#[derive(Debug, Default)]
pub struct BatchOutput {
    /// Search changes, with their `search_queue` keys (deleted once Tantivy commits them).
    pub search: Vec<(u64, SearchOp)>,
    /// Actors whose handles need checking.
    pub identity: Vec<ActorId>,
    /// Records created and deleted, by collection.
    pub created: HashMap<&'static str, u64>,
    pub deleted: HashMap<&'static str, u64>,
    pub invalid: HashMap<&'static str, u64>,
    /// DIDs queued for a backfill.
    pub backfill: Vec<String>,
}

/// One ingest batch.
pub struct Batch<'w> {
    w: &'w mut Writer,
    wb: WriteBatch,
    /// Per column family: key → the batch's value (`None`: deleted in this batch).
    overlay: HashMap<&'static str, HashMap<Vec<u8>, Option<Vec<u8>>>>,
    next: Counters,
    new_interned: Vec<((Table, String), u64)>,
    new_actors: Vec<(String, ActorId)>,
    out: BatchOutput,
}

fn now_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl<'w> Batch<'w> {
    fn store(&self) -> &Store {
        &self.w.store
    }

    pub(crate) fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.overlay.get(cf).and_then(|m| m.get(key)) {
            return Ok(v.clone());
        }
        Ok(self.store().db.get_cf(self.store().cf(cf), key)?)
    }

    /// Whether this batch wrote `key` (so it must not be cached before it commits).
    fn in_overlay(&self, cf: &str, key: &[u8]) -> bool {
        self.overlay.get(cf).is_some_and(|m| m.contains_key(key))
    }

    pub(crate) fn put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) {
        self.wb.put_cf(self.w.store.cf(cf), key, value);
        self.overlay.entry(cf).or_default().insert(key.to_vec(), Some(value.to_vec()));
    }

    pub(crate) fn delete(&mut self, cf: &'static str, key: &[u8]) {
        self.wb.delete_cf(self.w.store.cf(cf), key);
        self.overlay.entry(cf).or_default().insert(key.to_vec(), None);
    }

    fn add_count(&mut self, kind: u8, id: &[u8], delta: i64) {
        self.wb.merge_cf(self.w.store.cf("count"), count_key(kind, id), delta.to_le_bytes());
    }

    /// Moves a source's cursor forward in this batch (never back: events a backfill held are
    /// applied after newer ones).
    pub fn set_cursor(&mut self, source: &str, seq: i64) -> Result<()> {
        let key = cursor_key(source);
        let current = self.get("meta", &key)?.and_then(|v| v.as_slice().try_into().ok().map(i64::from_be_bytes));
        if current.is_none_or(|c| seq > c) {
            self.put("meta", &key, &seq.to_be_bytes());
        }
        Ok(())
    }

    /// The last commit rev applied for `actor`.
    pub fn rev_of(&self, actor: ActorId) -> Result<Option<Vec<u8>>> {
        self.get("rev", &actor.bytes())
    }

    /// Queues `did` for a backfill (a `#sync`, or a listed repository).
    pub fn queue_backfill(&mut self, did: &str) {
        self.put("backfill_queue", did.as_bytes(), &[]);
        self.out.backfill.push(did.to_owned());
    }

    /// Replaces an account's records with those of its repository (a `getRepo` CAR) and sets
    /// its rev; takes it off the backfill queue. A CAR that does not read is reported and
    /// changes nothing but the queue.
    pub fn apply_repo(&mut self, did: &str, car: &[u8]) -> Result<Result<u64, String>> {
        self.delete("backfill_queue", did.as_bytes());
        let (rev, records) = match crate::backfill::repo_records(car) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let actor = self.actor(did)?;
        for (key, collection) in self.account_records(actor, usize::MAX)? {
            self.delete_key(key, &collection)?;
        }
        let mut n = 0;
        for (collection, rkey, cid, bytes) in records {
            if self.put_record(did, &collection, &rkey, cid, &bytes)?.is_ok() {
                n += 1;
            }
        }
        self.put("rev", &actor.bytes(), rev.as_bytes());
        Ok(Ok(n))
    }

    /// Takes `did` off the backfill queue without changing its records (the fetch failed).
    pub fn drop_backfill(&mut self, did: &str) {
        self.delete("backfill_queue", did.as_bytes());
    }

    /// Up to `limit` of an account's stored records, with their collections (read from the
    /// database, so call it before this batch changes the account).
    fn account_records(&self, actor: ActorId, limit: usize) -> Result<Vec<(RecordKey, String)>> {
        let store = &self.w.store;
        let mut found: Vec<(RecordKey, String)> = Vec::new();
        let prefix = actor.bytes();
        for cf in ["doc", "link_fwd"] {
            for item in store.db.prefix_iterator_cf(store.cf(cf), prefix) {
                let (k, _) = item?;
                if !k.starts_with(&prefix) || found.len() >= limit {
                    break;
                }
                if let Some(key) = RecordKey::read(&k) {
                    if found.iter().any(|(f, _)| *f == key) {
                        continue;
                    }
                    let coll = self.interned_name(Table::Coll, key.coll.0 as u64)?;
                    found.push((key, coll));
                }
            }
        }
        for kind in [EdgeKind::Like, EdgeKind::Repost, EdgeKind::Follow, EdgeKind::Block, EdgeKind::ListItem] {
            let collection = edge_collection(kind);
            let Some(coll) = self.find_interned(Table::Coll, collection)? else { continue };
            for item in store.db.prefix_iterator_cf(store.cf(edge_cfs(kind).0), prefix) {
                let (k, _) = item?;
                if !k.starts_with(&prefix) || found.len() >= limit {
                    break;
                }
                let rkey = Rkey::read(&k[4..]).ok_or(StoreError::Corrupt { what: "edge", why: "short key".into() })?;
                found.push((RecordKey { actor, coll: CollId(coll as u16), rkey }, collection.to_owned()));
            }
        }
        Ok(found)
    }

    // ---- interning ----

    /// The id of `did`, interning it (and queueing its handle check) when new.
    pub fn actor(&mut self, did: &str) -> Result<ActorId> {
        if let Some(id) = self.find_actor(did)? {
            return Ok(id);
        }
        let id = self.next.actor.checked_add(1).ok_or(StoreError::Exhausted("actors"))?;
        self.next.actor = id;
        let id = ActorId(id);
        self.put("did", did.as_bytes(), &id.bytes());
        let row = ActorRow { did: did.to_owned(), handle: None, status: AccountStatus::Active, first_seen: now_micros() };
        self.put("actor", &id.bytes(), &rows::encode(&row));
        self.put("identity_queue", &id.bytes(), &[]);
        self.out.identity.push(id);
        self.new_actors.push((did.to_owned(), id));
        Ok(id)
    }

    pub fn find_actor(&self, did: &str) -> Result<Option<ActorId>> {
        if let Some(id) = self.w.actors.get(did) {
            return Ok(Some(id));
        }
        let found = self.get("did", did.as_bytes())?.and_then(|v| ActorId::read(&v));
        if let Some(id) = found {
            if !self.in_overlay("did", did.as_bytes()) {
                self.w.actors.insert(did.to_owned(), id);
            }
        }
        Ok(found)
    }

    fn intern(&mut self, table: Table, name: &str) -> Result<u64> {
        if let Some(id) = self.find_interned(table, name)? {
            return Ok(id);
        }
        let next = self.next.tables.entry(table).or_insert(0);
        if *next >= table.limit() {
            return Err(StoreError::Exhausted("interned names"));
        }
        *next += 1;
        let id = *next;
        self.put("intern", &intern_key(table, name), &id.to_be_bytes());
        self.put("intern", &intern_back_key(table, id), name.as_bytes());
        self.new_interned.push(((table, name.to_owned()), id));
        Ok(id)
    }

    fn find_interned(&self, table: Table, name: &str) -> Result<Option<u64>> {
        let cache_key = (table, name.to_owned());
        if let Some(id) = self.w.interned.get(&cache_key) {
            return Ok(Some(id));
        }
        let key = intern_key(table, name);
        let found = self.get("intern", &key)?.and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes));
        if let (Some(id), false) = (found, self.in_overlay("intern", &key)) {
            self.w.interned.insert(cache_key, id);
        }
        Ok(found)
    }

    pub fn coll(&mut self, nsid: &str) -> Result<CollId> {
        Ok(CollId(self.intern(Table::Coll, nsid)? as u16))
    }

    pub fn rkey(&mut self, rkey: &str) -> Result<Rkey> {
        if let Some(r) = Rkey::from_tid_str(rkey) {
            return Ok(r);
        }
        Ok(Rkey(INTERNED_RKEY | self.intern(Table::Rkey, rkey)?))
    }

    fn find_rkey(&self, rkey: &str) -> Result<Option<Rkey>> {
        if let Some(r) = Rkey::from_tid_str(rkey) {
            return Ok(Some(r));
        }
        Ok(self.find_interned(Table::Rkey, rkey)?.map(|id| Rkey(INTERNED_RKEY | id)))
    }

    /// The record key of `did`/`collection`/`rkey`, interning what is new.
    pub fn record_key(&mut self, did: &str, collection: &str, rkey: &str) -> Result<RecordKey> {
        Ok(RecordKey { actor: self.actor(did)?, coll: self.coll(collection)?, rkey: self.rkey(rkey)? })
    }

    fn find_record_key(&self, did: &str, collection: &str, rkey: &str) -> Result<Option<RecordKey>> {
        let (Some(actor), Some(coll), Some(rkey)) = (self.find_actor(did)?, self.find_interned(Table::Coll, collection)?, self.find_rkey(rkey)?) else {
            return Ok(None);
        };
        Ok(Some(RecordKey { actor, coll: CollId(coll as u16), rkey }))
    }

    /// The record id of `key`, interning it when new.
    pub fn record_id(&mut self, key: RecordKey) -> Result<RecordId> {
        if let Some(v) = self.get("rid", &key.bytes())? {
            return RecordId::read(&v).ok_or(StoreError::Corrupt { what: "rid", why: "short value".into() });
        }
        if self.next.rid >= (1 << 40) - 1 {
            return Err(StoreError::Exhausted("records"));
        }
        self.next.rid += 1;
        let id = RecordId(self.next.rid);
        self.put("rid", &key.bytes(), &id.bytes());
        self.put("rid_key", &id.bytes(), &key.bytes());
        Ok(id)
    }

    /// The record id of an AT-URI naming a record (`at://did/collection/rkey`), interning it;
    /// `None` when the URI does not name a record by DID.
    pub fn uri_id(&mut self, uri: &str) -> Result<Option<(RecordKey, RecordId)>> {
        let Some((did, coll, rkey)) = split_uri(uri) else { return Ok(None) };
        let key = self.record_key(&did, &coll, &rkey)?;
        Ok(Some((key, self.record_id(key)?)))
    }

    // ---- records ----

    /// Applies one `#commit`: every operation, in order, with its record from the CAR slice.
    pub fn apply_commit(&mut self, ev: &atproto::firehose::CommitEvent, blocks: &impl atproto::blockstore::BlockStore) -> Result<Applied> {
        let mut applied = Applied::default();
        let actor = self.actor(&ev.repo)?;
        if let Some(last) = self.get("rev", &actor.bytes())? {
            if ev.rev.as_bytes() <= last.as_slice() {
                applied.replay = true;
                return Ok(applied);
            }
        }
        self.put("rev", &actor.bytes(), ev.rev.as_bytes());
        for op in &ev.ops {
            let Some((collection, rkey)) = op.path.split_once('/') else {
                applied.invalid.push(("(bad path)".into(), op.path.clone()));
                continue;
            };
            match (op.action.as_str(), op.cid) {
                ("create" | "update", Some(cid)) => {
                    let bytes = match blocks.get(&cid) {
                        Ok(Some(b)) => b,
                        _ => {
                            applied.invalid.push((collection.into(), format!("record block {cid} is missing")));
                            applied.deleted += self.delete_record(&ev.repo, collection, rkey)? as u64;
                            continue;
                        }
                    };
                    match self.put_record(&ev.repo, collection, rkey, cid, &bytes)? {
                        Ok(()) => applied.created += 1,
                        Err(why) => applied.invalid.push((collection.into(), why)),
                    }
                }
                ("delete", _) => applied.deleted += self.delete_record(&ev.repo, collection, rkey)? as u64,
                (action, _) => applied.invalid.push((collection.into(), format!("action {action} without a cid"))),
            }
        }
        Ok(applied)
    }

    /// Indexes a record (replacing whatever the key held). The inner `Err` is an invalid
    /// record, counted and skipped (the key then holds nothing).
    pub fn put_record(&mut self, did: &str, collection: &str, rkey: &str, cid: Cid, cbor: &[u8]) -> Result<Result<(), String>> {
        self.delete_record(did, collection, rkey)?;
        let indexed = match index::record(collection, cbor) {
            Ok(i) => i,
            Err(e) => {
                let coll = self.coll(collection)?;
                self.add_count(count::INVALID, &coll.bytes(), 1);
                *self.out.invalid.entry(metric_collection(collection)).or_default() += 1;
                return Ok(Err(e.to_string()));
            }
        };
        let key = self.record_key(did, collection, rkey)?;
        match self.index_record(key, did, collection, rkey, cid, cbor, &indexed)? {
            Ok(()) => {
                self.add_count(count::RECORDS, &key.coll.bytes(), 1);
                *self.out.created.entry(metric_collection(collection)).or_default() += 1;
                Ok(Ok(()))
            }
            Err(why) => {
                self.add_count(count::INVALID, &key.coll.bytes(), 1);
                *self.out.invalid.entry(metric_collection(collection)).or_default() += 1;
                Ok(Err(why))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn index_record(
        &mut self,
        key: RecordKey,
        did: &str,
        collection: &str,
        rkey: &str,
        cid: Cid,
        cbor: &[u8],
        indexed: &Indexed,
    ) -> Result<Result<(), String>> {
        // Resolve the subject first: an edge to something that is not a record by DID is invalid.
        if let Some((kind, subject)) = indexed.facts.edge() {
            let Some(value) = self.edge_value(kind, &indexed.facts, subject)? else {
                return Ok(Err(format!("subject {subject:?} is not a record or DID")));
            };
            self.add_edge(kind, key, &value, (cid, cbor))?;
        }
        if indexed.facts.keeps_document() {
            let row = DocRow { indexed_at: now_micros(), cid: cid.to_bytes(), cbor: cbor.to_vec() };
            self.put("doc", &key.bytes(), &rows::encode(&row));
        }
        match &indexed.facts {
            Facts::Post(post) => self.add_post(key, did, collection, rkey, post)?,
            Facts::Profile => {
                self.queue_search(SearchOp::Actor { did: did.to_owned() })?;
            }
            _ => {}
        }
        let mut link_row: LinkRow = Vec::new();
        for link in indexed.links.iter().filter(|l| !typed_path(collection, &l.path)) {
            let target = self.intern(Table::Target, &link.target)?;
            let path = self.intern(Table::Path, &link.path)? as u16;
            let rid = self.record_id(key)?;
            self.put("link", &link_key(target, key.coll, path, rid), &[]);
            link_row.push((target, path));
        }
        // A record of another collection is known by this entry alone, even with no links,
        // so that its delete is seen (and counted) too.
        if !link_row.is_empty() || matches!(indexed.facts, Facts::Other) {
            self.put("link_fwd", &key.bytes(), &rows::encode(&link_row));
        }
        Ok(Ok(()))
    }

    /// The forward value of an edge: the subject's id (and the list's, for list items).
    fn edge_value(&mut self, kind: EdgeKind, facts: &Facts, subject: &str) -> Result<Option<Vec<u8>>> {
        Ok(match kind {
            EdgeKind::Like | EdgeKind::Repost => self.uri_id(subject)?.map(|(_, id)| id.bytes().to_vec()),
            EdgeKind::Follow | EdgeKind::Block => {
                if subject.parse::<atproto::syntax::Did>().is_err() {
                    return Ok(None);
                }
                Some(self.actor(subject)?.bytes().to_vec())
            }
            EdgeKind::ListItem => {
                let Facts::ListItem { list, .. } = facts else { return Ok(None) };
                let Some((_, list_id)) = self.uri_id(list)? else { return Ok(None) };
                Some(cat(&[&list_id.bytes(), &self.actor(subject)?.bytes()]))
            }
        })
    }

    /// The reverse key of an edge from its forward value and author.
    fn edge_rev_key(kind: EdgeKind, author: ActorId, value: &[u8]) -> Vec<u8> {
        match kind {
            // `[list][subject]`: the list already names its owner.
            EdgeKind::ListItem => value.to_vec(),
            _ => cat(&[value, &author.bytes()]),
        }
    }

    fn add_edge(&mut self, kind: EdgeKind, key: RecordKey, value: &[u8], record: (Cid, &[u8])) -> Result<()> {
        let (fwd, rev) = edge_cfs(kind);
        self.put(fwd, &cat(&[&key.actor.bytes(), &key.rkey.bytes()]), value);
        let rev_key = Self::edge_rev_key(kind, key.actor, value);
        if self.get(rev, &rev_key)?.is_some() {
            // A duplicate of an edge this author already has: remembered for its delete only.
            return Ok(());
        }
        self.put(rev, &rev_key, &key.rkey.bytes());
        self.edge_effects(kind, key, value, Some(record))
    }

    /// Counts and notifications of an edge: added with its record, or removed (`None`).
    fn edge_effects(&mut self, kind: EdgeKind, key: RecordKey, value: &[u8], record: Option<(Cid, &[u8])>) -> Result<()> {
        let sign = if record.is_some() { 1 } else { -1 };
        match kind {
            EdgeKind::Like | EdgeKind::Repost => {
                let (counted, reason) = if kind == EdgeKind::Like { (count::LIKES, Reason::Like) } else { (count::REPOSTS, Reason::Repost) };
                self.add_count(counted, &value[..5], sign);
                if let Some(subject) = RecordId::read(value) {
                    if let Some(author) = self.record_author(subject)? {
                        self.notify(author, key, reason, record.map(|r| Self::edge_notif(kind, key, r, Some(subject))));
                    }
                }
            }
            EdgeKind::Follow => {
                let subject = ActorId::read(value).ok_or(StoreError::Corrupt { what: "follow", why: "short value".into() })?;
                self.add_count(count::FOLLOWERS, &subject.bytes(), sign);
                self.add_count(count::FOLLOWS, &key.actor.bytes(), sign);
                self.notify(subject, key, Reason::Follow, record.map(|r| Self::edge_notif(kind, key, r, None)));
            }
            EdgeKind::Block | EdgeKind::ListItem => {}
        }
        Ok(())
    }

    fn record_author(&self, id: RecordId) -> Result<Option<ActorId>> {
        Ok(self.get("rid_key", &id.bytes())?.and_then(|k| RecordKey::read(&k)).map(|k| k.actor))
    }

    /// Adds or removes (`None`) a notification.
    fn notify(&mut self, recipient: ActorId, source: RecordKey, reason: Reason, row: Option<NotifRow>) {
        if recipient == source.actor {
            return;
        }
        let key = cat(&[&recipient.bytes(), &source.rkey.bytes(), &source.actor.bytes(), &[reason as u8]]);
        match row {
            Some(row) => self.put("notif", &key, &rows::encode(&row)),
            None => self.delete("notif", &key),
        }
    }

    /// The notification row of an edge record: compact when [`edge_record::compact`] rebuilds
    /// it exactly from a subject the store prints back the same, whole otherwise.
    fn edge_notif(kind: EdgeKind, key: RecordKey, (cid, cbor): (Cid, &[u8]), subject: Option<RecordId>) -> NotifRow {
        let subject = subject.map(|s| s.0);
        let canonical = |s: &str| match kind {
            EdgeKind::Follow => true,
            _ => split_uri(s).is_some_and(|(d, c, r)| format!("at://{d}/{c}/{r}") == s),
        };
        match edge_record::compact(kind, &cid, cbor, key.rkey.micros()) {
            Some((record, s)) if key.rkey.tid().is_some() && canonical(&s) => NotifRow::Edge { record, subject },
            _ => NotifRow::Whole { cid: cid.to_bytes(), record: cbor.to_vec(), subject },
        }
    }

    fn add_post(&mut self, key: RecordKey, did: &str, collection: &str, rkey: &str, post: &PostFacts) -> Result<()> {
        let id = self.record_id(key)?;
        self.post_effects(key, id, post, true)?;
        self.queue_search(SearchOp::Post { uri: format!("at://{did}/{collection}/{rkey}") })
    }

    /// The reply, quote, mention and count effects of a post: added or removed.
    fn post_effects(&mut self, key: RecordKey, id: RecordId, post: &PostFacts, adding: bool) -> Result<()> {
        let sign = if adding { 1 } else { -1 };
        let row = |subject: Option<RecordId>| adding.then_some(NotifRow::Post { subject: subject.map(|s| s.0) });
        self.add_count(count::POSTS, &key.actor.bytes(), sign);
        let mut notified = Vec::new();
        if let Some(parent) = &post.reply_parent {
            if let Some((parent_key, parent_id)) = self.uri_id(parent)? {
                let k = cat(&[&parent_id.bytes(), &id.bytes()]);
                if sign > 0 {
                    self.put("reply", &k, &[])
                } else {
                    self.delete("reply", &k)
                }
                self.add_count(count::REPLIES, &parent_id.bytes(), sign);
                self.notify(parent_key.actor, key, Reason::Reply, row(Some(parent_id)));
                notified.push(parent_key.actor);
            }
        }
        if let Some(quoted) = &post.quote {
            if let Some((quoted_key, quoted_id)) = self.uri_id(quoted)? {
                let k = cat(&[&quoted_id.bytes(), &id.bytes()]);
                if sign > 0 {
                    self.put("quote", &k, &[])
                } else {
                    self.delete("quote", &k)
                }
                self.add_count(count::QUOTES, &quoted_id.bytes(), sign);
                if !notified.contains(&quoted_key.actor) {
                    self.notify(quoted_key.actor, key, Reason::Quote, row(Some(quoted_id)));
                    notified.push(quoted_key.actor);
                }
            }
        }
        for did in &post.mentions {
            let mentioned = self.actor(did)?;
            if !notified.contains(&mentioned) {
                self.notify(mentioned, key, Reason::Mention, row(None));
                notified.push(mentioned);
            }
        }
        Ok(())
    }

    /// Removes whatever `did`/`collection`/`rkey` holds; whether it held anything.
    pub fn delete_record(&mut self, did: &str, collection: &str, rkey: &str) -> Result<bool> {
        let Some(key) = self.find_record_key(did, collection, rkey)? else { return Ok(false) };
        self.delete_key(key, collection)
    }

    fn delete_key(&mut self, key: RecordKey, collection: &str) -> Result<bool> {
        let mut held = false;
        if let Some(kind) = edge_kind(collection) {
            let (fwd, rev) = edge_cfs(kind);
            let fwd_key = cat(&[&key.actor.bytes(), &key.rkey.bytes()]);
            if let Some(value) = self.get(fwd, &fwd_key)? {
                held = true;
                self.delete(fwd, &fwd_key);
                let rev_key = Self::edge_rev_key(kind, key.actor, &value);
                // Only the record the reverse entry names undoes it (a duplicate does not).
                if self.get(rev, &rev_key)?.as_deref() == Some(&key.rkey.bytes()[..]) {
                    self.delete(rev, &rev_key);
                    self.edge_effects(kind, key, &value, None)?;
                }
            }
        }
        if let Some(doc) = self.get("doc", &key.bytes())? {
            held = true;
            self.delete("doc", &key.bytes());
            let doc: DocRow = rows::decode("doc", &doc)?;
            let did = self.actor_did(key.actor)?;
            if collection == index::POST {
                if let Ok(Facts::Post(post)) = index::facts(index::POST, &doc.cbor) {
                    let id = self.record_id(key)?;
                    self.post_effects(key, id, &post, false)?;
                }
                let rkey = self.rkey_string(key.rkey)?;
                self.queue_search(SearchOp::Post { uri: format!("at://{did}/{collection}/{rkey}") })?;
            } else if collection == index::PROFILE {
                self.queue_search(SearchOp::Actor { did })?;
            }
        }
        if let Some(links) = self.get("link_fwd", &key.bytes())? {
            held = true;
            self.delete("link_fwd", &key.bytes());
            let rid = self.record_id(key)?;
            for (target, path) in rows::decode::<LinkRow>("link_fwd", &links)? {
                self.delete("link", &link_key(target, key.coll, path, rid));
            }
        }
        if held {
            self.add_count(count::RECORDS, &key.coll.bytes(), -1);
            *self.out.deleted.entry(metric_collection(collection)).or_default() += 1;
        }
        Ok(held)
    }

    fn actor_did(&self, id: ActorId) -> Result<String> {
        let row = self.get("actor", &id.bytes())?.ok_or(StoreError::Corrupt { what: "actor", why: format!("no row for {id:?}") })?;
        Ok(rows::decode::<ActorRow>("actor", &row)?.did)
    }

    pub(crate) fn rkey_string(&self, rkey: Rkey) -> Result<String> {
        if let Some(tid) = rkey.tid() {
            return Ok(Tid::from_u64(tid).as_str().to_owned());
        }
        let back = self.get("intern", &intern_back_key(Table::Rkey, rkey.0 & !INTERNED_RKEY))?;
        back.map(|b| String::from_utf8_lossy(&b).into_owned()).ok_or(StoreError::Corrupt { what: "rkey", why: "unknown id".into() })
    }

    fn queue_search(&mut self, op: SearchOp) -> Result<()> {
        self.next.search += 1;
        let id = self.next.search;
        self.put("search_queue", &id.to_be_bytes(), &rows::encode(&op));
        self.out.search.push((id, op));
        Ok(())
    }

    // ---- accounts and identity ----

    /// Applies an `#account` event's status. Returns whether the account's content must now
    /// be removed (status `deleted`), which the caller does with [`Writer::delete_account_chunk`].
    pub fn set_status(&mut self, did: &str, status: AccountStatus) -> Result<bool> {
        let actor = self.actor(did)?;
        let mut row = self.actor_row(actor)?;
        row.status = status;
        self.put("actor", &actor.bytes(), &rows::encode(&row));
        Ok(status == AccountStatus::Deleted)
    }

    pub(crate) fn actor_row(&self, actor: ActorId) -> Result<ActorRow> {
        let row = self.get("actor", &actor.bytes())?.ok_or(StoreError::Corrupt { what: "actor", why: format!("no row for {actor:?}") })?;
        rows::decode("actor", &row)
    }

    /// Queues a handle check for `did` (an `#identity` event).
    pub fn queue_identity(&mut self, did: &str) -> Result<()> {
        let actor = self.actor(did)?;
        self.put("identity_queue", &actor.bytes(), &[]);
        if !self.out.identity.contains(&actor) {
            self.out.identity.push(actor);
        }
        Ok(())
    }

    /// Records the outcome of a handle check and takes the actor off the queue.
    pub fn set_handle(&mut self, actor: ActorId, handle: Option<String>) -> Result<()> {
        let mut row = self.actor_row(actor)?;
        if row.handle != handle {
            if let Some(old) = &row.handle {
                let key = super::read::handle_key(old);
                if self.get("intern", &key)?.as_deref() == Some(&actor.bytes()[..]) {
                    self.delete("intern", &key);
                }
            }
            if let Some(new) = &handle {
                self.put("intern", &super::read::handle_key(new), &actor.bytes());
            }
            row.handle = handle.clone();
            self.put("actor", &actor.bytes(), &rows::encode(&row));
            self.queue_search(SearchOp::Actor { did: row.did.clone() })?;
        }
        self.delete("identity_queue", &actor.bytes());
        Ok(())
    }

    /// Deletes search-queue entries Tantivy has committed.
    pub fn search_done(&mut self, ids: &[u64]) {
        for id in ids {
            self.delete("search_queue", &id.to_be_bytes());
        }
    }

    /// Commits the batch: every change, the id counters, and the caches of new ids.
    pub fn commit(self) -> Result<BatchOutput> {
        let Batch { w, mut wb, next, new_interned, new_actors, out, .. } = self;
        let meta = w.store.cf("meta");
        wb.put_cf(meta, "next/actor", (next.actor as u64).to_be_bytes());
        wb.put_cf(meta, "next/rid", next.rid.to_be_bytes());
        wb.put_cf(meta, "next/search", next.search.to_be_bytes());
        for (t, v) in &next.tables {
            wb.put_cf(meta, t.tags().2, v.to_be_bytes());
        }
        if let Err(e) = w.store.db.write(wb) {
            // Nothing was written: forget ids handed out in this batch.
            w.load_counters()?;
            return Err(e.into());
        }
        w.next = next;
        for (did, id) in new_actors {
            w.actors.insert(did, id);
        }
        for (k, id) in new_interned {
            w.interned.insert(k, id);
        }
        Ok(out)
    }
}

impl Writer {
    /// Removes up to `limit` of a deleted account's records in one batch; `true` when none
    /// are left. Reads already hide the account, so this can run in chunks.
    pub fn delete_account_chunk(&mut self, did: &str, limit: usize) -> Result<(bool, BatchOutput)> {
        let mut batch = self.batch();
        let Some(actor) = batch.find_actor(did)? else { return Ok((true, batch.commit()?)) };
        let found = batch.account_records(actor, limit)?;
        let done = found.len() < limit;
        for (key, collection) in found {
            batch.delete_key(key, &collection)?;
        }
        if done {
            batch.delete("rev", &actor.bytes());
        }
        Ok((done, batch.commit()?))
    }
}

impl Batch<'_> {
    pub(crate) fn interned_name(&self, table: Table, id: u64) -> Result<String> {
        let v = self.get("intern", &intern_back_key(table, id))?.ok_or(StoreError::Corrupt { what: "intern", why: format!("no name for id {id}") })?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }
}

pub(crate) fn link_key(target: u64, coll: CollId, path: u16, source: RecordId) -> Vec<u8> {
    let t = RecordId(target).bytes();
    cat(&[&t, &coll.bytes(), &path.to_be_bytes(), &source.bytes()])
}

/// A record URI's DID, collection and rkey; `None` unless the authority is a DID.
pub fn split_uri(uri: &str) -> Option<(String, String, String)> {
    let parsed: AtUri = uri.parse().ok()?;
    let did = parsed.authority();
    if !did.starts_with("did:") {
        return None;
    }
    Some((did.to_owned(), parsed.collection()?.to_owned(), parsed.rkey()?.to_owned()))
}

/// The collection as a metric label: app.bsky's typed ones by name, the rest as `other`.
pub fn metric_collection(collection: &str) -> &'static str {
    index::typed_collection(collection).unwrap_or("other")
}
