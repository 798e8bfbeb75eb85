//! Backups and restores of a whole PDS: `pds admin backup DIR` (online, through the admin
//! endpoint `POST /admin/backup`, while writes go on) and `pds admin restore DIR` (offline,
//! into fresh directories). The mechanics are the `backup` crate's; this module owns what a
//! PDS must add:
//!
//! - the backup holds the database checkpoint and, copied after it, the blob directory, so
//!   every blob a backed-up record refers to is in it (temporary upload files are skipped);
//! - a restore never lets the firehose reuse a sequence number: the sequencer jumps past
//!   everything the old PDS could have published since the backup ([`MAX_EVENTS_PER_SEC`]);
//! - and right after the jump it publishes, for every account, what a consumer needs to resync
//!   (the sync spec's recovery path): `#identity` (the handle), `#account` (the status) and a
//!   `#sync` with the repository's restored commit, since consumers may hold later state that
//!   the restore took back.

use std::path::Path;

use backup::{BackupError, Manifest};

use crate::api::server::{account_event, identity_event};
use crate::config::Config;
use crate::store::{Store, StoreError};

/// A bound on the events per second a PDS publishes, far beyond what one can: `scripts/bench-pds`
/// measured 3,978 writes/s (one event each) on this project's 2-core machine.
pub const MAX_EVENTS_PER_SEC: u64 = 50_000;
/// Accounts whose resync events go in one batch.
const RESYNC_BATCH: usize = 200;

/// Takes an online backup of `store` and the blob directory `blobs` into `dir`.
pub fn backup(store: &Store, blobs: &Path, dir: &Path) -> Result<Manifest, BackupError> {
    let high_water = store.sequencer.durable_seq();
    let temporary = |p: &Path| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    backup::create(&store.db, "pds", high_water, dir, Some(blobs), &temporary)
}

/// What a restore did.
#[derive(Debug, serde::Serialize)]
pub struct Restored {
    pub manifest: Manifest,
    /// Accounts announced with `#identity`, `#account` and (when they have one) `#sync`.
    pub accounts: u64,
    /// The first sequence number after the jump.
    pub first_seq: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Restores the backup in `dir` into `config`'s data and blob directories (both must be new or
/// empty), jumps the sequencer and publishes the resync events.
pub async fn restore(dir: &Path, config: &Config) -> Result<Restored, RestoreError> {
    let manifest = backup::read(dir, "pds")?;
    backup::restore(dir, &config.data_directory.join(crate::store::DB_DIR), Some(&config.blobstore_location))?;
    let store = Store::open(&config.data_directory, 0)?;
    let floor = manifest.restore_floor(store.sequencer.durable_seq(), MAX_EVENTS_PER_SEC);
    store.sequencer.skip_past(floor);

    let (mut accounts, mut first_seq, mut after) = (0u64, None, None::<String>);
    loop {
        let page = store.list_accounts(after.as_deref(), RESYNC_BATCH)?;
        let Some(last) = page.last() else { break };
        after = Some(last.did.clone());
        let mut events = Vec::with_capacity(page.len() * 3);
        for account in &page {
            events.push(identity_event(&account.did, Some(account.handle.clone())));
            events.push(account_event(&account.did, account.active(), account.status.as_deref()));
            if let Some(sync) = crate::repos::current_sync_event(&store, &account.did)? {
                events.push(sync);
            }
        }
        accounts += page.len() as u64;
        let seqs = store.commit(rocksdb::WriteBatch::default(), events).await?;
        first_seq = first_seq.or(seqs.first().copied());
    }
    Ok(Restored { manifest, accounts, first_seq: first_seq.unwrap_or(floor + 1) })
}
