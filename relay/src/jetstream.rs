//! The Jetstream JSON form of the relay's events, as production Jetstream (v1) serves them:
//! one object per commit operation, `{did, time_us, kind: "commit", commit: {rev, operation,
//! collection, rkey, record, cid}}` (no `record`/`cid` for deletes), and `identity`/`account`
//! events carrying the firehose body as JSON. `time_us` is when the relay accepted the event.
//! `#sync` events have no Jetstream v1 form and are not emitted.

use atproto::blockstore::BlockStore;
use atproto::car::CarLimits;
use atproto::firehose::SubscribeReposFrame;
use serde::Serialize;
use serde_json::{json, Value};

use crate::store::StoredEvent;

#[derive(Debug, Serialize)]
pub struct JetstreamEvent {
    pub did: String,
    pub time_us: u64,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<JetstreamCommit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct JetstreamCommit {
    pub rev: String,
    pub operation: String,
    pub collection: String,
    pub rkey: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

impl JetstreamEvent {
    pub fn collection(&self) -> Option<&str> {
        self.commit.as_ref().map(|c| c.collection.as_str())
    }
}

/// The Jetstream events for one stored event (several for a multi-operation commit).
pub fn convert(ev: &StoredEvent) -> Vec<JetstreamEvent> {
    let Ok(frame) = SubscribeReposFrame::decode(&ev.frame) else { return vec![] };
    let base = |kind| JetstreamEvent { did: ev.did.clone(), time_us: ev.time_us, kind, commit: None, identity: None, account: None };
    match frame {
        SubscribeReposFrame::Commit(c) => {
            let blocks = match atproto::car::read(&c.blocks, CarLimits::firehose()) {
                Ok(car) => car.into_store(),
                Err(_) => return vec![],
            };
            c.ops
                .iter()
                .filter_map(|op| {
                    let (collection, rkey) = op.path.split_once('/')?;
                    let record = op.cid.filter(|_| op.action != "delete").and_then(|cid| {
                        let bytes = blocks.get(&cid).ok().flatten()?;
                        atproto::cbor::decode_value(&bytes).ok().map(|v| atproto::json::to_json(&v))
                    });
                    let cid = record.as_ref().and(op.cid).map(|c| c.to_string());
                    Some(JetstreamEvent {
                        commit: Some(JetstreamCommit {
                            rev: c.rev.clone(),
                            operation: op.action.clone(),
                            collection: collection.into(),
                            rkey: rkey.into(),
                            record,
                            cid,
                        }),
                        ..base("commit")
                    })
                })
                .collect()
        }
        SubscribeReposFrame::Identity(i) => {
            let mut body = json!({"did": i.did, "seq": i.seq, "time": i.time});
            if let Some(h) = i.handle {
                body["handle"] = h.into();
            }
            vec![JetstreamEvent { identity: Some(body), ..base("identity") }]
        }
        SubscribeReposFrame::Account(a) => {
            let mut body = json!({"active": a.active, "did": a.did, "seq": a.seq, "time": a.time});
            if let Some(s) = a.status {
                body["status"] = s.into();
            }
            vec![JetstreamEvent { account: Some(body), ..base("account") }]
        }
        _ => vec![],
    }
}

/// `wantedCollections` / `wantedDids` filtering: collections match exactly or by an `a.b.*`
/// prefix and apply to commits only; DIDs apply to every kind. Empty lists match everything.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub collections: Vec<String>,
    pub dids: Vec<String>,
}

impl Filter {
    pub fn matches(&self, ev: &JetstreamEvent) -> bool {
        if !self.dids.is_empty() && !self.dids.contains(&ev.did) {
            return false;
        }
        match ev.collection() {
            Some(c) if !self.collections.is_empty() => self.collections.iter().any(|w| match w.strip_suffix('*') {
                Some(prefix) => c.starts_with(prefix),
                None => w == c,
            }),
            _ => true,
        }
    }
}
