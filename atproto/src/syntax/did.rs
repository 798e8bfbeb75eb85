//! `Did`: the generic DID syntax as the AT Protocol restricts it (atproto.com/specs/did).
//!
//! `did:` + a method of lowercase ASCII letters + `:` + an identifier of `[A-Za-z0-9._:%-]`
//! that does not end in `:` or `%`; at most 2048 characters. Percent-encoding is not
//! decoded or checked, as the spec allows. Any method is syntactically valid; which methods
//! are supported (`plc`, `web`) is a resolution concern.

use super::{string_newtype, SyntaxError};

/// A DID, e.g. `did:plc:ewvi7nxzyoun6zhxrhs64oiz`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did(String);

string_newtype!(Did);

impl Did {
    /// Maximum length in characters.
    pub const MAX_LEN: usize = 2048;

    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let err = SyntaxError::Did;
        if s.len() > Self::MAX_LEN {
            return Err(err("longer than 2048 characters"));
        }
        let rest = s.strip_prefix("did:").ok_or(err("must start with lowercase \"did:\""))?;
        let (method, id) = rest.split_once(':').ok_or(err("missing \":\" after the method"))?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(err("method must be one or more lowercase ASCII letters"));
        }
        if id.is_empty() {
            return Err(err("empty method-specific identifier"));
        }
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:%-".contains(&b)) {
            return Err(err("identifier may only contain ASCII letters, digits and ._:%-"));
        }
        if id.ends_with(':') || id.ends_with('%') {
            return Err(err("may not end in \":\" or \"%\""));
        }
        Ok(())
    }

    /// The method, e.g. `plc` for `did:plc:…`.
    pub fn method(&self) -> &str {
        self.0[4..].split_once(':').map(|(m, _)| m).unwrap_or_default()
    }

    /// The method-specific identifier: everything after `did:<method>:`.
    pub fn identifier(&self) -> &str {
        self.0[4..].split_once(':').map(|(_, id)| id).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let did: Did = "did:web:localhost%3A1234".parse().unwrap();
        assert_eq!(did.method(), "web");
        assert_eq!(did.identifier(), "localhost%3A1234");
        let did: Did = "did:method::::val".parse().unwrap();
        assert_eq!((did.method(), did.identifier()), ("method", ":::val"));
    }

    #[test]
    fn rejects() {
        for bad in ["did:", "did::x", "did:Plc:x", "did:plc:", "did:plc:a:", "did:plc:a%", "did:plc:a b"] {
            assert!(bad.parse::<Did>().is_err(), "{bad}");
        }
        let long = format!("did:plc:{}", "a".repeat(2040));
        assert_eq!(long.len(), 2048);
        assert!(long.parse::<Did>().is_ok());
        assert!(format!("{long}a").parse::<Did>().is_err());
    }
}
