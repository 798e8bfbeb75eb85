//! The `key` of a record definition: which record keys a collection allows
//! (atproto.com/specs/record-key): `tid`, `nsid`, `literal:<value>` or `any`.

use std::fmt;

use crate::syntax::{Nsid, RecordKey, Tid};

/// The record keys a record type allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKeyType {
    /// A TID (`3kznmn7xqxl22`).
    Tid,
    /// An NSID.
    Nsid,
    /// Exactly this key, e.g. `self` for `literal:self`.
    Literal(String),
    /// Any valid record key (also the meaning of a record definition with no `key`).
    Any,
}

impl RecordKeyType {
    /// The type a schema's `key` string names, or `None` if it names none (a literal must
    /// itself be a valid record key).
    pub fn parse(s: &str) -> Option<RecordKeyType> {
        match s {
            "tid" => Some(RecordKeyType::Tid),
            "nsid" => Some(RecordKeyType::Nsid),
            "any" => Some(RecordKeyType::Any),
            _ => {
                let lit = s.strip_prefix("literal:")?;
                lit.parse::<RecordKey>().ok()?;
                Some(RecordKeyType::Literal(lit.to_owned()))
            }
        }
    }

    /// Whether `rkey` is a valid record key of this type; the error says why not.
    pub fn check(&self, rkey: &str) -> Result<(), String> {
        rkey.parse::<RecordKey>().map_err(|e| e.to_string())?;
        match self {
            RecordKeyType::Any => Ok(()),
            RecordKeyType::Tid => rkey.parse::<Tid>().map(|_| ()).map_err(|e| format!("must be a TID ({e})")),
            RecordKeyType::Nsid => rkey.parse::<Nsid>().map(|_| ()).map_err(|e| format!("must be an NSID ({e})")),
            RecordKeyType::Literal(lit) if lit == rkey => Ok(()),
            RecordKeyType::Literal(lit) => Err(format!("must be {lit:?}")),
        }
    }
}

/// The schema spelling: `tid`, `nsid`, `literal:<value>`, `any`.
impl fmt::Display for RecordKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordKeyType::Tid => f.write_str("tid"),
            RecordKeyType::Nsid => f.write_str("nsid"),
            RecordKeyType::Literal(l) => write!(f, "literal:{l}"),
            RecordKeyType::Any => f.write_str("any"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types() {
        assert_eq!(RecordKeyType::parse("literal:self"), Some(RecordKeyType::Literal("self".into())));
        assert_eq!(RecordKeyType::parse("literal:"), None);
        assert_eq!(RecordKeyType::parse("literal:.."), None);
        assert_eq!(RecordKeyType::parse("uuid"), None);
        let tid = RecordKeyType::Tid;
        assert!(tid.check("3kznmn7xqxl22").is_ok());
        assert!(tid.check("self").is_err());
        assert!(RecordKeyType::Nsid.check("app.bsky.feed.post").is_ok());
        assert!(RecordKeyType::Nsid.check("self").is_err());
        assert!(RecordKeyType::Literal("self".into()).check("self").is_ok());
        assert!(RecordKeyType::Literal("self".into()).check("other").is_err());
        assert!(RecordKeyType::Any.check("anything:goes~1").is_ok());
        assert!(RecordKeyType::Any.check("..").is_err());
        assert!(RecordKeyType::Any.check("").is_err());
        for s in ["tid", "nsid", "any", "literal:self"] {
            assert_eq!(RecordKeyType::parse(s).unwrap().to_string(), s);
        }
    }
}
