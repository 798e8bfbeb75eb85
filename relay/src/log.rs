//! The sequenced event log: assigns the relay's own sequence numbers, rewrites each frame's
//! `seq`, persists through [`Store`], wakes live consumers, and prunes by age and size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atproto::cbor;
use atproto::Ipld;
use tokio::sync::watch;

use crate::store::{AccountState, AppendBatch, EventKind, HostState, Store, StoreError, StoredEvent};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("frame cannot be re-sequenced: {0}")]
    Frame(String),
}

/// Replaces the body's `seq` of a `subscribeRepos` message frame, keeping every other byte:
/// the header is copied and the body is decoded as a generic DAG-CBOR map and re-encoded
/// canonically (which reproduces canonical input byte for byte).
pub fn reseq_frame(frame: &[u8], seq: u64) -> Result<Vec<u8>, LogError> {
    let split = cbor::item_len(frame).map_err(|e| LogError::Frame(e.to_string()))?;
    let mut body = cbor::decode_value(&frame[split..]).map_err(|e| LogError::Frame(e.to_string()))?;
    match &mut body {
        Ipld::Map(map) => {
            map.insert("seq".into(), Ipld::Integer(seq as i128));
        }
        _ => return Err(LogError::Frame("body is not a map".into())),
    }
    let mut out = frame[..split].to_vec();
    out.extend(cbor::encode(&body).map_err(|e| LogError::Frame(e.to_string()))?);
    Ok(out)
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

struct Head {
    seq: u64,
    time_us: u64,
}

/// Retention policy.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub window: Duration,
    pub max_bytes: u64,
}

pub struct EventLog {
    store: Arc<Store>,
    head: Mutex<Head>,
    head_tx: watch::Sender<u64>,
    /// Oldest retained seq (head + 1 when empty).
    first: AtomicU64,
    bytes: AtomicU64,
    sizes: Mutex<std::collections::VecDeque<(u64, u64, u64)>>,
}

impl EventLog {
    pub fn open(store: Arc<Store>) -> Result<Arc<EventLog>, LogError> {
        let seq = store.head_seq()?;
        let sizes: std::collections::VecDeque<_> = store.scan_sizes()?.into();
        let time_us = sizes.back().map(|s| s.1).unwrap_or(0);
        let bytes = sizes.iter().map(|s| s.2).sum();
        let first = sizes.front().map(|s| s.0).unwrap_or(seq + 1);
        let (head_tx, _) = watch::channel(seq);
        metrics::gauge!("relay_log_bytes").set(bytes as f64);
        Ok(Arc::new(EventLog {
            store,
            head: Mutex::new(Head { seq, time_us }),
            head_tx,
            first: AtomicU64::new(first),
            bytes: AtomicU64::new(bytes),
            sizes: Mutex::new(sizes),
        }))
    }

    /// How many events the log holds after `pos` (sequence numbers can skip, so this is not
    /// `head - pos`).
    pub fn behind(&self, pos: u64) -> u64 {
        let sizes = self.sizes.lock().unwrap();
        (sizes.len() - sizes.partition_point(|s| s.0 <= pos)) as u64
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Sequences and persists one accepted event with the state it changes (and deletes the
    /// held event it releases, if any). Returns its seq.
    pub fn append(
        &self,
        kind: EventKind,
        did: &str,
        frame: &[u8],
        account: Option<&AccountState>,
        host: Option<&HostState>,
        release: Option<&[u8]>,
    ) -> Result<u64, LogError> {
        let mut head = self.head.lock().unwrap();
        let seq = head.seq + 1;
        let time_us = now_us().max(head.time_us + 1);
        let frame = reseq_frame(frame, seq)?;
        let event = StoredEvent { seq, time_us, kind, did: did.into(), frame: frame.into() };
        self.store.append(AppendBatch { event: &event, account: account.map(|a| (did, a)), host, release })?;
        head.seq = seq;
        head.time_us = time_us;
        let len = event.stored_len();
        self.bytes.fetch_add(len, Ordering::Relaxed);
        self.sizes.lock().unwrap().push_back((seq, time_us, len));
        drop(head);
        metrics::gauge!("relay_log_bytes").increment(len as f64);
        metrics::gauge!("relay_head_seq").set(seq as f64);
        self.head_tx.send_replace(seq);
        Ok(seq)
    }

    pub fn head(&self) -> u64 {
        *self.head_tx.borrow()
    }

    pub fn first(&self) -> u64 {
        self.first.load(Ordering::Acquire)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head_tx.subscribe()
    }

    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, LogError> {
        Ok(self.store.read_after(after, limit)?)
    }

    /// Drops events older than the window and, oldest first, beyond the size cap.
    pub fn prune(&self, retention: Retention) -> Result<u64, LogError> {
        let cutoff_us = now_us().saturating_sub(retention.window.as_micros() as u64);
        let before = {
            let sizes = self.sizes.lock().unwrap();
            let mut bytes = self.bytes();
            let mut before = None;
            for &(seq, time_us, len) in sizes.iter() {
                if time_us >= cutoff_us && bytes <= retention.max_bytes {
                    break;
                }
                bytes -= len;
                before = Some(seq + 1);
            }
            before
        };
        let Some(before) = before else { return Ok(0) };
        // Move the floor first so consumers never read across a hole.
        self.first.fetch_max(before, Ordering::AcqRel);
        let (freed, count) = self.store.prune_before(before)?;
        let mut sizes = self.sizes.lock().unwrap();
        while sizes.front().is_some_and(|s| s.0 < before) {
            sizes.pop_front();
        }
        self.bytes.fetch_sub(freed.min(self.bytes()), Ordering::Relaxed);
        metrics::gauge!("relay_log_bytes").set(self.bytes() as f64);
        metrics::counter!("relay_log_pruned_events_total").increment(count);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atproto::firehose::{IdentityEvent, SubscribeReposFrame};

    fn identity(seq: i64) -> Vec<u8> {
        SubscribeReposFrame::Identity(IdentityEvent { seq, did: "did:plc:a".into(), time: "2024-01-01T00:00:00.000Z".into(), handle: None }).encode()
    }

    #[test]
    fn reseq_changes_only_seq() {
        let out = reseq_frame(&identity(999_999_999), 7).unwrap();
        assert_eq!(out, identity(7));
    }

    #[test]
    fn sequences_persist_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), 0).unwrap());
        let log = EventLog::open(store.clone()).unwrap();
        for _ in 0..5 {
            log.append(EventKind::Identity, "did:plc:a", &identity(1), None, None, None).unwrap();
        }
        assert_eq!(log.head(), 5);
        let evs = log.read_after(0, 10).unwrap();
        assert!(evs.windows(2).all(|w| w[0].time_us < w[1].time_us));
        assert_eq!(&evs[2].frame[..], &identity(3)[..]);
        let per = evs[0].stored_len();
        // Size cap of two events keeps the newest two.
        log.prune(Retention { window: Duration::from_secs(3600), max_bytes: per * 2 }).unwrap();
        assert_eq!(log.first(), 4);
        assert_eq!(log.read_after(0, 10).unwrap()[0].seq, 4);
        // Zero window drops everything, and the head survives.
        log.prune(Retention { window: Duration::ZERO, max_bytes: u64::MAX }).unwrap();
        assert_eq!(log.first(), 6);
        drop(log);
        let log = EventLog::open(store).unwrap();
        assert_eq!(log.head(), 5);
        assert_eq!(log.first(), 6);
        assert_eq!(log.append(EventKind::Identity, "did:plc:a", &identity(1), None, None, None).unwrap(), 6);
    }
}
