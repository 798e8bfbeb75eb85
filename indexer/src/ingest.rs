//! The pipeline: sources ([`crate::consume`]) → one writer thread (the only one that writes
//! index rows, so interning needs no locks) → the search thread and the identity task. Every
//! hop is a bounded channel: a slow store or a slow Tantivy slows the sockets.
//!
//! The writer takes whatever events are waiting (up to [`MAX_BATCH`]), applies them in
//! stream order into one batch with each source's newest cursor, and commits. A failed
//! commit writes nothing; the writer retries the same events with backoff and counts
//! `indexer_store_errors_total`, so a store fault never advances a cursor or loses an event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atproto::car::CarLimits;
use atproto::firehose::SubscribeReposFrame;
use tokio::sync::mpsc;

use crate::search::{Search, SearchOp};
use crate::store::rows::AccountStatus;
use crate::store::write::{BatchOutput, Writer};
use crate::store::{ActorId, Store, StoreError};

/// Events at most in one batch.
pub const MAX_BATCH: usize = 2048;
/// Capacity of the ingest channel, in events.
pub const CHANNEL: usize = 4096;
/// Records removed per batch when an account is deleted.
const DELETE_CHUNK: usize = 1000;
/// How often search commits, at most (posts are searchable within about this long).
const SEARCH_COMMIT: Duration = Duration::from_millis(500);

/// What the writer consumes.
#[derive(Debug)]
pub enum Input {
    /// A frame from source `source` (its index in the source list).
    Frame { source: usize, frame: Box<SubscribeReposFrame> },
    /// An event that was rejected before indexing; only its cursor moves.
    Skipped { source: usize, seq: Option<i64> },
    /// The outcome of a handle check.
    Handle { actor: ActorId, handle: Option<String> },
    /// A backfill of this account starts: hold its live events until its repository arrives.
    BackfillStart { did: String },
    /// The account's whole repository (a `getRepo` CAR).
    Repo { did: String, car: bytes::Bytes },
    /// The backfill failed for good: release the held events.
    RepoFailed { did: String },
}

/// Where the writer sends what later stages do.
pub struct Outlets {
    pub search: std::sync::mpsc::SyncSender<Vec<(u64, SearchOp)>>,
    pub identity: mpsc::Sender<ActorId>,
    /// DIDs to backfill (`#sync`); `None` when nothing backfills (`indexer ingest`).
    pub backfill: Option<mpsc::Sender<String>>,
}

/// Runs the writer on the current thread until `rx` closes.
pub fn write_loop(mut writer: Writer, mut rx: mpsc::Receiver<Input>, sources: Vec<String>, out: Outlets) {
    // Live events of accounts being backfilled, in arrival order.
    let mut held: HashMap<String, Vec<Input>> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut inputs = vec![first];
        while inputs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(i) => inputs.push(i),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let n = inputs.len();
        let mut current: Vec<Input> = Vec::new();
        for input in inputs {
            match input {
                Input::BackfillStart { did } => {
                    held.entry(did).or_default();
                }
                Input::Repo { did, car } => {
                    flush(&mut writer, &mut current, &sources, &out);
                    let (applied, output) = retry("backfill", || {
                        let mut batch = writer.batch();
                        let applied = batch.apply_repo(&did, &car)?;
                        Ok((applied, batch.commit()?))
                    });
                    match applied {
                        Ok(records) => tracing::info!(did, records, "backfilled"),
                        Err(e) => tracing::warn!(did, error = %e, "repository does not read; backfill skipped"),
                    }
                    deliver(output, &out);
                    current = held.remove(&did).unwrap_or_default();
                    flush(&mut writer, &mut current, &sources, &out);
                }
                Input::RepoFailed { did } => {
                    current.push(Input::RepoFailed { did: did.clone() });
                    flush(&mut writer, &mut current, &sources, &out);
                    current = held.remove(&did).unwrap_or_default();
                    flush(&mut writer, &mut current, &sources, &out);
                }
                Input::Frame { source, frame } => {
                    let did = frame_did(&frame);
                    if let Some(buffer) = did.and_then(|d| held.get_mut(d)) {
                        // Its cursor moves now: if the process dies, the account is still
                        // queued and its repository (with this event in it) is fetched again.
                        current.push(Input::Skipped { source, seq: frame.seq() });
                        buffer.push(Input::Frame { source, frame });
                        continue;
                    }
                    let deletion = is_deletion(&frame);
                    let did = did.map(str::to_owned);
                    current.push(Input::Frame { source, frame });
                    if deletion {
                        // Its content is removed in chunks before anything after it applies.
                        flush(&mut writer, &mut current, &sources, &out);
                        let did = did.unwrap_or_default();
                        loop {
                            let (done, output) = retry("account deletion", || writer.delete_account_chunk(&did, DELETE_CHUNK));
                            deliver(output, &out);
                            if done {
                                break;
                            }
                        }
                    }
                }
                other => current.push(other),
            }
        }
        flush(&mut writer, &mut current, &sources, &out);
        metrics::histogram!("indexer_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("indexer_events_total").increment(n as u64);
    }
}

