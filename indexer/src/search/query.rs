//! The post search syntax people already use in the Bluesky app: words (all must match),
//! `"quoted phrases"`, `from:`, `to:` and `mentions:` (a handle, a DID or `me`), `#tag`,
//! `domain:`, `lang:`, `since:` and `until:` (a date `YYYY-MM-DD` or an RFC 3339 datetime).

use std::ops::Bound;

use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;

use super::{primary_lang, term, Search, SearchError};

/// A parsed query, with actors still as the user wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostQuery {
    pub words: Vec<String>,
    pub phrases: Vec<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub mentions: Vec<String>,
    pub tags: Vec<String>,
    pub domains: Vec<String>,
    pub langs: Vec<String>,
    /// µs since the epoch, inclusive.
    pub since: Option<i64>,
    /// µs since the epoch, exclusive.
    pub until: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("{0}: not a date (YYYY-MM-DD) or datetime")]
    BadDate(String),
    #[error("the query is empty")]
    Empty,
    #[error("unclosed quote")]
    UnclosedQuote,
}

impl PostQuery {
    pub fn parse(q: &str) -> Result<PostQuery, QueryError> {
        let mut out = PostQuery::default();
        let mut rest = q.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('"') {
                let end = after.find('"').ok_or(QueryError::UnclosedQuote)?;
                let phrase = after[..end].trim();
                if !phrase.is_empty() {
                    out.phrases.push(phrase.to_owned());
                }
                rest = after[end + 1..].trim_start();
                continue;
            }
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let token = &rest[..end];
            rest = rest[end..].trim_start();
            let value = |prefix: &str| token.strip_prefix(prefix).filter(|v| !v.is_empty()).map(|v| v.trim_start_matches('@').to_owned());
            if let Some(v) = value("from:") {
                out.from.push(v);
            } else if let Some(v) = value("to:") {
                out.to.push(v);
            } else if let Some(v) = value("mentions:") {
                out.mentions.push(v);
            } else if let Some(v) = value("domain:") {
                out.domains.push(v.trim_start_matches("www.").to_ascii_lowercase());
            } else if let Some(v) = value("lang:") {
                out.langs.push(primary_lang(&v));
            } else if let Some(v) = value("since:") {
                out.since = Some(date(&v)?);
            } else if let Some(v) = value("until:") {
                out.until = Some(date(&v)?);
            } else if let Some(tag) = token.strip_prefix('#').filter(|t| !t.is_empty()) {
                out.tags.push(tag.to_lowercase());
            } else {
                out.words.push(token.to_owned());
            }
        }
        if out == PostQuery::default() {
            return Err(QueryError::Empty);
        }
        Ok(out)
    }

    /// Every actor reference, for the caller to resolve to DIDs.
    pub fn actors_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.from.iter_mut().chain(self.to.iter_mut()).chain(self.mentions.iter_mut())
    }

    pub(crate) fn to_query(&self, s: &Search) -> Result<Box<dyn Query>, SearchError> {
        let f = s.f;
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, term(f.kind, super::POST))];
        for w in &self.words {
            let terms = s.tokens(f.text, w);
            if terms.is_empty() {
                continue;
            }
            must.push((Occur::Must, phrase_or_term(terms)));
        }
        for p in &self.phrases {
            let terms = s.tokens(f.text, p);
            if !terms.is_empty() {
                must.push((Occur::Must, phrase_or_term(terms)));
            }
        }
        for (field, values) in
            [(f.author, &self.from), (f.reply_to, &self.to), (f.mention, &self.mentions), (f.tag, &self.tags), (f.domain, &self.domains), (f.lang, &self.langs)]
        {
            for v in values {
                must.push((Occur::Must, term(field, v)));
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let lower = self.since.map_or(Bound::Unbounded, Bound::Included);
            let upper = self.until.map_or(Bound::Unbounded, Bound::Excluded);
            must.push((Occur::Must, Box::new(RangeQuery::new_i64_bounds("created".into(), lower, upper))));
        }
        Ok(Box::new(BooleanQuery::new(must)))
    }
}

fn phrase_or_term(mut terms: Vec<tantivy::Term>) -> Box<dyn Query> {
    if terms.len() == 1 {
        Box::new(TermQuery::new(terms.remove(0), IndexRecordOption::WithFreqs))
    } else {
        Box::new(PhraseQuery::new(terms))
    }
}

/// µs since the epoch of a date (midnight UTC) or an RFC 3339 datetime.
fn date(v: &str) -> Result<i64, QueryError> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()).unwrap_or(0));
    }
    chrono::DateTime::parse_from_rfc3339(v).map(|d| d.timestamp_micros()).map_err(|_| QueryError::BadDate(v.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syntax_people_use_parses() {
        let q = PostQuery::parse(r#"rust "memory safe" from:alice.test to:@bob.test mentions:did:plc:c #Tag domain:www.Example.com lang:en-US since:2026-07-01 until:2026-07-05T00:00:00Z"#).unwrap();
        assert_eq!(q.words, ["rust"]);
        assert_eq!(q.phrases, ["memory safe"]);
        assert_eq!(
            (q.from.as_slice(), q.to.as_slice(), q.mentions.as_slice()),
            (&["alice.test".to_string()][..], &["bob.test".to_string()][..], &["did:plc:c".to_string()][..])
        );
        assert_eq!(
            (q.tags.as_slice(), q.domains.as_slice(), q.langs.as_slice()),
            (&["tag".to_string()][..], &["example.com".to_string()][..], &["en".to_string()][..])
        );
        assert_eq!(q.since, Some(1_782_864_000_000_000));
        assert_eq!(q.until, Some(1_783_209_600_000_000));
        assert_eq!(PostQuery::parse("  "), Err(QueryError::Empty));
        assert_eq!(PostQuery::parse("\"open"), Err(QueryError::UnclosedQuote));
        assert_eq!(PostQuery::parse("since:yesterday"), Err(QueryError::BadDate("yesterday".into())));
    }
}
