//! Typed reads for the query layer and the later pipeline stages. Only the store decodes keys.

use atproto::syntax::Tid;

use super::keys::{cat, prefix_end, ActorId, CollId, RecordId, RecordKey, Rkey, INTERNED_RKEY};
use super::rows::{self, ActorRow, DocRow};
use super::write::{count_key, cursor_key, intern_back_key, intern_key, split_uri, Table};
use super::{read_i64, Result, Store};

/// One page of a prefix scan.
pub struct Page {
    pub items: Vec<(Vec<u8>, Vec<u8>)>,
    /// The last key returned, when more may follow.
    pub next: Option<Vec<u8>>,
}

impl Store {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    pub fn cursor(&self, source: &str) -> Result<Option<i64>> {
        Ok(self.get("meta", &cursor_key(source))?.and_then(|v| v.as_slice().try_into().ok().map(i64::from_be_bytes)))
    }

    pub fn actor_id(&self, did: &str) -> Result<Option<ActorId>> {
        Ok(self.get("did", did.as_bytes())?.and_then(|v| ActorId::read(&v)))
    }

    pub fn actor(&self, id: ActorId) -> Result<Option<ActorRow>> {
        self.get("actor", &id.bytes())?.map(|v| rows::decode("actor", &v)).transpose()
    }

    /// An actor by DID or by its verified handle.
    pub fn find_actor(&self, did_or_handle: &str) -> Result<Option<(ActorId, ActorRow)>> {
        let id = if did_or_handle.starts_with("did:") {
            self.actor_id(did_or_handle)?
        } else {
            self.get("intern", &handle_key(did_or_handle))?.and_then(|v| ActorId::read(&v))
        };
        let Some(id) = id else { return Ok(None) };
        Ok(self.actor(id)?.map(|row| (id, row)))
    }

