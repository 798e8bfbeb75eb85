//! Notifications: likes, reposts, follows, replies, mentions and quotes of the viewer, newest
//! first (by the TID time of the record that caused them), and the read marker.

use super::views::Notification;
use super::{micros_to_rfc3339, Page, Query, QueryError, Result, Viewer};
use crate::index::edge_record;
use crate::store::rows::{self, NotifRow};
use crate::store::write::Reason;
use crate::store::{ActorId, RecordId, RecordKey, Rkey, StoreError};

impl Query {
    /// µs of the viewer's last `updateSeen`.
    pub fn seen_at(&self, viewer: ActorId) -> Result<u64> {
        Ok(self.store.raw("seen", &viewer.bytes())?.and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes)).unwrap_or(0))
    }

    /// `listNotifications`.
    pub fn notifications(&self, viewer: ActorId, reasons: &[String], cursor: Option<&str>, limit: usize) -> Result<(Page<Notification>, u64)> {
        let seen = self.seen_at(viewer)?;
        let page = self.kept_page("notif", &viewer.bytes(), cursor, true, limit, 20, |k, v| {
            Ok(self.notification(viewer, k, v, seen)?.filter(|n| reasons.is_empty() || reasons.iter().any(|r| r == n.reason)))
        })?;
        Ok((page, seen))
    }

    fn notification(&self, viewer: ActorId, key: &[u8], value: &[u8], seen: u64) -> Result<Option<Notification>> {
        let (Some(rkey), Some(author), Some(&reason)) = (Rkey::read(&key[4..]), ActorId::read(&key[12..]), key.get(16)) else { return Ok(None) };
        let Some(reason) = Reason::from_u8(reason) else { return Ok(None) };
        let Some(row) = self.visible(author)? else { return Ok(None) };
        if self.hidden_for(Viewer(Some(viewer)), author)? {
            return Ok(None);
        }
        let n: NotifRow = rows::decode("notif", value)?;
        let reason_subject = match n.subject() {
            Some(id) => match self.store.key_of(RecordId(id))? {
                Some(k) => self.store.uri(k)?,
                None => None,
            },
            None => None,
        };
        let (cid, record) = match &n {
            NotifRow::Post { .. } => {
                let Some(coll) = self.store.coll_id(crate::index::POST)? else { return Ok(None) };
                match self.store.doc(RecordKey { actor: author, coll, rkey })? {
                    Some(doc) => Self::doc_json(&doc),
                    // The post is gone; so is the notification's point.
                    None => return Ok(None),
                }
            }
            NotifRow::Edge { record, .. } => {
                let subject = match reason {
                    Reason::Follow => self.store.actor(viewer)?.map(|a| a.did),
                    _ => reason_subject.clone(),
                };
                let rebuilt = subject.zip(reason.edge_kind()).and_then(|(s, kind)| edge_record::rebuild(kind, *record, &s, rkey.micros()));
                let Some((cid, bytes)) = rebuilt else {
                    return Err(QueryError::Store(StoreError::Corrupt { what: "notif", why: "an edge record that does not rebuild".into() }));
                };
                (cid.to_string(), Self::cbor_json(&bytes))
            }
            NotifRow::Whole { cid, record, .. } => {
                let cid = atproto::Cid::try_from(cid.as_slice()).map_err(|e| StoreError::Corrupt { what: "notif", why: e.to_string() })?;
                (cid.to_string(), Self::cbor_json(record))
            }
        };
        Ok(Some(Notification {
            uri: self.edge_uri(&row.did, reason.collection(), rkey)?,
            cid,
            author: self.profile_view(Viewer(Some(viewer)), author, &row)?,
            reason: reason.as_str(),
            reason_subject,
            record,
            is_read: rkey.micros() <= seen,
            indexed_at: micros_to_rfc3339(rkey.micros()),
            labels: Vec::new(),
        }))
    }

    /// `getUnreadCount`: notifications newer than the read marker (counted up to 10,000).
    pub fn unread_count(&self, viewer: ActorId) -> Result<u64> {
        let seen = self.seen_at(viewer)?;
        let mut n = 0;
        let mut after = None;
        loop {
            let page = self.store.scan("notif", &viewer.bytes(), after.as_deref(), true, 500)?;
            for (k, _) in &page.items {
                if Rkey::read(&k[4..]).map_or(0, |r| r.micros()) <= seen || n >= 10_000 {
                    return Ok(n);
                }
                n += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(n),
            }
        }
    }

    /// `updateSeen`.
    pub fn update_seen(&self, viewer: ActorId, seen_at: &str) -> Result<()> {
        let micros = crate::index::feed::parse_micros(seen_at).ok_or_else(|| QueryError::BadRequest("seenAt must be a datetime".into()))?;
        self.store.set_seen(viewer, micros.max(0) as u64)?;
        Ok(())
    }
}
