//! `RecordKey`: the key of a record within a collection (atproto.com/specs/record-key).
//!
//! 1–512 characters of `[A-Za-z0-9._:~-]`, and not `.` or `..`.

use super::{string_newtype, SyntaxError};

/// A record key, e.g. `self` or a TID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

string_newtype!(RecordKey);

impl RecordKey {
    /// Maximum length in characters.
    pub const MAX_LEN: usize = 512;

    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let err = SyntaxError::RecordKey;
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(err("must be 1 to 512 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:~-".contains(&b)) {
            return Err(err("may only contain ASCII letters, digits and ._:~-"));
        }
        if s == "." || s == ".." {
            return Err(err("may not be \".\" or \"..\""));
        }
        Ok(())
    }
}

impl From<super::Tid> for RecordKey {
    fn from(tid: super::Tid) -> Self {
        RecordKey(tid.into_string())
    }
}