fn flush(writer: &mut Writer, current: &mut Vec<Input>, sources: &[String], out: &Outlets) {
    if current.is_empty() {
        return;
    }
    let output = retry("batch", || apply_batch(writer, current, sources));
    deliver(output, out);
    current.clear();
}

/// The account an event is about.
fn frame_did(frame: &SubscribeReposFrame) -> Option<&str> {
    Some(match frame {
        SubscribeReposFrame::Commit(e) => &e.repo,
        SubscribeReposFrame::Sync(e) => &e.did,
        SubscribeReposFrame::Identity(e) => &e.did,
        SubscribeReposFrame::Account(e) => &e.did,
        _ => return None,
    })
}

fn is_deletion(frame: &SubscribeReposFrame) -> bool {
    matches!(frame, SubscribeReposFrame::Account(a) if AccountStatus::from_event(a.active, a.status.as_deref()) == AccountStatus::Deleted)
}

/// Runs `f` until it succeeds, backing off; a store error is ours, never the events'.
fn retry<T>(what: &str, mut f: impl FnMut() -> Result<T, StoreError>) -> T {
    let mut backoff = Duration::from_millis(100);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => {
                tracing::error!(error = %e, what, "store write failed; retrying the same events");
                metrics::counter!("indexer_store_errors_total").increment(1);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn deliver(out: BatchOutput, to: &Outlets) {
    for (collection, n) in &out.created {
        metrics::counter!("indexer_records_total", "collection" => *collection, "action" => "create").increment(*n);
    }
    for (collection, n) in &out.deleted {
        metrics::counter!("indexer_records_total", "collection" => *collection, "action" => "delete").increment(*n);
    }
    for (collection, n) in &out.invalid {
        metrics::counter!("indexer_records_invalid_total", "collection" => *collection).increment(*n);
    }
    if !out.search.is_empty() {
        // Blocks when search is behind: backpressure, by design. If the search thread is
        // gone the ops stay queued in the store for the next start.
        let _ = to.search.send(out.search);
    }
    for actor in out.identity {
        // A full channel is fine: the actor stays in `identity_queue` for the next sweep.
        let _ = to.identity.try_send(actor);
    }
    if let Some(tx) = &to.backfill {
        for did in out.backfill {
            if tx.try_send(did.clone()).is_err() {
                tracing::warn!(did, "backfill channel full; the repository stays queued for the next start");
            }
        }
    }
}

/// Applies `inputs` in one batch and commits it (the writer thread's step; tests call it directly).
pub fn apply_batch(writer: &mut Writer, inputs: &[Input], sources: &[String]) -> Result<BatchOutput, StoreError> {
    let mut batch = writer.batch();
    let mut cursors: HashMap<usize, i64> = HashMap::new();
    for input in inputs {
        match input {
            Input::Skipped { source, seq } => {
                if let Some(seq) = seq {
                    cursors.insert(*source, *seq);
                }
            }
            Input::Handle { actor, handle } => batch.set_handle(*actor, handle.clone())?,
            Input::RepoFailed { did } => batch.drop_backfill(did),
            // The writer loop handles these itself.
            Input::BackfillStart { .. } | Input::Repo { .. } => {}
            Input::Frame { source, frame } => {
                if let Some(seq) = frame.seq() {
                    cursors.insert(*source, seq);
                }
                let label = sources.get(*source).map(String::as_str).unwrap_or("?");
                match frame.as_ref() {
                    SubscribeReposFrame::Commit(ev) => {
                        lag(label, &ev.time);
                        // Only the record blocks are read (and checked against their CIDs);
                        // the tree is the relay's to verify, or `--verify`'s.
                        let wanted: Vec<atproto::Cid> = ev.ops.iter().filter_map(|op| op.cid).collect();
                        let blocks = match atproto::car::read_wanted(&ev.blocks, &wanted, CarLimits::firehose()) {
                            Ok(store) => store,
                            Err(e) => {
                                tracing::warn!(repo = %ev.repo, error = %e, "commit blocks do not read; event skipped");
                                metrics::counter!("indexer_events_rejected_total", "reason" => "bad_car").increment(1);
                                continue;
                            }
                        };
                        let applied = batch.apply_commit(ev, &blocks)?;
                        if applied.replay {
                            metrics::counter!("indexer_commits_replayed_total").increment(1);
                        }
                        for (collection, why) in &applied.invalid {
                            tracing::debug!(repo = %ev.repo, collection, why, "record skipped");
                        }
                    }
                    SubscribeReposFrame::Identity(ev) => {
                        lag(label, &ev.time);
                        batch.queue_identity(&ev.did)?;
                    }
                    SubscribeReposFrame::Account(ev) => {
                        lag(label, &ev.time);
                        batch.set_status(&ev.did, AccountStatus::from_event(ev.active, ev.status.as_deref()))?;
                    }
                    SubscribeReposFrame::Sync(ev) => {
                        lag(label, &ev.time);
                        // The repository's state jumped: fetch it whole, unless this rev is
                        // already applied (a new account's first #sync, or a replay).
                        let actor = batch.actor(&ev.did)?;
                        if batch.rev_of(actor)?.is_none_or(|r| ev.rev.as_bytes() > r.as_slice()) {
                            batch.queue_backfill(&ev.did);
                        }
                    }
                    SubscribeReposFrame::Info(info) => tracing::info!(source = label, name = %info.name, message = ?info.message, "info from source"),
                    SubscribeReposFrame::Error(_) => {}
                    SubscribeReposFrame::Unknown { t, .. } => {
                        metrics::counter!("indexer_events_unknown_total", "type" => t.clone()).increment(1);
                    }
                }
            }
        }
    }
    for (source, seq) in cursors {
        if let Some(name) = sources.get(source) {
            batch.set_cursor(name, seq)?;
            metrics::gauge!("indexer_source_cursor", "source" => name.clone()).set(seq as f64);
        }
    }
    batch.commit()
}

/// Sets the lag gauge of a source from an event's `time`.
fn lag(source: &str, time: &str) {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(time) {
        let lag = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0;
        metrics::gauge!("indexer_source_lag_seconds", "source" => source.to_owned()).set(lag.max(0.0));
    }
}

/// Runs the search thread until `rx` closes: first the store's queue left from before, then
/// what the writer sends; commits at most every [`SEARCH_COMMIT`] and then dequeues.
pub fn search_loop(search: Arc<Search>, store: Arc<Store>, rx: std::sync::mpsc::Receiver<Vec<(u64, SearchOp)>>) {
    let mut pending: Vec<u64> = Vec::new();
    let mut last = Instant::now();
    let backlog = match store.search_backlog() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "reading the search queue failed; it is replayed at the next start");
            Vec::new()
        }
    };
    for chunk in backlog.chunks(1024) {
        apply_search(&search, &store, chunk, &mut pending);
    }
    loop {
        let msg = rx.recv_timeout(Duration::from_millis(100));
        let closed = matches!(msg, Err(std::sync::mpsc::RecvTimeoutError::Disconnected));
        if let Ok(ops) = msg {
            apply_search(&search, &store, &ops, &mut pending);
        }
        if !pending.is_empty() && (closed || last.elapsed() >= SEARCH_COMMIT) {
            match search.commit() {
                Ok(()) => match store.dequeue("search_queue", &pending) {
                    Ok(()) => pending.clear(),
                    Err(e) => tracing::error!(error = %e, "dequeueing search ops failed; they are re-applied later"),
                },
                Err(e) => tracing::error!(error = %e, "search commit failed; retrying"),
            }
            last = Instant::now();
            metrics::gauge!("indexer_search_docs").set(search.num_docs() as f64);
        }
        if closed {
            return;
        }
    }
}

