//! `AtUri`: the restricted AT-URI syntax used in records and Lexicon (atproto.com/specs/at-uri-scheme).
//!
//! `at://` + authority (DID or handle) + optionally `/` + collection (NSID) + optionally
//! `/` + record key. No trailing slash, empty segment, query or fragment; at most 8 KiB.

use super::{string_newtype, AtIdentifier, Did, Handle, Nsid, RecordKey, SyntaxError};

/// A restricted AT-URI, e.g. `at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AtUri(String);

string_newtype!(AtUri);

impl AtUri {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 8 * 1024;

    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let err = SyntaxError::AtUri;
        if s.len() > Self::MAX_LEN {
            return Err(err("longer than 8 KiB"));
        }
        let rest = s.strip_prefix("at://").ok_or(err("must start with \"at://\""))?;
        if rest.contains(['?', '#']) {
            return Err(err("query and fragment parts are not allowed"));
        }
        let mut parts = rest.split('/');
        let authority = parts.next().unwrap_or_default();
        let authority_ok = if authority.starts_with("did:") { Did::validate(authority) } else { Handle::validate(authority) };
        authority_ok.map_err(|_| err("authority is not a valid DID or handle"))?;
        if let Some(collection) = parts.next() {
            Nsid::validate(collection).map_err(|_| err("collection is not a valid NSID"))?;
        }
        if let Some(rkey) = parts.next() {
            RecordKey::validate(rkey).map_err(|_| err("record key is not valid"))?;
        }
        if parts.next().is_some() {
            return Err(err("too many path segments (at most collection and record key)"));
        }
        Ok(())
    }

    /// Builds `at://{authority}[/{collection}[/{rkey}]]`.
    ///
    /// Fails if a record key is given without a collection, or the result is too long.
    pub fn from_parts(authority: &AtIdentifier, collection: Option<&Nsid>, rkey: Option<&RecordKey>) -> Result<AtUri, SyntaxError> {
        let mut s = format!("at://{authority}");
        match (collection, rkey) {
            (None, Some(_)) => return Err(SyntaxError::AtUri("record key without a collection")),
            (None, None) => {}
            (Some(c), None) => s = format!("{s}/{c}"),
            (Some(c), Some(r)) => s = format!("{s}/{c}/{r}"),
        }
        if s.len() > Self::MAX_LEN {
            return Err(SyntaxError::AtUri("longer than 8 KiB"));
        }
        Ok(AtUri(s))
    }

    fn segment(&self, i: usize) -> Option<&str> {
        self.0["at://".len()..].split('/').nth(i)
    }

    /// The authority (a DID or handle) as a string.
    pub fn authority(&self) -> &str {
        self.segment(0).unwrap_or_default()
    }

    /// The collection NSID, if present.
    pub fn collection(&self) -> Option<&str> {
        self.segment(1)
    }

    /// The record key, if present.
    pub fn rkey(&self) -> Option<&str> {
        self.segment(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_building() {
        let u: AtUri = "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a".parse().unwrap();
        assert_eq!(u.authority(), "did:plc:abc");
        assert_eq!(u.collection(), Some("app.bsky.feed.post"));
        assert_eq!(u.rkey(), Some("3jzfcijpj2z2a"));
        let built =
            AtUri::from_parts(&"did:plc:abc".parse().unwrap(), Some(&"app.bsky.feed.post".parse().unwrap()), Some(&"3jzfcijpj2z2a".parse().unwrap())).unwrap();
        assert_eq!(built, u);

        let u: AtUri = "at://alice.test".parse().unwrap();
        assert_eq!((u.authority(), u.collection(), u.rkey()), ("alice.test", None, None));
        let id: AtIdentifier = "alice.test".parse().unwrap();
        assert!(AtUri::from_parts(&id, None, Some(&"self".parse().unwrap())).is_err());
    }
}
