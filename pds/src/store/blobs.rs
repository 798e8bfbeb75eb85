//! Blob metadata (`did \0 cid → BlobMeta`); the bytes live in files under
//! `PDS_BLOBSTORE_DISK_LOCATION/<did>/<cid>`.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use super::{did_key, Store, StoreError, CF_BLOBS};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobMeta {
    pub mime_type: String,
    pub size: u64,
    pub created_at_ms: u64,
    /// Record paths referencing the blob; empty means temporary (uploaded, not yet used).
    #[serde(default)]
    pub refs: Vec<String>,
    /// Rev of the commit that first referenced the blob (`listBlobs?since=`).
    #[serde(default)]
    pub rev: Option<String>,
    /// Referenced by an imported record but not uploaded yet (`listMissingBlobs`).
    #[serde(default)]
    pub missing: bool,
}

impl BlobMeta {
    /// A blob some record points at but whose bytes have not been uploaded.
    pub fn missing(path: String, rev: &str) -> BlobMeta {
        BlobMeta {
            mime_type: "application/octet-stream".into(),
            size: 0,
            created_at_ms: super::events::now_ms(),
            refs: vec![path],
            rev: Some(rev.into()),
            missing: true,
        }
    }
}

fn blob_key(did: &str, cid: &str) -> Vec<u8> {
    let mut k = did_key(did);
    k.extend_from_slice(cid.as_bytes());
    k
}

impl Store {
    pub fn blob(&self, did: &str, cid: &str) -> Result<Option<BlobMeta>, StoreError> {
        self.get_json(CF_BLOBS, blob_key(did, cid))
    }

    pub fn put_blob(&self, batch: &mut WriteBatch, did: &str, cid: &str, meta: &BlobMeta) {
        self.put_json(batch, CF_BLOBS, blob_key(did, cid), meta);
    }

    pub fn delete_blob(&self, batch: &mut WriteBatch, did: &str, cid: &str) {
        batch.delete_cf(self.cf(CF_BLOBS), blob_key(did, cid));
    }

    /// Moves record references in `batch`: `removed` (path, blob) pairs are dropped first, then
    /// `added` ones recorded, first referenced at `rev`. Returns the blobs no record references
    /// any more, whose rows are deleted in `batch` (the caller removes their files once the
    /// batch is durable). Blobs referenced by `added` must exist.
    pub fn move_blob_refs(
        &self,
        batch: &mut WriteBatch,
        did: &str,
        removed: &[(String, cid::Cid)],
        added: &[(String, cid::Cid)],
        rev: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut touched: std::collections::BTreeMap<String, BlobMeta> = Default::default();
        for (_, blob) in removed.iter().chain(added) {
            let key = blob.to_string();
            if let std::collections::btree_map::Entry::Vacant(slot) = touched.entry(key) {
                if let Some(meta) = self.blob(did, slot.key())? {
                    slot.insert(meta);
                }
            }
        }
        for (path, blob) in removed {
            if let Some(meta) = touched.get_mut(&blob.to_string()) {
                meta.refs.retain(|p| p != path);
            }
        }
        for (path, blob) in added {
            if let Some(meta) = touched.get_mut(&blob.to_string()) {
                if !meta.refs.contains(path) {
                    meta.refs.push(path.clone());
                }
                meta.rev.get_or_insert_with(|| rev.to_string());
            }
        }
        let mut unreferenced = Vec::new();
        for (key, meta) in touched {
            if meta.refs.is_empty() {
                self.delete_blob(batch, did, &key);
                if !meta.missing {
                    unreferenced.push(key);
                }
            } else {
                self.put_blob(batch, did, &key, &meta);
            }
        }
        Ok(unreferenced)
    }

    /// Blob CIDs of `did` after `cursor`, in CID order, with their metadata.
    pub fn list_blobs(&self, did: &str, cursor: Option<&str>, limit: usize) -> Result<Vec<(String, BlobMeta)>, StoreError> {
        let prefix = did_key(did);
        let start = blob_key(did, cursor.unwrap_or(""));
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_BLOBS), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let cid = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if Some(cid.as_str()) == cursor {
                continue;
            }
            let meta = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt { what: CF_BLOBS, why: e.to_string() })?;
            out.push((cid, meta));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
