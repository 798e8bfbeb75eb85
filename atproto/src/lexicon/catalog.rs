//! [`Lexicons`]: a catalog of schema documents, loaded from JSON values or a directory tree,
//! that resolves references and validates records and record keys against the record types
//! it knows.
//!
//! The write-path semantics of the reference PDS are [`Lexicons::validate_for_write`]:
//! `validate` unset validates when the schema is known (status `valid`) and otherwise stores
//! the record as `unknown`; `validate: true` requires the schema; `validate: false` skips
//! validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::LexiconError;
use super::parse::parse_doc;
use super::reference::DefRef;
use super::schema::{Def, LexiconDoc, RecordDef};
use super::validate;

/// The outcome of validating a record for storage, as `validationStatus` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValidationStatus {
    /// The record matched its known schema.
    Valid,
    /// No schema is known for the collection; the record was not validated.
    Unknown,
}

impl ValidationStatus {
    /// `"valid"` or `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Valid => "valid",
            ValidationStatus::Unknown => "unknown",
        }
    }
}

/// A set of schema documents, at most one per NSID.
#[derive(Clone, Debug, Default)]
pub struct Lexicons {
    docs: BTreeMap<String, LexiconDoc>,
}

impl Lexicons {
    /// An empty catalog.
    pub fn new() -> Lexicons {
        Lexicons::default()
    }

