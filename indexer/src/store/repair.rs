//! `indexer repair-counts`: every count recomputed from what the store holds. Counts are
//! summed by a merge operator on the hot path (no read on insert); this is the check and
//! the fix if they ever drift. Run with the writer stopped.

use std::collections::BTreeMap;

use super::keys::{CollId, RECORD_ID_BYTES};
use super::write::{count, count_key, edge_kind};
use super::{Result, Store};

impl Store {
    /// Recomputes the counts; returns how many count entries it wrote.
    pub fn repair_counts(&self) -> Result<u64> {
        let mut counts: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        let mut add = |kind: u8, id: &[u8]| *counts.entry(count_key(kind, id)).or_default() += 1;
        for (cf, kind, id_len, second) in [
            ("like_rev", count::LIKES, RECORD_ID_BYTES, None),
            ("repost_rev", count::REPOSTS, RECORD_ID_BYTES, None),
            ("follow_rev", count::FOLLOWERS, 4, Some(count::FOLLOWS)),
            ("reply", count::REPLIES, RECORD_ID_BYTES, None),
            ("quote", count::QUOTES, RECORD_ID_BYTES, None),
        ] {
            for item in self.db.iterator_cf(self.cf(cf), rocksdb::IteratorMode::Start) {
                let (k, _) = item?;
                add(kind, &k[..id_len]);
                if let Some(second) = second {
                    add(second, &k[id_len..]);
                }
            }
        }
        let post = self.coll_id(crate::index::POST)?;
        let edge_colls: Vec<u16> =
            ["like", "repost", "follow", "block", "listitem"].iter().filter_map(|n| self.coll_id(&edge_collection(n)).ok().flatten().map(|c| c.0)).collect();
        let mut per_coll: BTreeMap<u16, i64> = BTreeMap::new();
        for cf in ["doc", "link_fwd"] {
            for item in self.db.iterator_cf(self.cf(cf), rocksdb::IteratorMode::Start) {
                let (k, _) = item?;
                let Some(coll) = CollId::read(&k[4..]) else { continue };
                // Edges are counted from their forward family below, and a document with
                // links is in both `doc` and `link_fwd`: count each record once.
                if edge_colls.contains(&coll.0) || (cf == "link_fwd" && self.db.get_cf(self.cf("doc"), &k)?.is_some()) {
                    continue;
                }
                *per_coll.entry(coll.0).or_default() += 1;
                if cf == "doc" && Some(coll) == post {
                    add(count::POSTS, &k[..4]);
                }
            }
        }
        for name in ["like", "repost", "follow", "block", "listitem"] {
            let Some(coll) = self.coll_id(&edge_collection(name))? else { continue };
            let n = self.db.iterator_cf(self.cf(&format!("{name}_fwd")), rocksdb::IteratorMode::Start).count() as i64;
            *per_coll.entry(coll.0).or_default() += n;
        }
        for (coll, n) in per_coll {
            counts.insert(count_key(count::RECORDS, &coll.to_be_bytes()), n);
        }
        // Replace every recomputable count (all kinds but INVALID, a running total).
        let cf = self.cf("count");
        let mut wb = rocksdb::WriteBatch::default();
        for item in self.db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, _) = item?;
            if k.first() != Some(&count::INVALID) {
                wb.delete_cf(cf, &k);
            }
        }
        let written = counts.len() as u64;
        for (k, v) in counts {
            wb.put_cf(cf, k, v.to_le_bytes());
        }
        self.db.write(wb)?;
        Ok(written)
    }
}

/// The collection of an edge family's name (`like` → `app.bsky.feed.like`).
fn edge_collection(name: &str) -> String {
    let c = format!("app.bsky.{}.{name}", if matches!(name, "like" | "repost") { "feed" } else { "graph" });
    debug_assert!(edge_kind(&c).is_some());
    c
}
