//! The loose syntax checks of the Lexicon `cid` and `uri` string formats.

/// Whether `s` looks like a CID string: 8–256 characters of `[A-Za-z0-9+=]`, and not a legacy
/// CIDv0 (`Qm…`). This is the Lexicon syntax check only; parse with [`crate::cid::parse`] to
/// decode the multibase, multihash and codec.
pub fn is_valid_cid_string(s: &str) -> bool {
    (8..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'=') && !s.starts_with("Qm")
}

/// Maximum length of a `uri` value in bytes.
pub const MAX_URI_LEN: usize = 8 * 1024;

/// Whether `s` has generic URI syntax (RFC 3986): a scheme (a letter, then letters, digits,
/// `+`, `-`, `.`), `:`, and a non-empty remainder with no whitespace or control characters;
/// at most 8 KiB. Scheme-specific rules are not checked, and non-ASCII characters are
/// tolerated (as IRIs allow and the reference implementation accepts).
pub fn is_valid_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    s.len() <= MAX_URI_LEN
        && scheme.as_bytes().first().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
}
