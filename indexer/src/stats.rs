//! `indexer stats`: what the store holds and what it costs on disk. Records by collection,
//! bytes per column family (SST files), bytes per edge (the like, repost and follow
//! families over the number of those records) and bytes per record (everything, the search
//! index included, over every record).

use std::path::Path;

use serde::Serialize;

use crate::index::{FOLLOW, LIKE, REPOST};
use crate::store::{Store, EDGE_CFS};

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// `(collection, records indexed now, invalid records skipped)`.
    pub collections: Vec<CollectionStats>,
    pub records: i64,
    pub edges: i64,
    pub column_families: Vec<(String, u64)>,
    pub store_bytes: u64,
    pub search_bytes: u64,
    pub edge_bytes: u64,
    pub bytes_per_edge: Option<f64>,
    pub bytes_per_record: Option<f64>,
    /// Search changes not yet committed to Tantivy, and actors waiting for a handle check.
    pub search_backlog: usize,
    pub identity_backlog: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectionStats {
    pub collection: String,
    pub records: i64,
    pub invalid: i64,
}

pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Measures `store` (flushed and, with `compact`, compacted first) and the search folder.
pub fn measure(store: &Store, search_dir: &Path, compact: bool) -> crate::store::Result<Stats> {
    if compact {
        store.compact()?;
    }
    let mut collections: Vec<CollectionStats> =
        store.collection_counts()?.into_iter().map(|(collection, records, invalid)| CollectionStats { collection, records, invalid }).collect();
    collections.sort_by(|a, b| b.records.cmp(&a.records).then(a.collection.cmp(&b.collection)));
    let records: i64 = collections.iter().map(|c| c.records).sum();
    let edges: i64 = collections.iter().filter(|c| [LIKE, REPOST, FOLLOW].contains(&c.collection.as_str())).map(|c| c.records).sum();
    let column_families: Vec<(String, u64)> = store.sst_bytes().into_iter().map(|(n, b)| (n.to_owned(), b)).collect();
    let store_bytes = column_families.iter().map(|(_, b)| b).sum();
    let edge_bytes = column_families.iter().filter(|(n, _)| EDGE_CFS.contains(&n.as_str())).map(|(_, b)| b).sum();
    let search_bytes = dir_bytes(search_dir);
    let per = |bytes: u64, n: i64| (n > 0).then(|| bytes as f64 / n as f64);
    Ok(Stats {
        bytes_per_edge: per(edge_bytes, edges),
        bytes_per_record: per(store_bytes + search_bytes, records),
        collections,
        records,
        edges,
        column_families,
        store_bytes,
        search_bytes,
        edge_bytes,
        search_backlog: store.search_backlog()?.len(),
        identity_backlog: store.identity_backlog(usize::MAX)?.len(),
    })
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<32} {:>12} {:>9}", "collection", "records", "invalid")?;
        for c in &self.collections {
            writeln!(f, "{:<32} {:>12} {:>9}", c.collection, c.records, c.invalid)?;
        }
        writeln!(f, "{:<32} {:>12}", "total", self.records)?;
        writeln!(f)?;
        writeln!(f, "{:<32} {:>12}", "column family", "SST bytes")?;
        for (n, b) in self.column_families.iter().filter(|(_, b)| *b > 0) {
            writeln!(f, "{n:<32} {b:>12}")?;
        }
        writeln!(f, "{:<32} {:>12}", "search index", self.search_bytes)?;
        writeln!(f)?;
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        writeln!(f, "bytes per edge (like, repost, follow): {} over {} edges", show(self.bytes_per_edge), self.edges)?;
        writeln!(f, "bytes per record (store and search):   {} over {} records", show(self.bytes_per_record), self.records)?;
        write!(f, "queued: {} search changes, {} handle checks", self.search_backlog, self.identity_backlog)
    }
}
