//! Edge records rebuilt from their facts. A like, repost or follow is almost always exactly
//! `$type`, `createdAt` and `subject`; such a record is stored as its creation time (and, for
//! likes and reposts, the subject's CID digest) instead of its bytes, and rebuilt
//! byte-for-byte when a notification shows it. Its own CID is the hash of the rebuilt bytes.
//!
//! This is the largest saving in the store: an edge's notification is one per like, repost
//! or follow, and keeping the record whole cost about 100 bytes each. A record is only
//! compacted after its rebuild was checked equal to the original bytes and CID, so any
//! record with more (a `via`, a time in another form, non-canonical bytes) is kept whole.

use std::collections::BTreeMap;

use atproto::{Cid, Ipld};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use super::{EdgeKind, FOLLOW, LIKE, REPOST};

/// A `createdAt`: µs relative to the record key's TID time (small for real clients), and which
/// of the fixed-precision forms it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub delta_micros: i64,
    pub form: u8,
}

/// The forms a timestamp is rebuilt in (all with a `Z` suffix), by [`Stamp::form`].
const FORMS: [SecondsFormat; 3] = [SecondsFormat::Millis, SecondsFormat::Secs, SecondsFormat::Micros];

impl Stamp {
    /// The stamp of `created_at` relative to `base_micros`, if one of [`FORMS`] prints it back.
    pub fn of(created_at: &str, base_micros: u64) -> Option<Stamp> {
        let micros = chrono::DateTime::parse_from_rfc3339(created_at).ok()?.timestamp_micros();
        let stamp = |form| Stamp { delta_micros: micros.wrapping_sub(base_micros as i64), form };
        (0..FORMS.len() as u8).map(stamp).find(|s| s.format(base_micros).as_deref() == Some(created_at))
    }

    pub fn format(self, base_micros: u64) -> Option<String> {
        let form = *FORMS.get(self.form as usize)?;
        let micros = (base_micros as i64).checked_add(self.delta_micros)?;
        Some(chrono::DateTime::from_timestamp_micros(micros)?.to_rfc3339_opts(form, true))
    }
}

/// What a compacted edge record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compact {
    pub created: Stamp,
    /// The sha2-256 digest of the subject's CID (likes and reposts; a DAG-CBOR CIDv1).
    pub subject_cid: Option<[u8; 32]>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parts {
    created_at: String,
    subject: Subject,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Subject {
    Did(String),
    Ref { uri: String, cid: String },
}

fn collection(kind: EdgeKind) -> Option<&'static str> {
    match kind {
        EdgeKind::Like => Some(LIKE),
        EdgeKind::Repost => Some(REPOST),
        EdgeKind::Follow => Some(FOLLOW),
        EdgeKind::Block | EdgeKind::ListItem => None,
    }
}

/// The compact form of an edge record whose key's TID time is `base_micros`, if [`rebuild`]
/// with the same `subject` (the canonical `at://did/collection/rkey` or DID the store gives
/// back) yields exactly `cbor`, and `cid` is its CID.
pub fn compact(kind: EdgeKind, cid: &Cid, cbor: &[u8], base_micros: u64) -> Option<(Compact, String)> {
    collection(kind)?;
    let parts: Parts = atproto::cbor::decode(cbor).ok()?;
    let created = Stamp::of(&parts.created_at, base_micros)?;
    let (subject, subject_cid) = match parts.subject {
        Subject::Did(did) if kind == EdgeKind::Follow => (did, None),
        Subject::Ref { uri, cid } if kind != EdgeKind::Follow => (uri, Some(atproto::cid::digest(&atproto::cid::parse(&cid).ok()?)?)),
        _ => return None,
    };
    let compact = Compact { created, subject_cid };
    let (rebuilt_cid, rebuilt) = rebuild(kind, compact, &subject, base_micros)?;
    (rebuilt == cbor && rebuilt_cid == *cid).then_some((compact, subject))
}