fn apply_search(search: &Search, store: &Store, ops: &[(u64, SearchOp)], pending: &mut Vec<u64>) {
    let only: Vec<SearchOp> = ops.iter().map(|(_, op)| op.clone()).collect();
    match search.apply(store, &only) {
        Ok(()) => pending.extend(ops.iter().map(|(id, _)| *id)),
        // Left in the store's queue: replayed at the next start.
        Err(e) => tracing::error!(error = %e, "search indexing failed"),
    }
}

/// Checks handles: for each actor, the DID document's handle must resolve back to the DID.
/// Transient failures stay queued (in the store) and are retried by the sweep.
pub async fn identity_loop(store: Arc<Store>, resolver: Arc<plc::Resolver>, mut rx: mpsc::Receiver<ActorId>, tx: mpsc::Sender<Input>) {
    let mut sweep = tokio::time::interval(Duration::from_secs(30));
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    loop {
        let actors: Vec<ActorId> = tokio::select! {
            got = rx.recv() => match got { Some(a) => vec![a], None => return },
            _ = sweep.tick() => match store.identity_backlog(10_000) { Ok(v) => v, Err(_) => continue },
        };
        for actor in actors {
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let (store, resolver, tx) = (store.clone(), resolver.clone(), tx.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let Ok(Some(row)) = store.actor(actor) else { return };
                // An outage leaves the actor queued for the next sweep.
                if let Ok(handle) = resolver.verified_handle(&row.did).await {
                    let _ = tx.send(Input::Handle { actor, handle: handle.map(|h| h.as_str().to_owned()) }).await;
                }
            });
        }
    }
}
