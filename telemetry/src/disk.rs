//! Free space on a service's data directory, and the floor below which it refuses writes.
//!
//! Without a floor, a full disk meets the database in the middle of a write. RocksDB then
//! stops taking any write (a "hard" background error) until its own recovery, which polls the
//! free space every few seconds, sees room again; meanwhile each write fails with an I/O error
//! that says nothing useful to a client, and a half-written blob file is a file that lies. So
//! each service keeps a floor of free space: before it writes, it asks [`DiskGuard::check`],
//! and below the floor the write is refused whole with [`DiskFull`], the database never sees
//! the full disk, and writes are taken again the moment space returns, without a restart. The
//! floor must cover what one write and RocksDB's own flushes and compactions may take; each
//! service sets its default and a flag to change it.
//!
//! Each check sets `<service>_disk_free_bytes`; each refusal counts in
//! `<service>_disk_full_refusals_total`.

use std::path::{Path, PathBuf};

/// The free space on a data directory's filesystem, checked against a floor.
#[derive(Debug, Clone)]
pub struct DiskGuard {
    service: &'static str,
    path: PathBuf,
    min_free: u64,
}

/// A write refused because the data directory's filesystem is (nearly) full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the disk holding {} is full: {free} bytes are free and writes need at least {min_free}; nothing was written, and writes resume when space is freed", path.display())]
pub struct DiskFull {
    pub path: PathBuf,
    pub free: u64,
    pub min_free: u64,
}

impl DiskGuard {
    /// Guards the filesystem holding `path` (which must exist), keeping `min_free` bytes free.
    pub fn new(service: &'static str, path: impl Into<PathBuf>, min_free: u64) -> DiskGuard {
        DiskGuard { service, path: path.into(), min_free }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes available to this process on the guarded filesystem.
    pub fn free(&self) -> std::io::Result<u64> {
        let free = fs4::available_space(&self.path)?;
        metrics::gauge!(format!("{}_disk_free_bytes", self.service)).set(free as f64);
        Ok(free)
    }

    /// `Ok` when at least the floor is free. A filesystem that cannot be asked (the directory
    /// was removed, say) does not block writes: the write itself then reports the real error.
    pub fn check(&self) -> Result<(), DiskFull> {
        self.check_for(0)
    }

    /// Like [`DiskGuard::check`], for a write of `incoming` bytes: the floor must still be
    /// free after it.
    pub fn check_for(&self, incoming: u64) -> Result<(), DiskFull> {
        let free = match self.free() {
            Ok(free) => free,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read free disk space");
                return Ok(());
            }
        };
        if free >= self.min_free.saturating_add(incoming) {
            return Ok(());
        }
        Err(self.refuse(free, incoming))
    }

    /// The refusal of a write of `incoming` bytes that met a full disk anyway (the operating
    /// system's "no space left", between the check and the write): counted like the floor's.
    pub fn full(&self, incoming: u64) -> DiskFull {
        self.refuse(self.free().unwrap_or(0), incoming)
    }

    fn refuse(&self, free: u64, incoming: u64) -> DiskFull {
        metrics::counter!(format!("{}_disk_full_refusals_total", self.service)).increment(1);
        tracing::warn!(path = %self.path.display(), free, min_free = self.min_free, incoming, "disk full: write refused");
        DiskFull { path: self.path.clone(), free, min_free: self.min_free.saturating_add(incoming) }
    }
}

/// True when `e` is the operating system's "no space left on device" (or "quota exceeded").
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_above_the_free_space_refuses_and_one_below_allows() {
        let dir = std::env::temp_dir();
        let free = DiskGuard::new("test", &dir, 0).free().unwrap();
        assert!(free > 0);
        assert_eq!(DiskGuard::new("test", &dir, 0).check(), Ok(()));
        let refused = DiskGuard::new("test", &dir, u64::MAX / 2).check().unwrap_err();
        assert_eq!(refused.min_free, u64::MAX / 2);
        assert!(refused.to_string().contains("writes resume when space is freed"), "{refused}");
        // The incoming write's own size counts against the floor.
        assert!(DiskGuard::new("test", &dir, 0).check_for(u64::MAX / 2).is_err());
    }

    #[test]
    fn an_unreadable_path_does_not_block_writes() {
        assert_eq!(DiskGuard::new("test", "/nonexistent/sonde/dir", u64::MAX).check(), Ok(()));
    }
}
