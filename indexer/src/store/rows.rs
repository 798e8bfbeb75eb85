//! Values the store keeps, encoded with postcard (varints, no field names).

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{Result, StoreError};

/// An account's status as `#account` events set it. Content of an account that is not
/// active is hidden at read time; a deleted account's content is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AccountStatus {
    #[default]
    Active,
    Deactivated,
    Takendown,
    Suspended,
    Deleted,
    /// Any other inactive status the stream names (`desynchronized`, `throttled`…): hidden.
    OtherInactive,
}

impl AccountStatus {
    /// From an `#account` event's `active` and `status`.
    pub fn from_event(active: bool, status: Option<&str>) -> AccountStatus {
        match (active, status) {
            (true, _) => AccountStatus::Active,
            (false, Some("deactivated")) => AccountStatus::Deactivated,
            (false, Some("takendown")) => AccountStatus::Takendown,
            (false, Some("suspended")) => AccountStatus::Suspended,
            (false, Some("deleted")) => AccountStatus::Deleted,
            (false, _) => AccountStatus::OtherInactive,
        }
    }

    pub fn visible(self) -> bool {
        self == AccountStatus::Active
    }
}

/// What the store knows of an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ActorRow {
    pub did: String,
    /// A handle that resolved both ways; `None` until checked or when the check failed.
    pub handle: Option<String>,
    pub status: AccountStatus,
    /// µs since the epoch when the indexer first saw the actor.
    pub first_seen: u64,
}

/// A stored record document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRow {
    /// µs since the epoch when it was indexed.
    pub indexed_at: u64,
    /// The record's CID, in binary form.
    #[serde(with = "serde_bytes")]
    pub cid: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub cbor: Vec<u8>,
}

/// A notification: how to show the record that caused it, and the subject record id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifRow {
    /// A reply, mention or quote: the post and its CID are in `doc`.
    Post { subject: Option<u64> },
    /// A like, repost or follow that is exactly its facts, rebuilt by
    /// [`crate::index::edge_record::rebuild`].
    Edge { record: crate::index::edge_record::Compact, subject: Option<u64> },
    /// An edge record with more than its facts: its CID and bytes, whole.
    Whole {
        #[serde(with = "serde_bytes")]
        cid: Vec<u8>,
        #[serde(with = "serde_bytes")]
        record: Vec<u8>,
        subject: Option<u64>,
    },
}

impl NotifRow {
    pub fn subject(&self) -> Option<u64> {
        match self {
            NotifRow::Post { subject } | NotifRow::Edge { subject, .. } | NotifRow::Whole { subject, .. } => *subject,
        }
    }
}

/// A generic record's links: `(target id, path id)` pairs.
pub type LinkRow = Vec<(u64, u16)>;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data structs serialize infallibly.
    postcard::to_allocvec(value).expect("postcard encoding of a plain struct")
}

pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt { what, why: e.to_string() })
}
