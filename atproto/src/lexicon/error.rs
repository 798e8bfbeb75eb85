//! The errors of the lexicon module: refused schema documents, catalog look-ups, and record
//! data that does not match its schema.
//!
//! [`ValidationError`] is the data problem alone (where, and what rule), worded as the
//! reference implementation words it, e.g. `Record/embed/images/0/alt must be a string`;
//! [`LexiconError`] is everything a caller of [`Lexicons`](super::Lexicons) can get back.

use std::path::PathBuf;

/// Record data that does not match its schema: the path to the offending value (starting at
/// `Record`, with `/`-separated keys and array indices) and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} {message}")]
pub struct ValidationError {
    /// Where the value is, e.g. `Record/embed/images/0/alt`.
    pub path: String,
    /// What is wrong with it, e.g. `must be a string`.
    pub message: String,
}

/// What can go wrong loading schemas into a catalog or validating against it.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    /// A schema document was refused. `id` is the document's `id` (or `?` when that is
    /// missing or unusable); `path` is the `/`-separated location within the document.
    #[error("invalid lexicon {id}{}: {message}", at(path))]
    InvalidLexicon { id: String, path: String, message: String },
    /// Two documents with the same `id`.
    #[error("lexicon {0} is already loaded")]
    DuplicateLexicon(String),
    /// A file could not be read.
    #[error("reading lexicon file: {0}")]
    Io(#[from] std::io::Error),
    /// A file is not JSON.
    #[error("lexicon file is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An error about one file of a directory being loaded.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<LexiconError>,
    },
    /// No schema with a `main` definition is loaded for this NSID.
    #[error("no lexicon schema is loaded for {0}")]
    UnknownSchema(String),
    /// The NSID's `main` definition is not a record (e.g. it is a query).
    #[error("lexicon {0} does not define a record type")]
    NotARecord(String),
    /// The record data does not match the schema.
    #[error("{0}")]
    InvalidRecord(#[from] ValidationError),
    /// The record key does not fit the record type's `key`.
    #[error("invalid record key {rkey:?} for {collection}: {reason}")]
    InvalidRecordKey { collection: String, rkey: String, reason: String },
}

impl LexiconError {
    /// Whether this is [`LexiconError::UnknownSchema`]: the catalog has no schema for the
    /// collection, so a record of it can only be stored unvalidated.
    pub fn is_unknown_schema(&self) -> bool {
        matches!(self, LexiconError::UnknownSchema(_))
    }

    /// The data-level error, when this is [`LexiconError::InvalidRecord`].
    pub fn as_validation(&self) -> Option<&ValidationError> {
        match self {
            LexiconError::InvalidRecord(v) => Some(v),
            _ => None,
        }
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}
