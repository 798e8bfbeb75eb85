//! The firehose sequencer: durable, gap-free sequence numbers and the event log.
//!
//! [`Sequencer::commit`] takes the sequencer lock, numbers the batch's events from the next
//! free seq, adds them to the batch and queues the batch on the committer before releasing the
//! lock, so log order equals seq order. After a crash the next seq is one past the highest
//! durable event: a seq that never became durable was never published nor acknowledged, so
//! no consumer has seen it. Events are published on a broadcast channel only after their
//! group is durable, with [`Sequencer::durable_seq`] raised first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{IteratorMode, WriteBatch, DB};
use tokio::sync::broadcast;

use super::committer::{Committer, Published};
use super::{StoreError, CF_EVENTS};

/// An event to sequence: builds its frame bytes from the assigned seq.
pub type EventBody = Box<dyn FnOnce(i64) -> Vec<u8> + Send>;

/// A published event.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub time_ms: u64,
    pub frame: Arc<Vec<u8>>,
}

pub struct Sequencer {
    db: Arc<DB>,
    committer: Committer,
    next: std::sync::Mutex<u64>,
    durable: Arc<AtomicU64>,
    live: broadcast::Sender<Event>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Sequencer {
    pub fn open(db: Arc<DB>, committer: Committer) -> Result<Sequencer, StoreError> {
        let cf = db.cf_handle(CF_EVENTS).expect("events cf");
        let last = match db.iterator_cf(cf, IteratorMode::End).next() {
            None => 0,
            Some(item) => decode_seq(&item?.0)?,
        };
        let durable = Arc::new(AtomicU64::new(last));
        let (live, _) = broadcast::channel(4096);
        let (d, l) = (durable.clone(), live.clone());
        committer.set_after_sync(Box::new(move |groups: Vec<Published>| {
            let events: Vec<_> = groups.into_iter().flatten().collect();
            if let Some((seq, _, _)) = events.last() {
                d.fetch_max(*seq, Ordering::AcqRel);
                metrics::gauge!("pds_firehose_seq").set(*seq as f64);
            }
            for (seq, time_ms, frame) in events {
                let _ = l.send(Event { seq, time_ms, frame });
            }
        }));
        Ok(Sequencer { db, committer, next: std::sync::Mutex::new(last + 1), durable, live })
    }

    /// Moves the next sequence number past `floor` (if it is not already): a restore's jump over
    /// the numbers its PDS published after the backup.
    pub fn skip_past(&self, floor: u64) {
        let mut next = self.next.lock().unwrap();
        *next = (*next).max(floor + 1);
    }

    /// The highest seq known durable.
    pub fn durable_seq(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// Sequences `events` into `batch`, commits it durably and returns the seqs.
    pub async fn commit(&self, mut batch: WriteBatch, events: Vec<EventBody>) -> Result<Vec<u64>, StoreError> {
        let cf = self.db.cf_handle(CF_EVENTS).expect("events cf");
        let time_ms = now_ms();
        let rx = {
            let mut next = self.next.lock().unwrap();
            let mut publish = Vec::with_capacity(events.len());
            for body in events {
                let seq = *next;
                *next += 1;
                let frame = body(seq as i64);
                let mut value = Vec::with_capacity(8 + frame.len());
                value.extend_from_slice(&time_ms.to_be_bytes());
                value.extend_from_slice(&frame);
                batch.put_cf(cf, seq.to_be_bytes(), value);
                publish.push((seq, time_ms, Arc::new(frame)));
            }
            let seqs: Vec<u64> = publish.iter().map(|p| p.0).collect();
            (self.committer.submit(batch, publish).map_err(|_| StoreError::CommitterGone)?, seqs)
        };
        let (rx, seqs) = rx;
        rx.await.map_err(|_| StoreError::CommitterGone)?.map_err(StoreError::CommitFailed)?;
        Ok(seqs)
    }

    /// Durable events with `seq > after`, at most `limit`, not beyond `durable_seq`.
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let cf = self.db.cf_handle(CF_EVENTS).expect("events cf");
        let max = self.durable_seq();
        let start = (after + 1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::From(&start, rocksdb::Direction::Forward)) {
            let (k, v) = item?;
            let seq = decode_seq(&k)?;
            if seq > max || out.len() >= limit {
                break;
            }
            out.push(decode_event(seq, &v)?);
        }
        Ok(out)
    }

    /// The first durable event at or after `time_ms`.
    pub fn first_since(&self, time_ms: u64) -> Result<Option<Event>, StoreError> {
        // Events are in time order (times are taken under the lock from a monotonic-enough
        // clock); scan forward. The window is bounded by PDS_REPO_BACKFILL_LIMIT_MS.
        let cf = self.db.cf_handle(CF_EVENTS).expect("events cf");
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item?;
            let ev = decode_event(decode_seq(&k)?, &v)?;
            if ev.time_ms >= time_ms {
                return Ok(Some(ev));
            }
        }
        Ok(None)
    }

    /// The oldest stored event.
    pub fn first(&self) -> Result<Option<Event>, StoreError> {
        let cf = self.db.cf_handle(CF_EVENTS).expect("events cf");
        match self.db.iterator_cf(cf, IteratorMode::Start).next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                Ok(Some(decode_event(decode_seq(&k)?, &v)?))
            }
        }
    }
}

fn decode_seq(k: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = k.try_into().map_err(|_| StoreError::Corrupt { what: CF_EVENTS, why: "key is not 8 bytes".into() })?;
    Ok(u64::from_be_bytes(b))
}

fn decode_event(seq: u64, v: &[u8]) -> Result<Event, StoreError> {
    if v.len() < 8 {
        return Err(StoreError::Corrupt { what: CF_EVENTS, why: format!("event {seq} too short") });
    }
    let time_ms = u64::from_be_bytes(v[..8].try_into().unwrap());
    Ok(Event { seq, time_ms, frame: Arc::new(v[8..].to_vec()) })
}
