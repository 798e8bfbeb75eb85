//! Indexing: pure functions from one decoded record to the facts the store keeps about it.
//! Nothing here touches storage, so each writer is tested with bytes alone.
//!
//! - [`actor`], for `app.bsky.actor.profile`.
//! - [`feed`], for posts (replies, quotes, embeds, facets, langs, tags), likes, reposts, feed
//!   generators and threadgates.
//! - [`graph`], for follows, blocks, lists and list items.
//! - [`edge_record`], for likes, reposts and follows rebuilt from their facts, so that their
//!   notifications need not keep the record's bytes.
//! - [`links`], for every AT-URI and DID anywhere in any record, for backlinks.
//!
//! A record of a collection the indexer knows but that does not decode as that collection is
//! [`IndexError::Invalid`]: the caller counts it and skips it. A collection it does not know
//! is indexed for its links only.

pub mod actor;
pub mod edge_record;
pub mod feed;
pub mod graph;
pub mod links;

use atproto::Ipld;

pub use feed::PostFacts;

/// Why a record was not indexed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{collection} record does not decode: {why}")]
    Invalid { collection: &'static str, why: String },
}

/// The collections with typed indexes, and what the store keeps for each.
#[derive(Debug, Clone, PartialEq)]
pub enum Facts {
    Profile,
    Post(Box<PostFacts>),
    /// A like or repost of `subject` (an AT-URI).
    Like {
        subject: String,
    },
    Repost {
        subject: String,
    },
    /// A follow or block of `subject` (a DID).
    Follow {
        subject: String,
    },
    Block {
        subject: String,
    },
    List,
    ListItem {
        list: String,
        subject: String,
    },
    Generator,
    Threadgate,
    /// Any other collection: only its links are indexed.
    Other,
}

/// The typed edge kinds, as the store names its edge column families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    Like,
    Repost,
    Follow,
    Block,
    ListItem,
}

pub const PROFILE: &str = "app.bsky.actor.profile";
pub const POST: &str = "app.bsky.feed.post";
pub const LIKE: &str = "app.bsky.feed.like";
pub const REPOST: &str = "app.bsky.feed.repost";
pub const GENERATOR: &str = "app.bsky.feed.generator";
pub const THREADGATE: &str = "app.bsky.feed.threadgate";
pub const FOLLOW: &str = "app.bsky.graph.follow";
pub const BLOCK: &str = "app.bsky.graph.block";
pub const LIST: &str = "app.bsky.graph.list";
pub const LISTITEM: &str = "app.bsky.graph.listitem";

impl Facts {
    /// The edge this record is, if it is one.
    pub fn edge(&self) -> Option<(EdgeKind, &str)> {
        Some(match self {
            Facts::Like { subject } => (EdgeKind::Like, subject),
            Facts::Repost { subject } => (EdgeKind::Repost, subject),
            Facts::Follow { subject } => (EdgeKind::Follow, subject),
            Facts::Block { subject } => (EdgeKind::Block, subject),
            Facts::ListItem { subject, .. } => (EdgeKind::ListItem, subject),
            _ => return None,
        })
    }

    /// Whether the store keeps the record's bytes (to show it in views).
    pub fn keeps_document(&self) -> bool {
        matches!(self, Facts::Profile | Facts::Post(_) | Facts::List | Facts::Generator | Facts::Threadgate)
    }
}

/// A decoded record: its typed facts and every link it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub facts: Facts,
    pub links: Vec<links::Link>,
}

/// Indexes a record of `collection` from its DAG-CBOR.
pub fn record(collection: &str, cbor: &[u8]) -> Result<Indexed, IndexError> {
    let value = atproto::cbor::decode_value(cbor)
        .map_err(|e| IndexError::Invalid { collection: typed_collection(collection).unwrap_or("(other)"), why: e.to_string() })?;
    let facts = facts_of(collection, &value)?;
    Ok(Indexed { facts, links: links::extract(&value) })
}

/// The facts of a record of `collection`, from its DAG-CBOR.
pub fn facts(collection: &str, cbor: &[u8]) -> Result<Facts, IndexError> {
    record(collection, cbor).map(|r| r.facts)
}

/// The collection's name as a static string when it is one with typed indexes (for errors
/// and metric labels, whose values must be bounded).
pub fn typed_collection(collection: &str) -> Option<&'static str> {
    [PROFILE, POST, LIKE, REPOST, GENERATOR, THREADGATE, FOLLOW, BLOCK, LIST, LISTITEM].into_iter().find(|c| *c == collection)
}

fn facts_of(collection: &str, value: &Ipld) -> Result<Facts, IndexError> {
    let invalid = |collection: &'static str, why: String| IndexError::Invalid { collection, why };
    Ok(match collection {
        PROFILE => actor::profile(value).map_err(|w| invalid(PROFILE, w))?,
        POST => Facts::Post(Box::new(feed::post(value).map_err(|w| invalid(POST, w))?)),
        LIKE => Facts::Like { subject: feed::subject_uri(value).map_err(|w| invalid(LIKE, w))? },
        REPOST => Facts::Repost { subject: feed::subject_uri(value).map_err(|w| invalid(REPOST, w))? },
        GENERATOR => feed::generator(value).map_err(|w| invalid(GENERATOR, w))?,
        THREADGATE => feed::threadgate(value).map_err(|w| invalid(THREADGATE, w))?,
        FOLLOW => Facts::Follow { subject: graph::subject_did(value).map_err(|w| invalid(FOLLOW, w))? },
        BLOCK => Facts::Block { subject: graph::subject_did(value).map_err(|w| invalid(BLOCK, w))? },
        LIST => graph::list(value).map_err(|w| invalid(LIST, w))?,
        LISTITEM => graph::list_item(value).map_err(|w| invalid(LISTITEM, w))?,
        _ => Facts::Other,
    })
}

/// Decodes an IPLD map into a typed struct (records are checked field by field this way,
/// never walked by hand).
pub(crate) fn typed<T: serde::de::DeserializeOwned>(value: &Ipld) -> Result<T, String> {
    ipld_core::serde::from_ipld(value.clone()).map_err(|e| e.to_string())
}

/// The `$type` of a union member.
pub(crate) fn union_type(value: &Ipld) -> Option<&str> {
    match value {
        Ipld::Map(m) => match m.get("$type") {
            Some(Ipld::String(t)) => Some(t.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `value` is a record whose `$type` (when present) is `collection`.
pub(crate) fn check_type(value: &Ipld, collection: &str) -> Result<(), String> {
    match value {
        Ipld::Map(m) => match m.get("$type") {
            None => Ok(()),
            Some(Ipld::String(t)) if t == collection => Ok(()),
            Some(t) => Err(format!("$type is {t:?}, not {collection}")),
        },
        _ => Err("a record must be a map".into()),
    }
}
