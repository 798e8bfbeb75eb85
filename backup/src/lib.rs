//! Online backups of a service's RocksDB store (plus any plain files beside it, such as the
//! PDS's blobs), and what a restore needs to keep its promises.
//!
//! A backup is a directory ([`create`] makes it, [`restore`] brings it back):
//!
//! - `db/`: a RocksDB checkpoint, a consistent view of every column family at one moment,
//!   taken while the service keeps writing (SST files are hard-linked when the backup is on
//!   the same filesystem, copied otherwise);
//! - `files/`: copies of the service's other files (for the PDS, its blob directory), taken
//!   after the checkpoint, so every file the checkpoint refers to was already there;
//! - `backup.json`: the [`Manifest`]: which service, when, and the highest sequence number
//!   the service had published when the checkpoint was taken.
//!
//! A service whose state is public and replayable (the PLC directory's `/export`) may instead
//! write its own files beside the manifest ([`Manifest::new`], [`write_manifest`]).
//!
//! A restore copies the backup into fresh directories, never over existing data. The firehose
//! promise is that a sequence number is never reused, but the service went on publishing after
//! the backup, and those numbers are gone from the restored store. [`Manifest::seq_floor`]
//! gives the number the restored service must start above: the high-water mark plus a margin
//! that covers the time since the backup at a rate far beyond what the service can sustain.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub const FORMAT: &str = "sonde.backup";
pub const VERSION: u32 = 1;
const MANIFEST: &str = "backup.json";
/// The least a restore moves the sequence past the backup, whatever the clocks say.
pub const MIN_MARGIN: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists and is not empty; a backup or restore only writes to a new directory")]
    NotEmpty(PathBuf),
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("RocksDB checkpoint: {0}")]
    Checkpoint(#[from] rocksdb::Error),
    #[error("{path} is not a backup: {why}")]
    NotABackup { path: PathBuf, why: String },
    #[error("{path} is a backup of a {found}, not of a {wanted}")]
    WrongService { path: PathBuf, found: String, wanted: String },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BackupError + 'a {
    move |source| BackupError::Io { what, path: path.to_path_buf(), source }
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// `pds`, `relay` or `plc`.
    pub service: String,
    /// Wall-clock time of the checkpoint, ms since the epoch.
    pub created_at_ms: u64,
    /// The highest sequence number published when the checkpoint was taken.
    pub high_water: u64,
    /// Files copied beside the database, and their bytes.
    pub files: u64,
    pub file_bytes: u64,
}

impl Manifest {
    /// A manifest taken now, for `service` at `high_water`, with no files.
    pub fn new(service: &str, high_water: u64) -> Manifest {
        Manifest { format: FORMAT.into(), version: VERSION, service: service.into(), created_at_ms: now_ms(), high_water, files: 0, file_bytes: 0 }
    }

    /// The sequence number a service restored from this backup must start above, `now_ms` being
    /// the restore's time: the high-water mark, plus `max_rate` events per second for every
    /// second since the backup (rounded up), and at least [`MIN_MARGIN`]. `max_rate` must be
    /// well beyond what the service can publish, so no number it published after the backup is
    /// reached again; a clock that went backwards still gets the minimum margin.
    pub fn seq_floor(&self, now_ms: u64, max_rate: u64) -> u64 {
        floor(self.high_water, self.created_at_ms, now_ms, max_rate)
    }

    /// [`Manifest::seq_floor`] now, above the higher of the high-water mark and
    /// `restored_high`, the highest number in the restored store (a checkpoint can hold a few
    /// events written after the mark was read).
    pub fn restore_floor(&self, restored_high: u64, max_rate: u64) -> u64 {
        floor(self.high_water.max(restored_high), self.created_at_ms, now_ms(), max_rate)
    }
}

fn floor(high_water: u64, created_at_ms: u64, now_ms: u64, max_rate: u64) -> u64 {
    let elapsed_s = now_ms.saturating_sub(created_at_ms).div_ceil(1000);
    high_water.saturating_add(elapsed_s.saturating_mul(max_rate).max(MIN_MARGIN))
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Creates `dir` (which must not exist, or be empty) for a backup or a restore target.
pub fn fresh_dir(dir: &Path) -> Result<(), BackupError> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(dir.to_path_buf()));
        }
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))
}

/// Takes a backup of `db` into `dir` (new or empty): the checkpoint, then a copy of `files`
/// (if any) skipping names `skip` rejects (temporary files), then the manifest. `high_water`
/// must be read before the checkpoint is taken, so the checkpoint holds at least that much.
pub fn create(
    db: &rocksdb::DB,
    service: &str,
    high_water: u64,
    dir: &Path,
    files: Option<&Path>,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<Manifest, BackupError> {
    fresh_dir(dir)?;
    let mut manifest = Manifest::new(service, high_water);
    rocksdb::checkpoint::Checkpoint::new(db)?.create_checkpoint(dir.join("db"))?;
    if let Some(files) = files {
        (manifest.files, manifest.file_bytes) = copy_tree(files, &dir.join("files"), skip)?;
    }
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Writes `manifest` into the backup directory `dir`, last, so a backup with a manifest is whole.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    write_synced(&dir.join(MANIFEST), &serde_json::to_vec_pretty(manifest).expect("a manifest serialises"))
}

/// Reads and checks a backup's manifest: the format, its version and the service.
pub fn read(dir: &Path, service: &str) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let not = |why: String| BackupError::NotABackup { path: dir.to_path_buf(), why };
    let bytes = std::fs::read(&path).map_err(|e| not(format!("reading {}: {e}", path.display())))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| not(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(not(format!("format {} version {}, expected {FORMAT} version {VERSION}", manifest.format, manifest.version)));
    }
    if manifest.service != service {
        return Err(BackupError::WrongService { path: dir.to_path_buf(), found: manifest.service, wanted: service.into() });
    }
    Ok(manifest)
}

