//! Backups and restores of the relay: `POST /admin/backup` (online, a RocksDB checkpoint of
//! the log, account and host state) and `relay restore` (offline, into a fresh data
//! directory). A restored relay must not reuse a sequence number the old one published after
//! the backup, so its head jumps past the backup's by a margin covering the time since at
//! [`MAX_EVENTS_PER_SEC`]. Its hosts' cursors are the backup's, so the events it lost are read
//! again from the hosts and published under new numbers.

use std::path::Path;

use backup::{BackupError, Manifest};

use crate::log::EventLog;
use crate::store::{Store, StoreError};

/// The database's directory inside the relay's data directory.
pub const DB_DIR: &str = "relay.rocksdb";
/// A bound on the events per second a relay appends, far beyond what one does: the release
/// bench measured about 8,000/s with 10 consumers on this project's 2-core machine.
pub const MAX_EVENTS_PER_SEC: u64 = 500_000;

pub fn backup(log: &EventLog, dir: &Path) -> Result<Manifest, BackupError> {
    log.store().backup(log.head(), dir)
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Restores the backup in `dir` into the data directory `data` (its database directory must be
/// new or empty) and moves the head past the floor. Returns the manifest and the new head.
pub fn restore(dir: &Path, data: &Path) -> Result<(Manifest, u64), RestoreError> {
    let manifest = backup::read(dir, "relay")?;
    backup::restore(dir, &data.join(DB_DIR), None)?;
    let store = Store::open(&data.join(DB_DIR), 0)?;
    let head = manifest.restore_floor(store.head_seq()?, MAX_EVENTS_PER_SEC);
    store.set_head(head)?;
    Ok((manifest, head))
}
