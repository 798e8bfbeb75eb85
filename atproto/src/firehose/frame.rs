//! Frames: two concatenated DAG-CBOR values, a header `{op, t}` and a body. `op: 1` is a
//! message whose type `t` names the body (`#commit`, `#sync`, `#identity`, `#account`,
//! `#info`); `op: -1` is an error frame `{error, message}`. Unknown message types are kept
//! as raw bytes so consumers can skip them and forwarders can pass them on.

use ::cid::Cid;
use serde::{Deserialize, Serialize};

use crate::cbor::{self, CborError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame header: {0}")]
    Header(CborError),
    #[error("frame body ({t}): {source}")]
    Body { t: String, source: CborError },
    #[error("frame header has op {0}, expected 1 or -1")]
    UnknownOp(i64),
    #[error("message frame has no type")]
    MissingType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    op: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
}

/// A repository operation in a `#commit` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoOp {
    /// `create`, `update` or `delete`.
    pub action: String,
    /// `collection/rkey`.
    pub path: String,
    /// The new record CID; null for deletes.
    pub cid: Option<Cid>,
    /// The previous record CID, for updates and deletes (Sync 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Cid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitEvent {
    pub seq: i64,
    /// Deprecated; always false.
    #[serde(default)]
    pub rebase: bool,
    /// Deprecated; always false in Sync 1.1.
    #[serde(default)]
    pub too_big: bool,
    pub repo: String,
    pub commit: Cid,
    pub rev: String,
    pub since: Option<String>,
    /// CAR slice: the commit, new blocks and covering proofs.
    #[serde(with = "serde_bytes")]
    pub blocks: Vec<u8>,
    pub ops: Vec<RepoOp>,
    #[serde(default)]
    pub blobs: Vec<Cid>,
    /// The MST root before this commit (Sync 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_data: Option<Cid>,
    pub time: String,
}

impl CommitEvent {
    /// Appends the canonical DAG-CBOR of the event: what the derived `Serialize` produces,
    /// written directly (the relay and `world` encode one per commit; see `cbor::write`).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        use crate::cbor::write;
        // Keys in canonical order: by length, then bytewise.
        write::head(out, 5, 11 + self.prev_data.is_some() as u64);
        write::text(out, "ops");
        write::head(out, 4, self.ops.len() as u64);
        for op in &self.ops {
            write::head(out, 5, 3 + op.prev.is_some() as u64);
            write::text(out, "cid");
            write::link(out, op.cid.as_ref());
            write::text(out, "path");
            write::text(out, &op.path);
            if let Some(prev) = &op.prev {
                write::text(out, "prev");
                write::link(out, Some(prev));
            }
            write::text(out, "action");
            write::text(out, &op.action);
        }
        write::text(out, "rev");
        write::text(out, &self.rev);
        write::text(out, "seq");
        write::int(out, self.seq);
        write::text(out, "repo");
        write::text(out, &self.repo);
        write::text(out, "time");
        write::text(out, &self.time);
        write::text(out, "blobs");
        write::head(out, 4, self.blobs.len() as u64);
        for blob in &self.blobs {
            write::link(out, Some(blob));
        }
        write::text(out, "since");
        write::opt_text(out, self.since.as_deref());
        write::text(out, "blocks");
        write::bytes(out, &self.blocks);
        write::text(out, "commit");
        write::link(out, Some(&self.commit));
        write::text(out, "rebase");
        write::bool(out, self.rebase);
        write::text(out, "tooBig");
        write::bool(out, self.too_big);
        if let Some(prev_data) = &self.prev_data {
            write::text(out, "prevData");
            write::link(out, Some(prev_data));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEvent {
    pub seq: i64,
    pub did: String,
    /// CAR with the commit block only.
    #[serde(with = "serde_bytes")]
    pub blocks: Vec<u8>,
    pub rev: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityEvent {
    pub seq: i64,
    pub did: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub seq: i64,
    pub did: String,
    pub time: String,
    pub active: bool,
    /// `takendown`, `suspended`, `deleted`, `deactivated`, `desynchronized`, `throttled`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoEvent {
    /// e.g. `OutdatedCursor`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The body of an error frame, e.g. `FutureCursor` or `ConsumerTooSlow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One frame of `com.atproto.sync.subscribeRepos`. Frames are decoded one at a time and
/// matched everywhere by value, so `#commit` is not boxed to even out the variants' sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum SubscribeReposFrame {
    Commit(CommitEvent),
    Sync(SyncEvent),
    Identity(IdentityEvent),
    Account(AccountEvent),
    Info(InfoEvent),
    Error(ErrorFrame),
    /// A message type this version does not know; `body` is its DAG-CBOR.
    Unknown {
        t: String,
        body: Vec<u8>,
    },
}

fn body<'a, T: Deserialize<'a>>(t: &str, bytes: &'a [u8]) -> Result<T, FrameError> {
    cbor::decode(bytes).map_err(|source| FrameError::Body { t: t.into(), source })
}

impl SubscribeReposFrame {
    /// Decodes a frame (a whole WebSocket binary message).
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let split = cbor::item_len(bytes).map_err(FrameError::Header)?;
        let header: Header = cbor::decode(&bytes[..split]).map_err(FrameError::Header)?;
        let rest = &bytes[split..];
        match header.op {
            -1 => Ok(Self::Error(body("error", rest)?)),
            1 => {
                let t = header.t.ok_or(FrameError::MissingType)?;
                Ok(match t.as_str() {
                    "#commit" => Self::Commit(body(&t, rest)?),
                    "#sync" => Self::Sync(body(&t, rest)?),
                    "#identity" => Self::Identity(body(&t, rest)?),
                    "#account" => Self::Account(body(&t, rest)?),
                    "#info" => Self::Info(body(&t, rest)?),
                    _ => {
                        // Still require one well-formed DAG-CBOR value.
                        cbor::decode_value(rest).map_err(|source| FrameError::Body { t: t.clone(), source })?;
                        Self::Unknown { t, body: rest.to_vec() }
                    }
                })
            }
            op => Err(FrameError::UnknownOp(op)),
        }
    }

    /// The message type (`#commit`…), or `None` for error frames.
    pub fn kind(&self) -> Option<&str> {
        Some(match self {
            Self::Commit(_) => "#commit",
            Self::Sync(_) => "#sync",
            Self::Identity(_) => "#identity",
            Self::Account(_) => "#account",
            Self::Info(_) => "#info",
            Self::Error(_) => return None,
            Self::Unknown { t, .. } => t,
        })
    }

    /// The sequence number, for the message types that have one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::Commit(e) => Some(e.seq),
            Self::Sync(e) => Some(e.seq),
            Self::Identity(e) => Some(e.seq),
            Self::Account(e) => Some(e.seq),
            _ => None,
        }
    }

