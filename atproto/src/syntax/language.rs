//! `Language`: the Lexicon `language` string format, a BCP 47 language tag (RFC 5646).
//!
//! Two layers, as in the interop fixtures:
//! - syntax ([`Language::check_syntax`]): the RFC 5646 `Language-Tag` grammar, with the
//!   primary language subtag restricted (as in the reference implementations) to 2–3
//!   lowercase letters, plus the grandfathered tags and private-use-only tags (`x-…`);
//! - validity (construction): no variant subtag and no extension singleton appears twice
//!   (case-insensitively), per RFC 5646 §2.2.5 and §2.2.6.

use super::{string_newtype, SyntaxError};

/// The grandfathered tags of RFC 5646 (irregular, then regular), matched exactly.
#[rustfmt::skip]
const GRANDFATHERED: &[&str] = &[
    "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
    "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-BE-FR", "sgn-BE-NL",
    "sgn-CH-DE", "art-lojban", "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka",
    "zh-min", "zh-min-nan", "zh-xiang",
];

/// A language tag, e.g. `en`, `pt-BR`, `zh-Hant`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language(String);

string_newtype!(Language);

fn alpha(t: &str, n: std::ops::RangeInclusive<usize>) -> bool {
    n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphabetic())
}

fn alnum(t: &str, n: std::ops::RangeInclusive<usize>) -> bool {
    n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_region(t: &str) -> bool {
    alpha(t, 2..=2) || (t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()))
}

fn is_variant(t: &str) -> bool {
    alnum(t, 5..=8) || (alnum(t, 4..=4) && t.as_bytes()[0].is_ascii_digit())
}

fn is_singleton(t: &str) -> bool {
    alnum(t, 1..=1) && !t.eq_ignore_ascii_case("x")
}

/// The variant subtags and extension singletons of a well-formed tag (empty for
/// grandfathered and private-use-only tags).
fn lex(s: &str) -> Result<(Vec<&str>, Vec<&str>), SyntaxError> {
    let err = SyntaxError::Language;
    if GRANDFATHERED.contains(&s) {
        return Ok(Default::default());
    }
    let tags: Vec<&str> = s.split('-').collect();
    let private_use = |rest: &[&str]| rest.len() > 1 && rest[1..].iter().all(|t| alnum(t, 1..=8));
    if tags[0].eq_ignore_ascii_case("x") {
        return if private_use(&tags) { Ok(Default::default()) } else { Err(err("bad private-use subtags")) };
    }
    if !(2..=3).contains(&tags[0].len()) || !tags[0].bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(err("primary language must be 2 or 3 lowercase letters"));
    }
    let mut i = 1;
    let mut take = |pred: &dyn Fn(&str) -> bool| {
        let ok = tags.get(i).is_some_and(|t| pred(t));
        i += ok as usize;
        ok
    };
    for _ in 0..3 {
        if !take(&|t| alpha(t, 3..=3)) {
            break; // extended language subtags
        }
    }
    take(&|t| alpha(t, 4..=4)); // script
    take(&is_region);
    let mut variants = Vec::new();
    while tags.get(i).is_some_and(|t| is_variant(t)) {
        variants.push(tags[i]);
        i += 1;
    }
    let mut singletons = Vec::new();
    while tags.get(i).is_some_and(|t| is_singleton(t)) {
        singletons.push(tags[i]);
        i += 1;
        let start = i;
        while tags.get(i).is_some_and(|t| alnum(t, 2..=8)) {
            i += 1;
        }
        if i == start {
            return Err(err("an extension singleton needs at least one subtag"));
        }
    }
    if tags.get(i).is_some_and(|t| t.eq_ignore_ascii_case("x")) {
        if !private_use(&tags[i..]) {
            return Err(err("bad private-use subtags"));
        }
        i = tags.len();
    }
    if i != tags.len() {
        return Err(err("subtags out of order or malformed"));
    }
    Ok((variants, singletons))
}

fn has_duplicate(items: &[&str]) -> bool {
    items.iter().enumerate().any(|(i, a)| items[..i].iter().any(|b| a.eq_ignore_ascii_case(b)))
}

impl Language {
    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        let (variants, singletons) = lex(s)?;
        if has_duplicate(&variants) {
            return Err(SyntaxError::Language("repeated variant subtag"));
        }
        if has_duplicate(&singletons) {
            return Err(SyntaxError::Language("repeated extension singleton"));
        }
        Ok(())
    }

    /// Checks only well-formedness (the grammar), not the no-repeats rules that construction
    /// ([`FromStr`](std::str::FromStr), `TryFrom`) also applies.
    pub fn check_syntax(s: &str) -> Result<(), SyntaxError> {
        lex(s).map(|_| ())
    }

    /// The first subtag: the primary language (`x` for private-use-only tags, `i` for some
    /// grandfathered ones).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_versus_valid() {
        assert!(Language::check_syntax("de-DE-1901-1901").is_ok());
        assert!("de-DE-1901-1901".parse::<Language>().is_err());
        assert!("en-a-foo-b-bar-x-a-a".parse::<Language>().is_ok());
        for bad in ["", "en-", "en--US", "en-a", "en-a-x", "x", "x-", "en-x-toolongtag", "EN"] {
            assert!(Language::check_syntax(bad).is_err(), "{bad:?}");
        }
        assert_eq!("pt-BR".parse::<Language>().unwrap().primary(), "pt");
    }
}