    fn interned(&self, table: Table, name: &str) -> Result<Option<u64>> {
        Ok(self.get("intern", &intern_key(table, name))?.and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes)))
    }

    pub(crate) fn interned_name(&self, table: Table, id: u64) -> Result<Option<String>> {
        Ok(self.get("intern", &intern_back_key(table, id))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn coll_id(&self, nsid: &str) -> Result<Option<CollId>> {
        Ok(self.interned(Table::Coll, nsid)?.map(|v| CollId(v as u16)))
    }

    pub fn coll_name(&self, id: CollId) -> Result<Option<String>> {
        self.interned_name(Table::Coll, id.0 as u64)
    }

    pub fn path_id(&self, path: &str) -> Result<Option<u16>> {
        Ok(self.interned(Table::Path, path)?.map(|v| v as u16))
    }

    pub fn target_id(&self, target: &str) -> Result<Option<u64>> {
        self.interned(Table::Target, target)
    }

    pub fn rkey(&self, rkey: &str) -> Result<Option<Rkey>> {
        if let Some(r) = Rkey::from_tid_str(rkey) {
            return Ok(Some(r));
        }
        Ok(self.interned(Table::Rkey, rkey)?.map(|id| Rkey(INTERNED_RKEY | id)))
    }

    pub fn rkey_string(&self, rkey: Rkey) -> Result<String> {
        if let Some(tid) = rkey.tid() {
            return Ok(Tid::from_u64(tid).as_str().to_owned());
        }
        Ok(self.interned_name(Table::Rkey, rkey.0 & !INTERNED_RKEY)?.unwrap_or_default())
    }

    /// The key of a record URI, if every part of it is known.
    pub fn record_key(&self, uri: &str) -> Result<Option<RecordKey>> {
        let Some((did, coll, rkey)) = split_uri(uri) else { return Ok(None) };
        let (Some(actor), Some(coll), Some(rkey)) = (self.actor_id(&did)?, self.coll_id(&coll)?, self.rkey(&rkey)?) else {
            return Ok(None);
        };
        Ok(Some(RecordKey { actor, coll, rkey }))
    }

    pub fn record_id(&self, key: RecordKey) -> Result<Option<RecordId>> {
        Ok(self.get("rid", &key.bytes())?.and_then(|v| RecordId::read(&v)))
    }

    pub fn key_of(&self, id: RecordId) -> Result<Option<RecordKey>> {
        Ok(self.get("rid_key", &id.bytes())?.and_then(|v| RecordKey::read(&v)))
    }

    /// The AT-URI of a record key.
    pub fn uri(&self, key: RecordKey) -> Result<Option<String>> {
        let (Some(actor), Some(coll)) = (self.actor(key.actor)?, self.coll_name(key.coll)?) else { return Ok(None) };
        Ok(Some(format!("at://{}/{coll}/{}", actor.did, self.rkey_string(key.rkey)?)))
    }

    pub fn doc(&self, key: RecordKey) -> Result<Option<DocRow>> {
        self.get("doc", &key.bytes())?.map(|v| rows::decode("doc", &v)).transpose()
    }

    pub fn count(&self, kind: u8, id: &[u8]) -> Result<i64> {
        Ok(self.get("count", &count_key(kind, id))?.map_or(0, |v| read_i64(&v)))
    }

    /// A point read of any family (edge lookups by full key).
    pub fn raw(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(cf, key)
    }

    /// Up to `limit` entries under `prefix`, newest (highest key) first when `reverse`,
    /// starting after `after` (a key a previous page returned).
    pub fn scan(&self, cf: &str, prefix: &[u8], after: Option<&[u8]>, reverse: bool, limit: usize) -> Result<Page> {
        if reverse {
            return self.rev_cursor(cf).scan(prefix, after, limit);
        }
        use rocksdb::{Direction, IteratorMode};
        let mode = IteratorMode::From(after.unwrap_or(prefix), Direction::Forward);
        let mut items = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf), mode) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| *k == *a) {
                continue;
            }
            if items.len() == limit {
                return Ok(Page { next: items.last().map(|(k, _): &(Vec<u8>, Vec<u8>)| k.clone()), items });
            }
            items.push((k.to_vec(), v.to_vec()));
        }
        Ok(Page { items, next: None })
    }

    /// One iterator over `cf`, re-seeked for many short newest-first scans: a timeline reads
    /// one stream per followed account, and creating an iterator per scan cost more than the
    /// scan itself.
    pub fn rev_cursor(&self, cf: &str) -> RevCursor<'_> {
        RevCursor { it: self.db.raw_iterator_cf(self.cf(cf)) }
    }

    /// Every key of a queue family (`search_queue`, `identity_queue`), oldest first.
    pub fn queue(&self, cf: &str, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.scan(cf, &[], None, false, limit)?.items)
    }

    /// Records currently indexed per collection, and invalid records skipped per collection.
    pub fn collection_counts(&self) -> Result<Vec<(String, i64, i64)>> {
        let mut out = Vec::new();
        for item in self.scan("intern", b"c", None, false, usize::MAX)?.items {
            let Some(id) = item.1.as_slice().try_into().ok().map(u64::from_be_bytes) else { continue };
            let coll = CollId(id as u16);
            let name = String::from_utf8_lossy(&item.0[1..]).into_owned();
            let records = self.count(super::write::count::RECORDS, &coll.bytes())?;
            let invalid = self.count(super::write::count::INVALID, &coll.bytes())?;
            out.push((name, records, invalid));
        }
        Ok(out)
    }
}

/// See [`Store::rev_cursor`].
pub struct RevCursor<'a> {
    it: rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>,
}

impl RevCursor<'_> {
    /// Up to `limit` entries under `prefix`, highest key first, after `after`: the newest-first
    /// half of [`Store::scan`], on this iterator.
    pub fn scan(&mut self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page> {
        let end = prefix_end(prefix);
        match (after, &end) {
            (Some(a), _) => self.it.seek_for_prev(a),
            (None, Some(e)) => self.it.seek_for_prev(e),
            (None, None) => self.it.seek_to_last(),
        }
        let mut items: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while let (Some(k), Some(v)) = (self.it.key(), self.it.value()) {
            // Seeking to the prefix's end lands on that key if it exists, and `after` on itself.
            let skip = end.as_deref().is_some_and(|e| k >= e) || after.is_some_and(|a| k == a);
            if !skip {
                if !k.starts_with(prefix) {
                    break;
                }
                if items.len() == limit {
                    return Ok(Page { next: items.last().map(|(k, _)| k.clone()), items });
                }
                items.push((k.to_vec(), v.to_vec()));
            }
            self.it.prev();
        }
        self.it.status()?;
        Ok(Page { items, next: None })
    }
}

/// A verified handle's key in the `intern` family: `h` and the lowercased handle.
pub(crate) fn handle_key(handle: &str) -> Vec<u8> {
    cat(&[b"h", handle.to_ascii_lowercase().as_bytes()])
}