    /// Encodes the frame in canonical form.
    pub fn encode(&self) -> Vec<u8> {
        let header = match self.kind() {
            None => Header { op: -1, t: None },
            Some(t) => Header { op: 1, t: Some(t.into()) },
        };
        // Sized for the CAR slice a commit or sync carries, plus room for the other fields.
        let blocks = match self {
            Self::Commit(e) => e.blocks.len() + e.ops.len() * 160,
            Self::Sync(e) => e.blocks.len(),
            Self::Unknown { body, .. } => body.len(),
            _ => 0,
        };
        let mut out = Vec::with_capacity(blocks + 512);
        cbor::encode_into(&mut out, &header).expect("header encodes");
        match self {
            Self::Commit(e) => {
                e.encode_into(&mut out);
                Ok(())
            }
            Self::Sync(e) => cbor::encode_into(&mut out, e),
            Self::Identity(e) => cbor::encode_into(&mut out, e),
            Self::Account(e) => cbor::encode_into(&mut out, e),
            Self::Info(e) => cbor::encode_into(&mut out, e),
            Self::Error(e) => cbor::encode_into(&mut out, e),
            Self::Unknown { body, .. } => {
                out.extend_from_slice(body);
                Ok(())
            }
        }
        .expect("frame body encodes");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_each_kind() {
        let frames = [
            SubscribeReposFrame::Identity(IdentityEvent {
                seq: 5,
                did: "did:plc:abc".into(),
                time: "2024-01-01T00:00:00.000Z".into(),
                handle: Some("alice.test".into()),
            }),
            SubscribeReposFrame::Account(AccountEvent {
                seq: 6,
                did: "did:plc:abc".into(),
                time: "2024-01-01T00:00:00.000Z".into(),
                active: false,
                status: Some("deactivated".into()),
            }),
            SubscribeReposFrame::Info(InfoEvent { name: "OutdatedCursor".into(), message: None }),
            SubscribeReposFrame::Error(ErrorFrame { error: "FutureCursor".into(), message: Some("ahead".into()) }),
            SubscribeReposFrame::Unknown { t: "#future".into(), body: cbor::encode(&vec![1, 2]).unwrap() },
        ];
        for f in frames {
            assert_eq!(SubscribeReposFrame::decode(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn error_frame_header_is_op_minus_one() {
        let f = SubscribeReposFrame::Error(ErrorFrame { error: "ConsumerTooSlow".into(), message: None });
        let bytes = f.encode();
        // {"op": -1} then {"error": "ConsumerTooSlow"}
        assert_eq!(&bytes[..5], &[0xa1, 0x62, b'o', b'p', 0x20]);
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(SubscribeReposFrame::decode(&[]).is_err());
        let header = cbor::encode(&Header { op: 2, t: None }).unwrap();
        assert_eq!(SubscribeReposFrame::decode(&header), Err(FrameError::UnknownOp(2)));
        let header = cbor::encode(&Header { op: 1, t: Some("#commit".into()) }).unwrap();
        assert!(matches!(SubscribeReposFrame::decode(&header), Err(FrameError::Body { .. })));
    }
}
