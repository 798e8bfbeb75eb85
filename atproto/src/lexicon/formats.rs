//! The `format` of a Lexicon `string` (atproto.com/specs/lexicon#string-formats), each checked
//! with the crate's [`syntax`](crate::syntax) validators.

use std::fmt;
use std::str::FromStr;

use crate::syntax::{is_valid_cid_string, is_valid_uri, AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, SyntaxError, Tid};

/// A string format a schema can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StringFormat {
    AtIdentifier,
    AtUri,
    Cid,
    Datetime,
    Did,
    Handle,
    Language,
    Nsid,
    RecordKey,
    Tid,
    Uri,
}

impl StringFormat {
    /// Every format, in the order of their schema names.
    pub const ALL: [StringFormat; 11] = [
        StringFormat::AtIdentifier,
        StringFormat::AtUri,
        StringFormat::Cid,
        StringFormat::Datetime,
        StringFormat::Did,
        StringFormat::Handle,
        StringFormat::Language,
        StringFormat::Nsid,
        StringFormat::RecordKey,
        StringFormat::Tid,
        StringFormat::Uri,
    ];

    /// The format a schema's `format` value names.
    pub fn from_name(name: &str) -> Option<StringFormat> {
        StringFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The schema name, e.g. `at-uri`.
    pub fn name(self) -> &'static str {
        match self {
            StringFormat::AtIdentifier => "at-identifier",
            StringFormat::AtUri => "at-uri",
            StringFormat::Cid => "cid",
            StringFormat::Datetime => "datetime",
            StringFormat::Did => "did",
            StringFormat::Handle => "handle",
            StringFormat::Language => "language",
            StringFormat::Nsid => "nsid",
            StringFormat::RecordKey => "record-key",
            StringFormat::Tid => "tid",
            StringFormat::Uri => "uri",
        }
    }

    /// Whether `s` has this format; the error is a message for the value's path, e.g.
    /// `must be a valid datetime (invalid datetime: …)`.
    pub fn check(self, s: &str) -> Result<(), String> {
        fn parse<T: FromStr<Err = SyntaxError>>(s: &str) -> Result<(), Option<SyntaxError>> {
            T::from_str(s).map(|_| ()).map_err(Some)
        }
        let flag = |ok: bool| if ok { Ok(()) } else { Err(None) };
        let result = match self {
            StringFormat::AtIdentifier => parse::<AtIdentifier>(s),
            StringFormat::AtUri => parse::<AtUri>(s),
            StringFormat::Cid => flag(is_valid_cid_string(s)),
            StringFormat::Datetime => parse::<Datetime>(s),
            StringFormat::Did => parse::<Did>(s),
            StringFormat::Handle => parse::<Handle>(s),
            // The grammar only, as the reference checks it.
            StringFormat::Language => Language::check_syntax(s).map_err(Some),
            StringFormat::Nsid => parse::<Nsid>(s),
            StringFormat::RecordKey => parse::<RecordKey>(s),
            StringFormat::Tid => parse::<Tid>(s),
            StringFormat::Uri => flag(is_valid_uri(s)),
        };
        result.map_err(|e| match e {
            Some(e) => format!("must be a valid {} ({e})", self.name()),
            None => format!("must be a valid {}", self.name()),
        })
    }
}

impl fmt::Display for StringFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_checks_apply() {
        for f in StringFormat::ALL {
            assert_eq!(StringFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(StringFormat::from_name("email"), None);
        assert!(StringFormat::Datetime.check("2023-10-30T22:25:23Z").is_ok());
        let err = StringFormat::Datetime.check("123").unwrap_err();
        assert!(err.starts_with("must be a valid datetime"), "{err}");
        assert!(StringFormat::Uri.check("https://example.com").is_ok());
        assert!(StringFormat::Uri.check("123").is_err());
        assert!(StringFormat::Cid.check("bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq").is_ok());
        assert!(StringFormat::Cid.check("123").is_err());
        assert!(StringFormat::AtIdentifier.check("did:plc:abc123").is_ok());
        assert!(StringFormat::AtIdentifier.check("123").is_err());
    }
}
