//! MST keys: their layer ("height") and validity.

use sha2::{Digest, Sha256};

/// Longest key the spec allows.
pub const MAX_KEY_LEN: usize = 1024;

/// The layer of a key: leading zero bits of SHA-256(key), counted in 2-bit steps
/// (a fanout of 4).
pub fn height(key: &[u8]) -> u32 {
    let digest = Sha256::digest(key);
    let mut zeros = 0;
    for byte in digest {
        if byte == 0 {
            zeros += 8;
            continue;
        }
        zeros += byte.leading_zeros();
        break;
    }
    zeros / 2
}

/// Length in bytes of the prefix two keys share.
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Whether `key` is a valid repository path: `collection/rkey`, each side non-empty, ASCII
/// letters, digits and `_~-:.` only, at most 1024 bytes.
pub fn is_valid(key: &str) -> bool {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return false;
    }
    let mut parts = key.split('/');
    let (Some(coll), Some(rkey), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'~' | b'-' | b':' | b'.'));
    ok(coll) && ok(rkey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_heights() {
        assert_eq!(height(b""), 0);
        assert_eq!(height(b"asdf"), 0);
        assert_eq!(height(b"blue"), 1);
        assert_eq!(height(b"2653ae71"), 0);
        assert_eq!(height(b"88bfafc7"), 2);
        assert_eq!(height(b"2a92d355"), 4);
        assert_eq!(height(b"884976f5"), 6);
    }

    #[test]
    fn validity() {
        assert!(is_valid("app.bsky.feed.post/3jzfcijpj2z2a"));
        assert!(!is_valid("app.bsky.feed.post"));
        assert!(!is_valid("a/b/c"));
        assert!(!is_valid("/b"));
        assert!(!is_valid("a/"));
        assert!(!is_valid("a/b c"));
        assert!(!is_valid(&format!("a/{}", "x".repeat(1024))));
    }
}