    /// A catalog of these documents (see [`Lexicons::add`]).
    pub fn from_values<'a>(docs: impl IntoIterator<Item = &'a Value>) -> Result<Lexicons, LexiconError> {
        let mut lex = Lexicons::new();
        for doc in docs {
            lex.add(doc)?;
        }
        Ok(lex)
    }

    /// A catalog of every `*.json` file under `dir` (see [`Lexicons::add_dir`]).
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Lexicons, LexiconError> {
        let mut lex = Lexicons::new();
        lex.add_dir(dir)?;
        Ok(lex)
    }

    /// Checks a schema document and adds it; refuses an invalid one, or a second document with
    /// the same `id`. Returns the added document.
    pub fn add(&mut self, doc: &Value) -> Result<&LexiconDoc, LexiconError> {
        let doc = parse_doc(doc)?;
        self.insert(doc)
    }

    /// Adds an already parsed document; refuses a second document with the same `id`. Returns
    /// the added document.
    pub fn insert(&mut self, doc: LexiconDoc) -> Result<&LexiconDoc, LexiconError> {
        use std::collections::btree_map::Entry;
        match self.docs.entry(doc.id.as_str().to_owned()) {
            Entry::Occupied(e) => Err(LexiconError::DuplicateLexicon(e.key().clone())),
            Entry::Vacant(e) => Ok(e.insert(doc)),
        }
    }

    /// Adds every `*.json` file under `dir`, recursively, in path order; returns how many.
    /// Symbolic links to directories are not followed. An error names the file.
    pub fn add_dir(&mut self, dir: impl AsRef<Path>) -> Result<usize, LexiconError> {
        let mut files = Vec::new();
        collect_json_files(dir.as_ref(), &mut files)?;
        files.sort();
        for path in &files {
            let in_file = |e: LexiconError| LexiconError::InFile { path: path.clone(), source: Box::new(e) };
            let bytes = std::fs::read(path).map_err(|e| in_file(e.into()))?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| in_file(e.into()))?;
            self.add(&value).map_err(in_file)?;
        }
        Ok(files.len())
    }

    /// The number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The document for `nsid`.
    pub fn get(&self, nsid: &str) -> Option<&LexiconDoc> {
        self.docs.get(nsid)
    }

    /// Every document, by NSID.
    pub fn docs(&self) -> impl Iterator<Item = &LexiconDoc> {
        self.docs.values()
    }

    /// The definition a resolved reference names.
    pub fn def(&self, r: &DefRef) -> Option<&Def> {
        self.docs.get(r.nsid())?.defs.get(r.name())
    }

    /// The definition `reference` (`nsid` or `nsid#def`) names.
    pub fn resolve(&self, reference: &str) -> Option<&Def> {
        self.def(&DefRef::from_type(reference)?)
    }

    /// Every reference, in any document, to a definition the catalog does not hold, with the
    /// NSID of the document making it. Empty for a self-contained catalog.
    pub fn unresolved_refs(&self) -> Vec<(String, DefRef)> {
        let mut out = Vec::new();
        for doc in self.docs.values() {
            for def in doc.defs.values() {
                for r in def.refs() {
                    if self.def(r).is_none() {
                        out.push((doc.id.to_string(), r.clone()));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The record type of `collection`: [`LexiconError::UnknownSchema`] when no `main`
    /// definition is loaded for it, [`LexiconError::NotARecord`] when `main` is not a record.
    pub fn record_def(&self, collection: &str) -> Result<&RecordDef, LexiconError> {
        match self.docs.get(collection).and_then(LexiconDoc::main) {
            None => Err(LexiconError::UnknownSchema(collection.to_owned())),
            Some(Def::Record(r)) => Ok(r),
            Some(_) => Err(LexiconError::NotARecord(collection.to_owned())),
        }
    }

    /// Validates `record` (atproto JSON form) as a record of `collection`. Its `$type`, when
    /// present, must be `collection`. An unknown collection is
    /// [`LexiconError::UnknownSchema`]; data that does not match is
    /// [`LexiconError::InvalidRecord`].
    pub fn validate_record(&self, collection: &str, record: &Value) -> Result<(), LexiconError> {
        let def = self.record_def(collection)?;
        validate::record(self, collection, def, record).map_err(LexiconError::InvalidRecord)
    }

    /// As [`Lexicons::validate_record`], but a collection with no schema is
    /// [`ValidationStatus::Unknown`] rather than an error.
    pub fn validate_record_if_known(&self, collection: &str, record: &Value) -> Result<ValidationStatus, LexiconError> {
        match self.validate_record(collection, record) {
            Ok(()) => Ok(ValidationStatus::Valid),
            Err(e) if e.is_unknown_schema() => Ok(ValidationStatus::Unknown),
            Err(e) => Err(e),
        }
    }

    /// The reference PDS's handling of a write's `validate` flag: `None` (unset) is
    /// [`Lexicons::validate_record_if_known`]; `Some(true)` is [`Lexicons::validate_record`]
    /// (so an unknown schema is an error); `Some(false)` validates nothing and returns `None`
    /// (no `validationStatus`).
    pub fn validate_for_write(&self, collection: &str, record: &Value, validate: Option<bool>) -> Result<Option<ValidationStatus>, LexiconError> {
        match validate {
            Some(false) => Ok(None),
            Some(true) => self.validate_record(collection, record).map(|()| Some(ValidationStatus::Valid)),
            None => self.validate_record_if_known(collection, record).map(Some),
        }
    }

    /// Validates a JSON response body against the output schema of the query or procedure
    /// `nsid` (errors carry paths from `Output`). A method with no JSON output schema is
    /// [`LexiconError::UnknownSchema`], so a test cannot pass by validating nothing.
    pub fn validate_output(&self, nsid: &str, body: &Value) -> Result<(), LexiconError> {
        let schema = match self.docs.get(nsid).and_then(LexiconDoc::main) {
            Some(Def::Query(x) | Def::Procedure(x)) => x.output.as_ref().and_then(|b| b.schema.as_ref()),
            _ => None,
        };
        let schema = schema.ok_or_else(|| LexiconError::UnknownSchema(format!("{nsid} (output)")))?;
        validate::data(self, "Output", schema, body).map_err(LexiconError::InvalidRecord)
    }

    /// Whether `rkey` is a valid key for a record of `collection` (by the record type's
    /// `key`: `tid`, `nsid`, `literal:…` or `any`): [`LexiconError::InvalidRecordKey`] if
    /// not, [`LexiconError::UnknownSchema`] when the collection has no schema (then only the
    /// record-key syntax, [`crate::syntax::RecordKey`], applies).
    pub fn validate_record_key(&self, collection: &str, rkey: &str) -> Result<(), LexiconError> {
        let def = self.record_def(collection)?;
        def.key.check(rkey).map_err(|reason| LexiconError::InvalidRecordKey { collection: collection.to_owned(), rkey: rkey.to_owned(), reason })
    }
}

fn collect_json_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LexiconError> {
    let in_dir = |e: std::io::Error| LexiconError::InFile { path: dir.to_owned(), source: Box::new(e.into()) };
    for entry in std::fs::read_dir(dir).map_err(in_dir)? {
        let entry = entry.map_err(in_dir)?;
        let path = entry.path();
        let ty = entry.file_type().map_err(in_dir)?;
        if ty.is_dir() {
            collect_json_files(&path, out)?;
        } else if is_json(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}
