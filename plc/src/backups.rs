//! Backups and restores of the directory: `plc backup` and `plc restore`.
//!
//! The directory's whole state is public and replayable: `/export` lists every accepted
//! operation in sequence order. So a backup is that list, read page by page from a running
//! directory while it keeps accepting operations (`export.jsonl`, plus the `backup` crate's
//! manifest), and a restore replays it into a fresh store through the same validation, each
//! operation at its original time. That gives back the same sequence numbers, the same
//! `createdAt`s and the same nullifications, computed again rather than trusted. Then the
//! sequence jumps past everything the old directory can have accepted since the backup
//! ([`MAX_OPS_PER_SEC`]), so `/export` cursors held by mirrors never see a number reused.

use std::io::{BufRead, Write};
use std::path::Path;

use backup::{BackupError, Manifest};

use crate::client::{ClientError, PlcClient};
use crate::export::ExportEntry;
use crate::store::{Directory, StoreError, SubmitError};

const EXPORT_FILE: &str = "export.jsonl";
/// The `/export` page size a backup reads with.
const PAGE: usize = 1000;
/// A bound on operations per second a directory accepts, far beyond what it does (each is
/// a signature check and a synced write).
pub const MAX_OPS_PER_SEC: u64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum PlcBackupError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("reading the directory's export: {0}")]
    Export(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file} line {line}: {why}")]
    BadEntry { file: String, line: u64, why: String },
    #[error("the backup holds {found} operations but its manifest says {expected}")]
    Incomplete { found: u64, expected: u64 },
}

/// Reads the directory at `client` into the backup directory `dir` (new or empty).
pub async fn backup(client: &PlcClient, dir: &Path) -> Result<Manifest, PlcBackupError> {
    backup::fresh_dir(dir)?;
    let path = dir.join(EXPORT_FILE);
    let io = |source| BackupError::Io { what: "writing", path: path.clone(), source };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    let mut manifest = Manifest::new("plc", 0);
    loop {
        let page = client.export(Some(manifest.high_water), PAGE).await?;
        for entry in &page {
            let line = serde_json::to_vec(entry).expect("export entries serialise");
            out.write_all(&line).and_then(|()| out.write_all(b"\n")).map_err(io)?;
            manifest.file_bytes += line.len() as u64 + 1;
            manifest.high_water = entry.seq;
        }
        if page.len() < PAGE {
            break;
        }
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    manifest.files = 1;
    backup::write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Replays the backup in `dir` into a new store in `data` (new or empty) and jumps the
/// sequence. Returns the manifest and the directory's last sequence number after the jump.
pub fn restore(dir: &Path, data: &Path) -> Result<(Manifest, u64), PlcBackupError> {
    let manifest = backup::read(dir, "plc")?;
    backup::fresh_dir(data)?;
    let store = Directory::open(data, 0)?;
    let path = dir.join(EXPORT_FILE);
    let file = std::fs::File::open(&path).map_err(|source| BackupError::Io { what: "reading", path: path.clone(), source })?;
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_no = index as u64 + 1;
        let bad = |why: String| PlcBackupError::BadEntry { file: path.display().to_string(), line: line_no, why };
        let line = line.map_err(|e| bad(e.to_string()))?;
        let entry: ExportEntry = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if entry.seq != store.last_seq() + 1 {
            return Err(bad(format!("seq {} follows {}; the export has a gap", entry.seq, store.last_seq())));
        }
        store.submit_at(&entry.entry.did, entry.entry.operation, entry.entry.created_at).map_err(|e| match e {
            SubmitError::Store(e) => PlcBackupError::Store(e),
            refused => bad(format!("the operation is refused on replay: {refused}")),
        })?;
    }
    if store.last_seq() != manifest.high_water {
        return Err(PlcBackupError::Incomplete { found: store.last_seq(), expected: manifest.high_water });
    }
    let floor = manifest.restore_floor(store.last_seq(), MAX_OPS_PER_SEC);
    store.skip_past(floor)?;
    Ok((manifest, floor))
}