/// Copies the backup's database to `db_dir` and its files to `files_dir` (each new or empty).
pub fn restore(dir: &Path, db_dir: &Path, files_dir: Option<&Path>) -> Result<(), BackupError> {
    if !dir.join("db").join("CURRENT").is_file() {
        return Err(BackupError::NotABackup { path: dir.to_path_buf(), why: "it has no db/ checkpoint".into() });
    }
    fresh_dir(db_dir)?;
    copy_tree(&dir.join("db"), db_dir, &|_| false)?;
    if let Some(files_dir) = files_dir {
        fresh_dir(files_dir)?;
        let from = dir.join("files");
        if from.is_dir() {
            copy_tree(&from, files_dir, &|_| false)?;
        }
    }
    Ok(())
}

/// Copies the tree `from` into `to` file by file, each file synced. Returns (files, bytes).
fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<(u64, u64), BackupError> {
    std::fs::create_dir_all(to).map_err(io("creating", to))?;
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(from).map_err(io("reading", from))? {
        let entry = entry.map_err(io("reading", from))?;
        let path = entry.path();
        if skip(&path) {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io("reading", &path))?;
        if kind.is_dir() {
            let (f, b) = copy_tree(&path, &target, skip)?;
            files += f;
            bytes += b;
        } else if kind.is_file() {
            match std::fs::copy(&path, &target) {
                Ok(n) => bytes += n,
                // A file removed while the copy runs (a blob collected as garbage) was not
                // referenced by the checkpoint taken before it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("copying", &path)(e)),
            }
            std::fs::File::open(&target).and_then(|f| f.sync_all()).map_err(io("syncing", &target))?;
            files += 1;
        }
    }
    Ok((files, bytes))
}

/// Writes `bytes` to a new file at `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut f = std::fs::File::create(path).map_err(io("creating", path))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(high_water: u64, created_at_ms: u64) -> Manifest {
        Manifest { format: FORMAT.into(), version: VERSION, service: "pds".into(), created_at_ms, high_water, files: 0, file_bytes: 0 }
    }

    #[test]
    fn the_floor_covers_the_time_since_the_backup_and_never_less_than_the_margin() {
        let m = manifest(500, 10_000);
        assert_eq!(m.seq_floor(10_000, 1000), 500 + MIN_MARGIN);
        // A clock behind the backup's still moves past it.
        assert_eq!(m.seq_floor(0, 1000), 500 + MIN_MARGIN);
        // An hour and a bit at 1,000 events/s: 3,601 started seconds.
        assert_eq!(m.seq_floor(10_000 + 3_600_001, 1000), 500 + 3_601_000);
        assert_eq!(manifest(u64::MAX - 1, 0).seq_floor(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn backs_up_a_live_database_and_restores_it_only_into_fresh_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let db = rocksdb::DB::open_default(tmp.path().join("live")).unwrap();
        db.put(b"k", b"before").unwrap();
        let files = tmp.path().join("blobs");
        std::fs::create_dir_all(files.join("did")).unwrap();
        std::fs::write(files.join("did/cid"), b"blob").unwrap();
        std::fs::write(files.join("did/.tmp"), b"partial").unwrap();
        let dir = tmp.path().join("backup");
        let skip = |p: &Path| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        let m = create(&db, "pds", 7, &dir, Some(&files), &skip).unwrap();
        db.put(b"k", b"after").unwrap();
        assert_eq!((m.high_water, m.files, m.file_bytes), (7, 1, 4));
        assert_eq!(read(&dir, "pds").unwrap(), m);
        assert!(matches!(read(&dir, "relay"), Err(BackupError::WrongService { .. })));
        assert!(matches!(create(&db, "pds", 7, &dir, None, &skip), Err(BackupError::NotEmpty(_))));

        let (db_to, files_to) = (tmp.path().join("r/db"), tmp.path().join("r/blobs"));
        restore(&dir, &db_to, Some(&files_to)).unwrap();
        let restored = rocksdb::DB::open_default(&db_to).unwrap();
        assert_eq!(restored.get(b"k").unwrap().as_deref(), Some(&b"before"[..]));
        assert_eq!(std::fs::read(files_to.join("did/cid")).unwrap(), b"blob");
        assert!(!files_to.join("did/.tmp").exists());
        assert!(matches!(restore(&dir, &db_to, None), Err(BackupError::NotEmpty(_))));
        assert!(matches!(read(tmp.path(), "pds"), Err(BackupError::NotABackup { .. })));
    }
}
