//! `Nsid`: Namespaced Identifiers (atproto.com/specs/nsid).
//!
//! A reversed domain name (the authority) followed by a name: at least three `.`-separated
//! segments, ASCII only, at most 317 characters. Authority segments are 1–63 letters, digits
//! and hyphens, without a leading or trailing hyphen, and the first (the TLD) may not start
//! with a digit. The name is 1–63 letters and digits, not starting with a digit.
//!
//! The spec also caps the authority at 253 characters, but the interop fixtures list a
//! 283-character authority as valid and the reference implementations check only the overall
//! 317, so that is all this checks too.

use super::{string_newtype, SyntaxError};

/// An NSID, e.g. `app.bsky.feed.post`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nsid(String);

string_newtype!(Nsid);

impl Nsid {
    /// Maximum length in characters: a 253-character domain, a dot and a 63-character name.
    pub const MAX_LEN: usize = 253 + 1 + 63;

    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let err = SyntaxError::Nsid;
        if s.len() > Self::MAX_LEN {
            return Err(err("longer than 317 characters"));
        }
        let (authority, name) = s.rsplit_once('.').ok_or(err("needs at least three segments"))?;
        let mut segments = 0;
        for seg in authority.split('.') {
            if seg.is_empty() || seg.len() > 63 {
                return Err(err("each segment must be 1 to 63 characters"));
            }
            if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(err("authority segments may only contain ASCII letters, digits and hyphens"));
            }
            if seg.starts_with('-') || seg.ends_with('-') {
                return Err(err("authority segments may not start or end with a hyphen"));
            }
            if segments == 0 && seg.as_bytes()[0].is_ascii_digit() {
                return Err(err("the first segment may not start with a digit"));
            }
            segments += 1;
        }
        if segments < 2 {
            return Err(err("needs at least three segments"));
        }
        if name.is_empty() || name.len() > 63 {
            return Err(err("the name must be 1 to 63 characters"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric()) || name.as_bytes()[0].is_ascii_digit() {
            return Err(err("the name must be ASCII letters and digits, not starting with a digit"));
        }
        Ok(())
    }

    /// The authority as a domain name in normal order, e.g. `feed.bsky.app` for
    /// `app.bsky.feed.post` (the name lexicon resolution looks up under `_lexicon.`).
    pub fn authority(&self) -> String {
        let reversed: Vec<&str> = self.authority_reversed().rsplit('.').collect();
        reversed.join(".")
    }

    /// The authority as written in the NSID, e.g. `app.bsky.feed`.
    pub fn authority_reversed(&self) -> &str {
        self.0.rsplit_once('.').map(|(a, _)| a).unwrap_or_default()
    }

    /// The final segment, e.g. `post`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('.').map(|(_, n)| n).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let n: Nsid = "app.bsky.feed.post".parse().unwrap();
        assert_eq!(n.authority(), "feed.bsky.app");
        assert_eq!(n.authority_reversed(), "app.bsky.feed");
        assert_eq!(n.name(), "post");
    }

    #[test]
    fn rejects() {
        for bad in ["a.b", "a.b.", "a..b.c", "1a.b.c", "a.b.1c", "a.b.c-d", "a.-b.c", "a.b.c_d"] {
            assert!(bad.parse::<Nsid>().is_err(), "{bad}");
        }
    }
}
