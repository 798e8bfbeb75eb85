//! Search: one Tantivy index in process, beside the RocksDB store. Posts are indexed by text,
//! author, the author replied to, langs, tags, mentions, links, domains and created time (the
//! record key's TID time, as feeds sort);
//! actors by handle, display name and description (and their prefixes, for typeahead).
//!
//! The store decides what is indexed: every change that affects search is written to its
//! `search_queue` in the same batch as the change, as a [`SearchOp`] naming only the post or
//! actor. The search stage reads the current state from the store, replaces the document,
//! commits (at least every 500 ms), and only then takes the ops off the queue. After a crash
//! the queue is replayed, so Tantivy never misses a post RocksDB has, and replaying an op is
//! harmless.

pub mod query;

use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT};
use tantivy::tokenizer::TokenStream;
use tantivy::{doc, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

use crate::index::{actor, Facts, PostFacts};
use crate::store::Store;

/// A search change, queued by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchOp {
    /// Re-index (or remove, if it is gone) the post at this URI.
    Post { uri: String },
    /// Re-index the actor's handle and profile.
    Actor { did: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("opening the search index: {0}")]
    Open(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("creating {0}: {1}")]
    Io(String, std::io::Error),
}

/// The schema's fields.
#[derive(Clone, Copy)]
pub(crate) struct Fields {
    kind: Field,
    uri: Field,
    author: Field,
    reply_to: Field,
    text: Field,
    lang: Field,
    tag: Field,
    mention: Field,
    link: Field,
    domain: Field,
    created: Field,
    did: Field,
    handle: Field,
    name: Field,
    prefix: Field,
}

const POST: &str = "post";
const ACTOR: &str = "actor";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let f = Fields {
        kind: b.add_text_field("kind", STRING),
        uri: b.add_text_field("uri", STRING | STORED),
        author: b.add_text_field("author", STRING),
        reply_to: b.add_text_field("reply_to", STRING),
        text: b.add_text_field("text", TEXT),
        lang: b.add_text_field("lang", STRING),
        tag: b.add_text_field("tag", STRING),
        mention: b.add_text_field("mention", STRING),
        link: b.add_text_field("link", STRING),
        domain: b.add_text_field("domain", STRING),
        created: b.add_i64_field("created", INDEXED | FAST),
        did: b.add_text_field("did", STRING | STORED),
        handle: b.add_text_field("handle", TEXT),
        name: b.add_text_field("name", TEXT),
        prefix: b.add_text_field("prefix", STRING),
    };
    (b.build(), f)
}

/// The search index.
pub struct Search {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    pub(crate) f: Fields,
}

