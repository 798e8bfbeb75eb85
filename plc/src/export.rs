//! The `/export` line shape: an audit-log entry plus the directory's sequence number.
//!
//! Sonde's directory numbers every accepted operation (`seq`, from 1, in acceptance order) and
//! pages `/export` by that cursor; `nullified` reflects the entry's state at read time.

use atproto::plc::LogEntry;
use serde::{Deserialize, Serialize};

/// One line of `GET /export` (JSON lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub entry: LogEntry,
}