/// The record's CID and DAG-CBOR, rebuilt from its compact form and its subject.
pub fn rebuild(kind: EdgeKind, compact: Compact, subject: &str, base_micros: u64) -> Option<(Cid, Vec<u8>)> {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(collection(kind)?.to_owned()));
    map.insert("createdAt".to_owned(), Ipld::String(compact.created.format(base_micros)?));
    let subject = match compact.subject_cid {
        None => Ipld::String(subject.to_owned()),
        Some(digest) => {
            let cid = atproto::cid::from_digest(atproto::cid::DAG_CBOR, &digest).to_string();
            Ipld::Map(BTreeMap::from([("cid".to_owned(), Ipld::String(cid)), ("uri".to_owned(), Ipld::String(subject.to_owned()))]))
        }
    };
    map.insert("subject".to_owned(), subject);
    let bytes = atproto::cbor::encode(&Ipld::Map(map)).ok()?;
    Some((atproto::cid::for_cbor(&bytes), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 1_751_600_000_123_000;
    const POST_URI: &str = "at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3lgcx2xkqa22a";

    fn record(pairs: Vec<(&str, Ipld)>) -> (Cid, Vec<u8>) {
        let map = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<BTreeMap<_, _>>();
        let bytes = atproto::cbor::encode(&Ipld::Map(map)).unwrap();
        (atproto::cid::for_cbor(&bytes), bytes)
    }

    fn like(created_at: &str, extra: Option<(&str, Ipld)>) -> (Cid, Vec<u8>) {
        let subject_cid = atproto::cid::for_cbor(b"the post").to_string();
        let subject = Ipld::Map(BTreeMap::from([("uri".into(), Ipld::String(POST_URI.into())), ("cid".into(), Ipld::String(subject_cid))]));
        let mut pairs = vec![("$type", Ipld::String(LIKE.into())), ("createdAt", Ipld::String(created_at.into())), ("subject", subject)];
        pairs.extend(extra);
        record(pairs)
    }

    #[test]
    fn a_plain_like_rebuilds_to_the_same_bytes_and_cid() {
        for created_at in ["2025-07-04T03:33:20.123Z", "2025-07-04T03:33:21Z", "2025-07-04T03:33:19.999999Z", "2024-01-01T00:00:00.000Z"] {
            let (cid, bytes) = like(created_at, None);
            let (compact, subject) = compact(EdgeKind::Like, &cid, &bytes, BASE).unwrap_or_else(|| panic!("{created_at} should compact"));
            assert_eq!(subject, POST_URI);
            assert_eq!(rebuild(EdgeKind::Like, compact, &subject, BASE), Some((cid, bytes)));
        }
    }

    #[test]
    fn a_follow_keeps_only_its_time() {
        let did = "did:plc:abcdefghijklmnopqrstuvwx";
        let (cid, bytes) = record(vec![
            ("$type", Ipld::String(FOLLOW.into())),
            ("createdAt", Ipld::String("2025-07-04T03:33:20.150Z".into())),
            ("subject", Ipld::String(did.into())),
        ]);
        let (c, subject) = compact(EdgeKind::Follow, &cid, &bytes, BASE).unwrap();
        assert_eq!((c.subject_cid, c.created.delta_micros, subject.as_str()), (None, 27_000, did));
        assert_eq!(rebuild(EdgeKind::Follow, c, did, BASE), Some((cid, bytes.clone())));
        // The wrong kind for the shape is not compacted.
        assert_eq!(compact(EdgeKind::Like, &cid, &bytes, BASE), None);
    }

    #[test]
    fn anything_more_than_the_facts_is_kept_whole() {
        // An extra field, a time with an offset or nanoseconds, another CID, a block or list item.
        let via = Some(("via", Ipld::String("at://did:plc:x/app.bsky.feed.repost/3l".into())));
        let (cid, bytes) = like("2025-07-04T03:33:20.123Z", via);
        assert_eq!(compact(EdgeKind::Like, &cid, &bytes, BASE), None);
        for created_at in ["2025-07-04T03:33:20.123+00:00", "2025-07-04T03:33:20.123456789Z", "2025-07-04T03:33:20.1Z", "not a time"] {
            let (cid, bytes) = like(created_at, None);
            assert_eq!(compact(EdgeKind::Like, &cid, &bytes, BASE), None, "{created_at}");
        }
        let (_, bytes) = like("2025-07-04T03:33:20.123Z", None);
        assert_eq!(compact(EdgeKind::Like, &atproto::cid::for_raw(&bytes), &bytes, BASE), None);
        assert_eq!(compact(EdgeKind::Block, &atproto::cid::for_cbor(&bytes), &bytes, BASE), None);
    }
}
