//! Group commit: one thread writes queued batches in order and syncs the write-ahead log once
//! per group, so concurrent writers share an fsync instead of paying one each.
//!
//! Each batch but the last of a group is written with `sync = false`; the last with
//! `sync = true`, which makes the whole log up to it durable. Only then are the group's
//! writers acknowledged and their events published (in order, by [`super::Sequencer`]'s hook).
//! When a write fails, the group's earlier writes (already applied) are synced and acknowledged,
//! and it and the rest of the group are refused.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use rocksdb::{WriteBatch, WriteOptions, DB};
use tokio::sync::oneshot;

/// Called on the committer thread after a group is durable, with each batch's payload, in order.
pub type AfterSync = Box<dyn FnMut(Vec<Published>) + Send>;

/// What a batch publishes once durable: its `(seq, time_ms, frame)` events.
pub type Published = Vec<(u64, u64, Arc<Vec<u8>>)>;

struct Job {
    batch: WriteBatch,
    publish: Published,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the committer thread. Dropping it waits for the thread to finish.
pub struct Committer {
    /// `None` only while dropping.
    tx: Option<mpsc::Sender<Job>>,
    hook: Arc<std::sync::Mutex<Option<AfterSync>>>,
    thread: Option<thread::JoinHandle<()>>,
}

const MAX_GROUP: usize = 512;

impl Committer {
    pub fn start(db: Arc<DB>) -> Committer {
        let (tx, rx) = mpsc::channel::<Job>();
        let hook: Arc<std::sync::Mutex<Option<AfterSync>>> = Arc::default();
        let h = hook.clone();
        let thread = thread::Builder::new().name("pds-committer".into()).spawn(move || run(db, rx, h)).expect("spawn committer thread");
        Committer { tx: Some(tx), hook, thread: Some(thread) }
    }

    /// Installs the function that publishes events after each durable group.
    pub fn set_after_sync(&self, f: AfterSync) {
        *self.hook.lock().unwrap() = Some(f);
    }

    /// Queues a batch; the receiver resolves once it is durable (or failed). `Err` when the
    /// committer thread has stopped.
    pub fn submit(&self, batch: WriteBatch, publish: Published) -> Result<oneshot::Receiver<Result<(), String>>, CommitterGone> {
        let (done, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(CommitterGone)?;
        tx.send(Job { batch, publish, done }).map_err(|_| CommitterGone)?;
        Ok(rx)
    }
}

/// The committer thread is gone (the store is shutting down or its thread panicked).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the committer thread has stopped")]
pub struct CommitterGone;

impl Drop for Committer {
    /// Closes the queue and waits for the thread to write what is queued and let go of the
    /// database, so that the database closes on the thread dropping the store, before it moves
    /// on: RocksDB closing on a stray thread while the process exits can abort it.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: Arc<DB>, rx: mpsc::Receiver<Job>, hook: Arc<std::sync::Mutex<Option<AfterSync>>>) {
    let mut nosync = WriteOptions::default();
    nosync.set_sync(false);
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let n = group.len();
        // Write in order until one fails; the last write syncs the log for the whole group.
        let mut written = 0;
        let mut failure: Option<String> = None;
        let mut acks = Vec::with_capacity(n);
        let mut publish = Vec::with_capacity(n);
        for (i, job) in group.into_iter().enumerate() {
            if failure.is_none() {
                match db.write_opt(job.batch, if i + 1 == n { &sync } else { &nosync }) {
                    Ok(()) => written += 1,
                    Err(e) => failure = Some(e.to_string()),
                }
            }
            acks.push(job.done);
            publish.push(job.publish);
        }
        // A failure after some unsynced writes: those are applied and visible, so make them
        // durable and acknowledge them rather than leave applied writes their writers were
        // told failed. Only if that sync fails too is the whole group refused.
        if let Some(error) = &failure {
            tracing::error!(error, batches = n, applied = written, "group commit failed");
            if written > 0 {
                if let Err(e) = db.flush_wal(true) {
                    tracing::error!(error = %e, "syncing the group's applied writes failed");
                    written = 0;
                }
            }
        }
        metrics::histogram!("pds_commit_group_size").record(n as f64);
        metrics::histogram!("pds_commit_group_seconds").record(started.elapsed().as_secs_f64());
        publish.truncate(written);
        if written > 0 {
            if let Some(f) = hook.lock().unwrap().as_mut() {
                f(publish);
            }
        }
        let failed = failure.unwrap_or_default();
        for (i, ack) in acks.into_iter().enumerate() {
            let _ = ack.send(if i < written { Ok(()) } else { Err(failed.clone()) });
        }
    }
}
