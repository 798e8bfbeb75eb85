//! Blob garbage collection. Blobs a record stops referencing are deleted with the write that
//! released them ([`crate::repos`]); blobs uploaded but never referenced are deleted here once
//! they are older than `PDS_BLOB_GRACE_PERIOD_MS`. The sweep also drops expired email tokens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rocksdb::WriteBatch;

use crate::state::AppState;
use crate::store::blobs::BlobMeta;
use crate::store::events::now_ms;
use crate::store::{StoreError, CF_BLOBS};

/// Removes a blob's file; a file already gone is fine.
pub async fn remove_file(blob_dir: &Path, did: &str, cid: &str) {
    match tokio::fs::remove_file(blob_dir.join(did).join(cid)).await {
        Ok(()) => metrics::counter!("pds_blobs_deleted_total").increment(1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(%did, %cid, error = %e, "could not remove blob file"),
    }
}

/// Unreferenced, uploaded blobs created before `cutoff_ms`, as `(did, cid)`.
fn expired(state: &AppState, cutoff_ms: u64) -> Result<Vec<(String, String)>, StoreError> {
    let store = &state.store;
    let mut out = Vec::new();
    for item in store.db.iterator_cf(store.cf(CF_BLOBS), rocksdb::IteratorMode::Start) {
        let (k, v) = item?;
        let Ok(meta) = serde_json::from_slice::<BlobMeta>(&v) else { continue };
        if meta.refs.is_empty() && !meta.missing && meta.created_at_ms < cutoff_ms {
            let k = String::from_utf8_lossy(&k);
            if let Some((did, cid)) = k.split_once('\0') {
                out.push((did.to_string(), cid.to_string()));
            }
        }
    }
    Ok(out)
}

/// One sweep; returns the number of blobs deleted.
pub async fn sweep(state: &AppState) -> Result<usize, StoreError> {
    let cutoff = now_ms().saturating_sub(state.config.blob_grace_period_ms);
    let mut deleted = 0;
    for (did, cid) in expired(state, cutoff)? {
        // Under the repository's write lock, so no write can reference the blob meanwhile.
        let _repo = state.repos.exclusive(&did).await;
        let Some(meta) = state.store.blob(&did, &cid)? else { continue };
        if !meta.refs.is_empty() || meta.created_at_ms >= cutoff {
            continue;
        }
        let mut batch = WriteBatch::default();
        state.store.delete_blob(&mut batch, &did, &cid);
        state.store.commit(batch, vec![]).await?;
        remove_file(&state.config.blobstore_location, &did, &cid).await;
        deleted += 1;
    }
    state.store.sweep_email_tokens()?;
    Ok(deleted)
}

/// Sweeps every quarter of the grace period (at most every 10 minutes, at least every 5 s).
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis((state.config.blob_grace_period_ms / 4).clamp(5_000, 600_000));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "removed blobs no record references"),
                Err(e) => tracing::error!(error = %e, "blob sweep failed"),
            }
        }
    })
}
