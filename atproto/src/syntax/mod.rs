//! Identifier and string-format syntax of the AT Protocol, one validated type per spec.
//!
//! Each type is a newtype over `String` that can only hold a value accepted by its
//! specification: construct with [`FromStr`](std::str::FromStr) or `TryFrom`, read with
//! `as_str()`, and (de)serialize as a plain string (deserializing validates). Ordering and
//! equality are those of the underlying string.
//!
//! | type | spec |
//! |------|------|
//! | [`Did`] | atproto.com/specs/did |
//! | [`Handle`] | atproto.com/specs/handle |
//! | [`AtIdentifier`] | a DID or a handle |
//! | [`Nsid`] | atproto.com/specs/nsid |
//! | [`AtUri`] | atproto.com/specs/at-uri-scheme (restricted form) |
//! | [`RecordKey`] | atproto.com/specs/record-key |
//! | [`Tid`], [`TidGenerator`] | atproto.com/specs/tid |
//! | [`Datetime`], [`Language`] | the `datetime` and `language` string formats of Lexicon |
//!
//! [`is_valid_cid_string`] and [`is_valid_uri`] are the loose syntax checks of the Lexicon
//! `cid` and `uri` string formats.

mod aturi;
mod datetime;
mod did;
mod handle;
mod identifier;
mod language;
mod misc;
mod nsid;
mod recordkey;
mod tid;

pub use aturi::AtUri;
pub use datetime::Datetime;
pub use did::Did;
pub use handle::{is_disallowed_tld, Handle, DISALLOWED_TLDS, INVALID_HANDLE};
pub use identifier::AtIdentifier;
pub use language::Language;
pub use misc::{is_valid_cid_string, is_valid_uri, MAX_URI_LEN};
pub use nsid::Nsid;
pub use recordkey::RecordKey;
pub use tid::{Tid, TidGenerator};

/// Why a string is not a valid value of one of the syntax types; the variant names the type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("invalid DID: {0}")]
    Did(&'static str),
    #[error("invalid handle: {0}")]
    Handle(&'static str),
    #[error("invalid NSID: {0}")]
    Nsid(&'static str),
    #[error("invalid AT-URI: {0}")]
    AtUri(&'static str),
    #[error("invalid record key: {0}")]
    RecordKey(&'static str),
    #[error("invalid TID: {0}")]
    Tid(&'static str),
    #[error("invalid datetime: {0}")]
    Datetime(&'static str),
    #[error("invalid language tag: {0}")]
    Language(&'static str),
}

/// The shared surface of the string newtypes: accessors, conversions, `Display`, serde.
/// Each type supplies `fn validate(&str) -> Result<(), SyntaxError>`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::syntax::SyntaxError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::validate(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::syntax::SyntaxError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::syntax::SyntaxError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::validate(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::try_from(s).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;
