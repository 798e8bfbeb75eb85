//! String lengths as Lexicon counts them: `minLength`/`maxLength` in UTF-8 bytes,
//! `minGraphemes`/`maxGraphemes` in extended grapheme clusters (Unicode UAX #29), so that a
//! flag, a family emoji or a letter with combining accents counts as one.

use unicode_segmentation::UnicodeSegmentation;

/// The number of user-perceived characters (extended grapheme clusters) in `s`.
pub fn grapheme_len(s: &str) -> usize {
    s.graphemes(true).count()
}

/// The length of `s` in UTF-8 bytes (what `minLength`/`maxLength` of a string limit).
pub fn utf8_len(s: &str) -> usize {
    s.len()
}

/// Whether `s` has more than `max` graphemes, without segmenting when the byte length
/// already settles it (a grapheme is at least one byte).
pub(crate) fn graphemes_exceed(s: &str, max: u64) -> bool {
    s.len() as u64 > max && grapheme_len(s) as u64 > max
}

/// Whether `s` has fewer than `min` graphemes.
pub(crate) fn graphemes_below(s: &str, min: u64) -> bool {
    (s.len() as u64) < min || (grapheme_len(s) as u64) < min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphemes_are_user_perceived_characters() {
        assert_eq!(grapheme_len(""), 0);
        assert_eq!(grapheme_len("abc"), 3);
        // Regional-indicator pairs (flags) are one each.
        assert_eq!(grapheme_len("🇩🇪🇫🇷"), 2);
        // ZWJ sequences: the family emoji is seven code points, one grapheme.
        let family = "👩\u{200d}👩\u{200d}👦\u{200d}👦";
        assert_eq!(family.chars().count(), 7);
        assert_eq!(grapheme_len(family), 1);
        // Rainbow flag: white flag, VS16, ZWJ, rainbow.
        assert_eq!(grapheme_len("🏳️\u{200d}🌈"), 1);
        // Combining marks attach to their base.
        assert_eq!(grapheme_len("e\u{301}e\u{301}"), 2);
        // Skin-tone modifiers attach to the emoji.
        assert_eq!(grapheme_len("👍🏽"), 1);
        // CRLF is one grapheme; Hangul jamo compose.
        assert_eq!(grapheme_len("\r\n"), 1);
        assert_eq!(grapheme_len("\u{1100}\u{1161}\u{11a8}"), 1);
        // The fixture's value: six flag pairs plus six rainbow flags.
        assert_eq!(grapheme_len(&"🇩🇪🏳️\u{200d}🌈".repeat(6)), 12);
    }

    #[test]
    fn bounds_use_graphemes_not_bytes() {
        let family = "👩\u{200d}👩\u{200d}👦\u{200d}👦";
        assert_eq!(utf8_len(family), 25);
        assert!(!graphemes_exceed(family, 1));
        assert!(graphemes_exceed(&family.repeat(2), 1));
        assert!(graphemes_below(&family.repeat(2), 10));
        assert!(!graphemes_below(&"a".repeat(10), 10));
        assert!(graphemes_below("", 1));
        assert!(!graphemes_exceed("", 0));
        // 300 emoji are 300 graphemes, far more than 300 bytes.
        let post = "😀".repeat(300);
        assert!(!graphemes_exceed(&post, 300));
        assert!(graphemes_exceed(&(post + "a"), 300));
    }
}
