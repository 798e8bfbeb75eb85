//! `Handle`: DNS-name handles (atproto.com/specs/handle).
//!
//! ASCII labels of letters, digits and hyphens (1–63 characters, no leading or trailing
//! hyphen), at least two labels, a last label (TLD) that does not start with a digit, and at
//! most 253 characters. Handles are case-insensitive: compare [`Handle::normalized`] forms.

use super::{string_newtype, SyntaxError};

/// The handle shown for accounts whose handle does not resolve or verify.
pub const INVALID_HANDLE: &str = "handle.invalid";

/// TLDs that are syntactically valid but not allowed for registered handles (spec, "Additional
/// Non-Syntax Restrictions").
pub const DISALLOWED_TLDS: &[&str] = &["alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"];

/// Whether `tld` (with or without a leading dot, any case) is one of [`DISALLOWED_TLDS`].
pub fn is_disallowed_tld(tld: &str) -> bool {
    let tld = tld.strip_prefix('.').unwrap_or(tld);
    DISALLOWED_TLDS.iter().any(|d| d.eq_ignore_ascii_case(tld))
}

/// A handle, e.g. `alice.bsky.social`. Stored as given; see [`Handle::normalized`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

string_newtype!(Handle);

impl Handle {
    /// Maximum length in characters.
    pub const MAX_LEN: usize = 253;

    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let err = SyntaxError::Handle;
        if s.len() > Self::MAX_LEN {
            return Err(err("longer than 253 characters"));
        }
        let mut labels = 0;
        let mut last = "";
        for label in s.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(err("each label must be 1 to 63 characters"));
            }
            if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(err("labels may only contain ASCII letters, digits and hyphens"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(err("labels may not start or end with a hyphen"));
            }
            labels += 1;
            last = label;
        }
        if labels < 2 {
            return Err(err("needs at least two labels"));
        }
        if last.as_bytes()[0].is_ascii_digit() {
            return Err(err("the top-level domain may not start with a digit"));
        }
        Ok(())
    }

    /// The lowercase form, the one to compare and store.
    pub fn normalized(&self) -> Handle {
        Handle(self.0.to_ascii_lowercase())
    }

    /// The last label, e.g. `social`.
    pub fn tld(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or_default()
    }

    /// Whether the TLD is one that may not be registered (`.local`, `.onion`, …), though the
    /// syntax is valid.
    pub fn is_disallowed_tld(&self) -> bool {
        is_disallowed_tld(self.tld())
    }

    /// Whether this is the special [`INVALID_HANDLE`] value.
    pub fn is_invalid_marker(&self) -> bool {
        self.0.eq_ignore_ascii_case(INVALID_HANDLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_and_tld() {
        let h: Handle = "Alice.Bsky.Social".parse().unwrap();
        assert_eq!(h.normalized().as_str(), "alice.bsky.social");
        assert_eq!(h.tld(), "Social");
        assert!(!h.is_disallowed_tld());
        for tld in DISALLOWED_TLDS {
            let h: Handle = format!("laptop.{tld}").parse().unwrap();
            assert!(h.is_disallowed_tld(), "{tld}");
        }
        assert!(is_disallowed_tld(".LOCAL"));
        assert!(!is_disallowed_tld("locals"));
        assert!("handle.invalid".parse::<Handle>().unwrap().is_invalid_marker());
    }

    #[test]
    fn rejects() {
        for bad in ["", "a", "a.", ".a", "a..b", "a.1b", "-a.b", "a-.b", "a_b.c", "é.com"] {
            assert!(bad.parse::<Handle>().is_err(), "{bad:?}");
        }
    }
}
