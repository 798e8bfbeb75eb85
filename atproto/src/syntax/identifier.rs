//! `AtIdentifier`: the `at-identifier` string format, a DID or a handle.
//!
//! Anything starting with `did:` must be a valid DID; everything else must be a valid handle.
//! Errors are those of the kind attempted ([`SyntaxError::Did`] or [`SyntaxError::Handle`]).

use std::fmt;
use std::str::FromStr;

use super::{Did, Handle, SyntaxError};

/// A DID or a handle, e.g. the authority of an AT-URI or the `repo` parameter of XRPC calls.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AtIdentifier {
    Did(Did),
    Handle(Handle),
}

impl AtIdentifier {
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        match self {
            AtIdentifier::Did(d) => d.as_str(),
            AtIdentifier::Handle(h) => h.as_str(),
        }
    }

    /// The DID, if this is one.
    pub fn as_did(&self) -> Option<&Did> {
        match self {
            AtIdentifier::Did(d) => Some(d),
            AtIdentifier::Handle(_) => None,
        }
    }

    /// The handle, if this is one.
    pub fn as_handle(&self) -> Option<&Handle> {
        match self {
            AtIdentifier::Handle(h) => Some(h),
            AtIdentifier::Did(_) => None,
        }
    }
}

impl FromStr for AtIdentifier {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<Self, SyntaxError> {
        if s.starts_with("did:") {
            s.parse().map(AtIdentifier::Did)
        } else {
            s.parse().map(AtIdentifier::Handle)
        }
    }
}

impl TryFrom<&str> for AtIdentifier {
    type Error = SyntaxError;
    fn try_from(s: &str) -> Result<Self, SyntaxError> {
        s.parse()
    }
}

impl TryFrom<String> for AtIdentifier {
    type Error = SyntaxError;
    fn try_from(s: String) -> Result<Self, SyntaxError> {
        if s.starts_with("did:") {
            Did::try_from(s).map(AtIdentifier::Did)
        } else {
            Handle::try_from(s).map(AtIdentifier::Handle)
        }
    }
}

impl From<Did> for AtIdentifier {
    fn from(d: Did) -> Self {
        AtIdentifier::Did(d)
    }
}

impl From<Handle> for AtIdentifier {
    fn from(h: Handle) -> Self {
        AtIdentifier::Handle(h)
    }
}

impl AsRef<str> for AtIdentifier {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for AtIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for AtIdentifier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AtIdentifier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::try_from(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch() {
        let id: AtIdentifier = "did:plc:abc".parse().unwrap();
        assert_eq!(id.as_did().map(Did::method), Some("plc"));
        let id: AtIdentifier = "alice.test".parse().unwrap();
        assert_eq!(id.as_handle().map(Handle::as_str), Some("alice.test"));
        assert!(matches!("did:x".parse::<AtIdentifier>(), Err(SyntaxError::Did(_))));
        assert!(matches!("@alice".parse::<AtIdentifier>(), Err(SyntaxError::Handle(_))));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"alice.test\"");
        assert_eq!(serde_json::from_str::<AtIdentifier>(&json).unwrap(), id);
    }
}
