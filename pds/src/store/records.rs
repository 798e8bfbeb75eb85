//! The records index: `did \0 collection \0 rkey → cid`, for `listRecords` (ordered by rkey,
//! both directions, with a cursor) and `describeRepo` (the collections).

use atproto::Cid;
use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::{did_key, Store, StoreError, CF_RECORDS};

fn record_key(did: &str, collection: &str, rkey: &str) -> Vec<u8> {
    let mut k = did_key(did);
    k.extend_from_slice(collection.as_bytes());
    k.push(0);
    k.extend_from_slice(rkey.as_bytes());
    k
}

fn collection_prefix(did: &str, collection: &str) -> Vec<u8> {
    let mut k = did_key(did);
    k.extend_from_slice(collection.as_bytes());
    k.push(0);
    k
}

impl Store {
    pub fn index_put(&self, batch: &mut WriteBatch, did: &str, path: &str, cid: &Cid) {
        if let Some((c, r)) = path.split_once('/') {
            batch.put_cf(self.cf(CF_RECORDS), record_key(did, c, r), cid.to_bytes());
        }
    }

    pub fn index_delete(&self, batch: &mut WriteBatch, did: &str, path: &str) {
        if let Some((c, r)) = path.split_once('/') {
            batch.delete_cf(self.cf(CF_RECORDS), record_key(did, c, r));
        }
    }

    /// Removes every record of `did` from the index.
    pub fn index_delete_all(&self, batch: &mut WriteBatch, did: &str) {
        let start = did_key(did);
        let mut end = start.clone();
        *end.last_mut().unwrap() = 1;
        batch.delete_range_cf(self.cf(CF_RECORDS), start, end);
    }

    pub fn record_cid(&self, did: &str, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        match self.get(CF_RECORDS, record_key(did, collection, rkey))? {
            None => Ok(None),
            Some(v) => Cid::try_from(v.as_slice()).map(Some).map_err(|e| StoreError::Corrupt { what: CF_RECORDS, why: e.to_string() }),
        }
    }

    /// Up to `limit` `(rkey, cid)` of a collection: descending by rkey, or ascending when
    /// `reverse`; strictly past `cursor` in that direction.
    pub fn list_records(&self, did: &str, collection: &str, limit: usize, cursor: Option<&str>, reverse: bool) -> Result<Vec<(String, Cid)>, StoreError> {
        let prefix = collection_prefix(did, collection);
        let mut upper = prefix.clone();
        *upper.last_mut().unwrap() = 1;
        let (start, dir) = match (reverse, cursor) {
            (true, Some(c)) => {
                let mut k = prefix.clone();
                k.extend_from_slice(c.as_bytes());
                k.push(0); // just after the cursor
                (k, Direction::Forward)
            }
            (true, None) => (prefix.clone(), Direction::Forward),
            (false, Some(c)) => {
                let mut k = prefix.clone();
                k.extend_from_slice(c.as_bytes());
                (k, Direction::Reverse)
            }
            (false, None) => (upper.clone(), Direction::Reverse),
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_RECORDS), IteratorMode::From(&start, dir)) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let rkey = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if cursor == Some(rkey.as_str()) {
                continue;
            }
            let cid = Cid::try_from(v.as_ref()).map_err(|e| StoreError::Corrupt { what: CF_RECORDS, why: e.to_string() })?;
            out.push((rkey, cid));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The collections of `did`'s repository, in order.
    pub fn collections(&self, did: &str) -> Result<Vec<String>, StoreError> {
        let prefix = did_key(did);
        let mut out: Vec<String> = Vec::new();
        let mut seek = prefix.clone();
        loop {
            let mut iter = self.db.iterator_cf(self.cf(CF_RECORDS), IteratorMode::From(&seek, Direction::Forward));
            let Some(item) = iter.next() else { break };
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let rest = &k[prefix.len()..];
            let Some(end) = rest.iter().position(|b| *b == 0) else {
                break;
            };
            let collection = String::from_utf8_lossy(&rest[..end]).into_owned();
            seek = collection_prefix(did, &collection);
            *seek.last_mut().unwrap() = 1; // skip to the next collection
            out.push(collection);
        }
        Ok(out)
    }
}