impl Search {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Search, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| SearchError::Io(dir.display().to_string(), e))?;
        let (schema, f) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        let index = Index::open_or_create(directory, schema)?;
        // One indexing thread: the machine this is sized for has two cores, and RocksDB has the other.
        let writer = index.writer_with_num_threads(1, 64 << 20)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Search { index, reader, writer: Mutex::new(writer), f })
    }

    /// Applies ops from the store's current state (not yet committed).
    pub fn apply(&self, store: &Store, ops: &[SearchOp]) -> Result<(), SearchError> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for op in ops {
            match op {
                SearchOp::Post { uri } => {
                    writer.delete_term(Term::from_field_text(self.f.uri, uri));
                    if let Some(doc) = self.post_doc(store, uri)? {
                        writer.add_document(doc)?;
                    }
                }
                SearchOp::Actor { did } => {
                    writer.delete_term(Term::from_field_text(self.f.did, did));
                    if let Some(doc) = self.actor_doc(store, did)? {
                        writer.add_document(doc)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits what [`apply`](Self::apply) added and makes it searchable.
    pub fn commit(&self) -> Result<(), SearchError> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn post_doc(&self, store: &Store, uri: &str) -> Result<Option<TantivyDocument>, SearchError> {
        let Some(key) = store.record_key(uri)? else { return Ok(None) };
        let Some(row) = store.doc(key)? else { return Ok(None) };
        let Ok(Facts::Post(post)) = crate::index::facts(crate::index::POST, &row.cbor) else { return Ok(None) };
        let Some(author) = store.actor(key.actor)? else { return Ok(None) };
        let reply_to = post.reply_parent.as_deref().and_then(crate::store::write::split_uri).map(|(did, _, _)| did);
        // Posts sort as feeds do, by their record key's TID time (unique to the microsecond,
        // where `createdAt` often ties at the millisecond); `createdAt` for other keys.
        let time = match key.rkey.tid() {
            Some(_) => key.rkey.micros() as i64,
            None => post.created_micros.unwrap_or(row.indexed_at as i64),
        };
        Ok(Some(self.post_fields(uri, &author.did, reply_to.as_deref(), &post, time)))
    }

    fn post_fields(&self, uri: &str, author: &str, reply_to: Option<&str>, post: &PostFacts, time: i64) -> TantivyDocument {
        let f = self.f;
        let mut d = doc!(f.kind => POST, f.uri => uri, f.author => author, f.text => post.text.as_str(),
            f.created => time);
        if let Some(r) = reply_to {
            d.add_text(f.reply_to, r);
        }
        for l in &post.langs {
            d.add_text(f.lang, primary_lang(l));
        }
        for t in &post.tags {
            d.add_text(f.tag, t);
        }
        for m in &post.mentions {
            d.add_text(f.mention, m);
        }
        for l in &post.links {
            d.add_text(f.link, l);
        }
        for dom in post.domains() {
            d.add_text(f.domain, dom);
        }
        d
    }

    fn actor_doc(&self, store: &Store, did: &str) -> Result<Option<TantivyDocument>, SearchError> {
        let Some(id) = store.actor_id(did)? else { return Ok(None) };
        let Some(row) = store.actor(id)? else { return Ok(None) };
        let profile = match (store.coll_id(crate::index::PROFILE)?, store.rkey("self")?) {
            (Some(coll), Some(rkey)) => store.doc(crate::store::RecordKey { actor: id, coll, rkey })?,
            _ => None,
        };
        let fields = profile.map(|p| actor::fields(&p.cbor)).unwrap_or_default();
        let f = self.f;
        let mut d = doc!(f.kind => ACTOR, f.did => did);
        let mut words: Vec<String> = Vec::new();
        if let Some(h) = &row.handle {
            d.add_text(f.handle, h);
            words.push(h.to_lowercase());
        }
        if let Some(n) = &fields.display_name {
            d.add_text(f.name, n);
            words.extend(n.split_whitespace().map(str::to_lowercase));
        }
        if let Some(desc) = &fields.description {
            d.add_text(f.name, desc);
        }
        let mut prefixes: Vec<String> = Vec::new();
        for w in &words {
            let chars: Vec<char> = w.chars().take(32).collect();
            prefixes.extend((1..=chars.len()).map(|n| chars[..n].iter().collect()));
        }
        prefixes.sort();
        prefixes.dedup();
        for p in prefixes {
            d.add_text(f.prefix, p);
        }
        Ok(Some(d))
    }

    /// Post URIs matching `q`, newest first, skipping the first `offset`.
    pub fn posts(&self, q: &query::PostQuery, offset: usize, limit: usize) -> Result<Vec<String>, SearchError> {
        let query = q.to_query(self)?;
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset).order_by_fast_field::<i64>("created", Order::Desc);
        let hits = searcher.search(&query, &top)?;
        let mut out = Vec::with_capacity(hits.len());
        for (_, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Some(uri) = doc.get_first(self.f.uri).and_then(|v| v.as_str()) {
                out.push(uri.to_owned());
            }
        }
        Ok(out)
    }

    /// Actor DIDs matching the words of `q` (by relevance); `typeahead` matches prefixes of
    /// handles and display-name words instead.
    pub fn actors(&self, q: &str, typeahead: bool, offset: usize, limit: usize) -> Result<Vec<String>, SearchError> {
        let f = self.f;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, term(f.kind, ACTOR))];
        let words: Vec<String> = q.split_whitespace().map(|w| w.trim_start_matches('@').to_lowercase()).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        for w in &words {
            if typeahead {
                clauses.push((Occur::Must, term(f.prefix, w)));
            } else {
                let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, term(f.prefix, w))];
                for field in [f.handle, f.name] {
                    for t in self.tokens(field, w) {
                        any.push((Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs))));
                    }
                }
                clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
            }
        }
        let searcher = self.reader.searcher();
        let hits = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit.max(1)).and_offset(offset))?;
        let mut out = Vec::new();
        for (_, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Some(did) = doc.get_first(f.did).and_then(|v| v.as_str()) {
                out.push(did.to_owned());
            }
        }
        Ok(out)
    }

    /// The terms the field's analyzer makes of `text`.
    pub(crate) fn tokens(&self, field: Field, text: &str) -> Vec<Term> {
        let Ok(mut analyzer) = self.index.tokenizer_for_field(field) else { return Vec::new() };
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(Term::from_field_text(field, &t.text));
        }
        out
    }

    /// Documents in the index (posts and actors), as of the last commit.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

pub(crate) fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

/// `en-US` searches as `en`.
fn primary_lang(lang: &str) -> String {
    lang.split('-').next().unwrap_or(lang).to_ascii_lowercase()
}
