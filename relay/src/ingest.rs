//! Validation of upstream events before they enter the log. Every frame a host sends is
//! decoded and checked here; accepted events are sequenced with the account and host state
//! they change, and everything else is dropped and counted by [`DropReason`].
//!
//! Checks: frame well-formed; upstream `seq` increasing per host; the DID document names this
//! host; account not banned, throttled or inactive; `#commit` rev a valid TID, newer than the
//! last accepted rev and not in the future, and `verify_commit` (blocks, signature, op
//! inversion to `prevData`) against the current signing key (re-resolved once on failure, in
//! case the key rotated); `#sync` signed by the key, then it resets the account's state.
//!
//! Only the event's own faults drop it. Our faults ([`IngestError::Store`]: a store or log
//! write failed) leave the host's cursor before the event: the upstream task disconnects and
//! resumes from there with backoff, so the event (and every later one of that host) waits in
//! order instead. An identity service's outage ([`IngestError::IdentityUnavailable`]) holds
//! only that account back: the event is stored as held (with the host's cursor past it, in one
//! batch), every later event of the account joins it, and the upstream task retries them in
//! order with backoff ([`Relay::release_held`]) while the host's other accounts go on. Past
//! [`MAX_HELD_PER_HOST`] held events the host waits as a whole, as for a store error.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use atproto::firehose::{self, SubscribeReposFrame};
use atproto::syntax::Tid;

use crate::identity::{Identity, ResolveError};
use crate::relay::Relay;
use crate::store::{AccountState, EventKind, HeldEvent, HostState};

/// Held events one host may have before its stream waits as a whole.
pub const MAX_HELD_PER_HOST: usize = 100_000;

/// Why an upstream event was not forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unknown message type {0}")]
    UnknownType(String),
    #[error("upstream seq {seq} not after {cursor}")]
    SeqBackwards { seq: i64, cursor: i64 },
    /// The DID method is not supported, or its host refused with another definitive answer.
    #[error("DID resolution failed: {0}")]
    Resolve(String),
    #[error("DID not found: {0}")]
    DidNotFound(String),
    #[error("DID is tombstoned: {0}")]
    DidTombstoned(String),
    #[error("invalid DID document: {0}")]
    DidDocInvalid(String),
    #[error("DID document names host {named:?}, event came from {from}")]
    WrongHost { named: Option<String>, from: String },
    #[error("account is taken down by the relay")]
    AccountBanned,
    #[error("account is throttled (host account quota)")]
    Throttled,
    #[error("account is not active ({0})")]
    Inactive(String),
    #[error("invalid rev {0}")]
    BadRev(String),
    #[error("rev {rev} is not after {last}")]
    RevNotNewer { rev: String, last: String },
    #[error("rev {0} is in the future")]
    RevInFuture(String),
    #[error("verification failed: {0}")]
    Verify(String),
}

impl DropReason {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownType(_) => "unknown_type",
            Self::SeqBackwards { .. } => "seq_backwards",
            Self::Resolve(_) => "resolve_failed",
            Self::DidNotFound(_) => "did_not_found",
            Self::DidTombstoned(_) => "did_tombstoned",
            Self::DidDocInvalid(_) => "did_doc_invalid",
            Self::WrongHost { .. } => "wrong_host",
            Self::AccountBanned => "account_banned",
            Self::Throttled => "account_throttled",
            Self::Inactive(_) => "account_inactive",
            Self::BadRev(_) => "bad_rev",
            Self::RevNotNewer { .. } => "rev_not_newer",
            Self::RevInFuture(_) => "rev_in_future",
            Self::Verify(_) => "verify_failed",
        }
    }

    /// Every label [`DropReason::label`] gives (the metric's complete set of reasons).
    pub const LABELS: &'static [&'static str] = &[
        "malformed",
        "unknown_type",
        "seq_backwards",
        "resolve_failed",
        "did_not_found",
        "did_tombstoned",
        "did_doc_invalid",
        "wrong_host",
        "account_banned",
        "account_throttled",
        "account_inactive",
        "bad_rev",
        "rev_not_newer",
        "rev_in_future",
        "verify_failed",
    ];
}

impl From<ResolveError> for IngestError {
    fn from(e: ResolveError) -> Self {
        IngestError::Dropped(match e {
            ResolveError::Unavailable(why) => return IngestError::IdentityUnavailable(why),
            ResolveError::NotFound(did) => DropReason::DidNotFound(did),
            ResolveError::Tombstoned(did) => DropReason::DidTombstoned(did),
            ResolveError::Document(why) => DropReason::DidDocInvalid(why),
            e @ (ResolveError::UnsupportedMethod(_) | ResolveError::Refused(_)) => DropReason::Resolve(e.to_string()),
        })
    }
}

/// Why an upstream frame was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event's own fault: dropped and counted by reason; the cursor moves past it.
    #[error(transparent)]
    Dropped(#[from] DropReason),
    /// Our fault: the store or the log could not be read or written. Retried, never dropped.
    #[error("store: {0}")]
    Store(String),
    /// The PLC directory or a did:web host is down or overloaded. Retried, never dropped.
    #[error("identity unavailable: {0}")]
    IdentityUnavailable(String),
}

impl IngestError {
    fn store(e: impl std::fmt::Display) -> IngestError {
        IngestError::Store(e.to_string())
    }
}

/// The outcome of one upstream frame.
#[derive(Debug)]
pub enum Ingested {
    /// Sequenced under this relay seq.
    Accepted(u64),
    /// Held back until its account's identity resolves (see [`Relay::release_held`]).
    Held,
    /// `#info` and the like: nothing to forward.
    Ignored,
    /// An error frame: the host is closing the stream.
    UpstreamError(String),
}

/// Per-host ingest context, owned by the host's subscription task.
pub struct HostCtx {
    pub state: Arc<Mutex<HostState>>,
    pub hostname: String,
    /// Accounts of this host with held events (all their later events are held after them).
    pub waiting: Mutex<BTreeSet<String>>,
    /// How many events of this host are held.
    pub held: AtomicUsize,
}

impl HostCtx {
    pub fn new(state: Arc<Mutex<HostState>>, hostname: &str) -> HostCtx {
        HostCtx { state, hostname: hostname.into(), waiting: Mutex::default(), held: AtomicUsize::new(0) }
    }

    /// Sets `relay_events_held{host}` (set, not incremented: a restarted host task starts over).
    fn report_held(&self) {
        metrics::gauge!("relay_events_held", "host" => self.hostname.clone()).set(self.held.load(Ordering::Relaxed) as f64);
    }
}

/// The kind and DID of an event frame; `None` for frames that are not account events.
fn kind_and_did(frame: &SubscribeReposFrame) -> Option<(EventKind, String)> {
    Some(match frame {
        SubscribeReposFrame::Commit(e) => (EventKind::Commit, e.repo.clone()),
        SubscribeReposFrame::Sync(e) => (EventKind::Sync, e.did.clone()),
        SubscribeReposFrame::Identity(e) => (EventKind::Identity, e.did.clone()),
        SubscribeReposFrame::Account(e) => (EventKind::Account, e.did.clone()),
        _ => return None,
    })
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A `#commit`'s signature and inversion, checked ahead of its turn (in parallel with the
/// events before it) against the key then known for its DID. [`Relay::ingest`] uses it only if
/// that is still the account's key; every check that depends on the account's state (rev
/// order, status, host) still happens in order.
pub struct PreVerified {
    key: atproto::keys::PublicKey,
    result: Result<firehose::VerifiedCommit, firehose::VerifyError>,
}

impl Relay {
    /// Verifies a `#commit` frame's signature and operations on a blocking thread, with the
    /// DID's current key (resolved or cached); `None` for other frames or when that fails.
    pub async fn preverify(&self, bytes: bytes::Bytes) -> Option<PreVerified> {
        let Ok(SubscribeReposFrame::Commit(ev)) = SubscribeReposFrame::decode(&bytes) else { return None };
        let key = self.resolver.resolve(&ev.repo).await.ok()?.key.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = firehose::verify_commit(&ev, &key);
            metrics::histogram!("relay_verify_seconds").record(started.elapsed().as_secs_f64());
            PreVerified { key, result }
        })
        .await
        .ok()
    }

    /// Validates one upstream frame from `host` and, if valid, appends it to the log.
    pub async fn ingest(&self, host: &HostCtx, bytes: &[u8], pre: Option<PreVerified>) -> Result<Ingested, IngestError> {
        metrics::counter!("relay_events_in_total", "host" => host.hostname.clone()).increment(1);
        let result = self.ingest_inner(host, bytes, pre).await;
        match &result {
            Ok(Ingested::Accepted(_)) => metrics::counter!("relay_events_accepted_total", "host" => host.hostname.clone()).increment(1),
            Ok(Ingested::Held) => metrics::counter!("relay_events_held_total").increment(1),
            Err(IngestError::Dropped(reason)) => {
                tracing::debug!(host = %host.hostname, %reason, "event dropped");
                metrics::counter!("relay_events_dropped_total", "reason" => reason.label()).increment(1)
            }
            Err(e @ IngestError::Store(_)) => {
                tracing::error!(host = %host.hostname, error = %e, "store error: the event waits for a retry");
                metrics::counter!("relay_store_errors_total").increment(1)
            }
            Err(e @ IngestError::IdentityUnavailable(_)) => {
                tracing::warn!(host = %host.hostname, error = %e, "identity unavailable: the event waits for a retry");
                metrics::counter!("relay_identity_unavailable_total").increment(1)
            }
            Ok(_) => {}
        }
        result
    }

    async fn ingest_inner(&self, host: &HostCtx, bytes: &[u8], pre: Option<PreVerified>) -> Result<Ingested, IngestError> {
        let frame = SubscribeReposFrame::decode(bytes).map_err(|e| DropReason::Malformed(e.to_string()))?;
        let (kind, did) = match &frame {
            SubscribeReposFrame::Error(e) => return Ok(Ingested::UpstreamError(e.error.clone())),
            SubscribeReposFrame::Info(info) => {
                tracing::info!(host = %host.hostname, name = %info.name, "upstream #info");
                return Ok(Ingested::Ignored);
            }
            SubscribeReposFrame::Unknown { t, .. } => return Err(DropReason::UnknownType(t.clone()).into()),
            event => kind_and_did(event).expect("an account event"),
        };
        let seq = frame.seq().unwrap_or_default();
        let before = {
            let mut st = host.state.lock().unwrap();
            if seq <= st.cursor {
                return Err(DropReason::SeqBackwards { seq, cursor: st.cursor }.into());
            }
            // The host's stream has moved past this seq if the event is accepted or dropped.
            std::mem::replace(&mut st.cursor, seq)
        };
        let result = if host.waiting.lock().unwrap().contains(&did) {
            // Behind the account's held events, in order.
            self.hold(host, &did, seq, bytes)
        } else {
            match self.check_and_append(host, &frame, kind, &did, bytes, pre, None).await {
                Err(IngestError::IdentityUnavailable(why)) if host.held.load(Ordering::Relaxed) < MAX_HELD_PER_HOST => {
                    tracing::warn!(host = %host.hostname, %did, error = %why, "identity unavailable: the account's events are held");
                    metrics::counter!("relay_identity_unavailable_total").increment(1);
                    self.hold(host, &did, seq, bytes)
                }
                other => other,
            }
        };
        if matches!(result, Err(IngestError::Store(_) | IngestError::IdentityUnavailable(_))) {
            // Not the event's fault: it is read again after the reconnect.
            host.state.lock().unwrap().cursor = before;
        }
        result
    }

    /// Stores `bytes` as held for `did`, with the host's state (its cursor now past it).
    fn hold(&self, host: &HostCtx, did: &str, seq: i64, bytes: &[u8]) -> Result<Ingested, IngestError> {
        let snapshot = host.state.lock().unwrap().clone();
        self.log.store().hold(&snapshot, did, seq, bytes).map_err(IngestError::store)?;
        host.waiting.lock().unwrap().insert(did.to_string());
        host.held.fetch_add(1, Ordering::Relaxed);
        host.report_held();
        Ok(Ingested::Held)
    }

    /// Loads the host's held events' accounts (at the start of its upstream task).
    pub fn load_held(&self, host: &HostCtx) -> Result<(), IngestError> {
        let held = self.log.store().held(&host.hostname, None).map_err(IngestError::store)?;
        host.held.store(held.len(), Ordering::Relaxed);
        host.report_held();
        host.waiting.lock().unwrap().extend(held.into_iter().map(|h| h.did));
        Ok(())
    }

    /// Retries the host's held events, each account's in order, through every check: accepted
    /// ones are appended (and deleted from the held set in the same batch), ones dropped for
    /// their own fault are deleted, and an account whose identity is still unavailable stays
    /// held. Returns how many accounts are still waiting. Called by the host's upstream task
    /// between frames, so the host's state is its own.
    pub async fn release_held(&self, host: &HostCtx) -> Result<usize, IngestError> {
        let accounts: Vec<String> = host.waiting.lock().unwrap().iter().cloned().collect();
        for did in accounts {
            let held = self.log.store().held(&host.hostname, Some(&did)).map_err(IngestError::store)?;
            let mut still_unavailable = false;
            for event in &held {
                match self.release_one(host, event).await {
                    Ok(()) => {}
                    Err(IngestError::IdentityUnavailable(why)) => {
                        tracing::debug!(host = %host.hostname, %did, error = %why, "identity still unavailable");
                        metrics::counter!("relay_identity_unavailable_total").increment(1);
                        still_unavailable = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !still_unavailable {
                host.waiting.lock().unwrap().remove(&did);
            }
        }
        Ok(host.waiting.lock().unwrap().len())
    }

    async fn release_one(&self, host: &HostCtx, event: &HeldEvent) -> Result<(), IngestError> {
        let outcome = match SubscribeReposFrame::decode(&event.frame).ok().as_ref().and_then(|f| kind_and_did(f).map(|k| (f, k))) {
            Some((frame, (kind, _))) => self.check_and_append(host, frame, kind, &event.did, &event.frame, None, Some(&event.key)).await,
            None => Err(DropReason::Malformed("held frame does not decode".into()).into()),
        };
        match outcome {
            Ok(_) => metrics::counter!("relay_events_accepted_total", "host" => host.hostname.clone()).increment(1),
            Err(IngestError::Dropped(reason)) => {
                metrics::counter!("relay_events_dropped_total", "reason" => reason.label()).increment(1);
                self.log.store().release_dropped(&event.key).map_err(IngestError::store)?;
            }
            Err(e) => return Err(e),
        }
        host.held.fetch_sub(1, Ordering::Relaxed);
        host.report_held();
        metrics::counter!("relay_events_released_total").increment(1);
        Ok(())
    }

    /// Every check after the cursor's, then the append (which deletes the held event
    /// `release`, when one is being released).
    #[allow(clippy::too_many_arguments)]
    async fn check_and_append(
        &self,
        host: &HostCtx,
        frame: &SubscribeReposFrame,
        kind: EventKind,
        did: &str,
        bytes: &[u8],
        mut pre: Option<PreVerified>,
        release: Option<&[u8]>,
    ) -> Result<Ingested, IngestError> {
        if did.parse::<atproto::syntax::Did>().is_err() {
            return Err(DropReason::Malformed(format!("invalid DID {did:?}")).into());
        }
        let store = self.log.store();
        let existing = store.get_account(did).map_err(IngestError::store)?;
        if existing.as_ref().is_some_and(|a| a.banned) {
            return Err(DropReason::AccountBanned.into());
        }

        // Identity: refreshed on #identity, cached otherwise.
        let mut fresh = kind == EventKind::Identity;
        let identity = if fresh {
            self.resolver.purge(did);
            self.resolver.refresh(did).await
        } else {
            self.resolver.resolve(did).await
        };
        let identity = match identity {
            Ok(id) => Some(id),
            // A deleted account's DID may no longer resolve; its host still reports it.
            Err(ResolveError::NotFound(_)) if kind == EventKind::Account && existing.as_ref().is_some_and(|a| a.host == host.hostname) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(id) = &identity {
            let named = id.pds.as_deref().and_then(|u| self.config.host_for_pds_url(u));
            if named.as_deref() != Some(host.hostname.as_str()) {
                return Err(DropReason::WrongHost { named, from: host.hostname.clone() }.into());
            }
        }

        let mut account = existing.clone().unwrap_or_default();
        let new_account = existing.is_none() || account.host != host.hostname;
        account.host = host.hostname.clone();
        if new_account {
            let st = host.state.lock().unwrap();
            let limits = self.limits();
            let limit = st.account_limit.unwrap_or(limits.accounts_per_host);
            account.throttled = limits.enabled && st.account_count >= limit;
        } else if account.throttled {
            // Lifted when limits are switched off or raised above the host's account count.
            let st = host.state.lock().unwrap();
            let limits = self.limits();
            let limit = st.account_limit.unwrap_or(limits.accounts_per_host);
            account.throttled = limits.enabled && st.account_count > limit;
        }

        match frame {
            SubscribeReposFrame::Commit(ev) => {
                if account.throttled {
                    self.persist_account(did, &account, host, new_account)?;
                    return Err(DropReason::Throttled.into());
                }
                if let Some(status) = account.status() {
                    return Err(DropReason::Inactive(status.into()).into());
                }
                let rev = ev.rev.parse::<Tid>().map_err(|_| DropReason::BadRev(ev.rev.clone()))?;
                if let Some(last) = &account.rev {
                    if ev.rev.as_str() <= last.as_str() {
                        return Err(DropReason::RevNotNewer { rev: ev.rev.clone(), last: last.clone() }.into());
                    }
                }
                if rev.timestamp_micros() > now_us() + self.config.max_rev_skew.as_micros() as u64 {
                    return Err(DropReason::RevInFuture(ev.rev.clone()).into());
                }
                let mut id = identity.clone().expect("commits need a resolved identity");
                let verified = loop {
                    let result = match pre.take().filter(|p| p.key == id.key) {
                        Some(p) => p.result,
                        None => {
                            let started = Instant::now();
                            let result = firehose::verify_commit(ev, &id.key);
                            metrics::histogram!("relay_verify_seconds").record(started.elapsed().as_secs_f64());
                            result
                        }
                    };
                    match result {
                        Ok(v) => break v,
                        Err(e) if !fresh && matches!(e, firehose::VerifyError::Commit(_)) => {
                            // The key may have rotated since it was cached.
                            fresh = true;
                            id = self.refresh_identity(did, host).await?;
                        }
                        Err(e) => return Err(DropReason::Verify(e.to_string()).into()),
                    }
                };
                if let (Some(data), Some(prev)) = (&account.data, ev.prev_data) {
                    if *data != prev.to_string() {
                        metrics::counter!("relay_chain_breaks_total").increment(1);
                    }
                }
                account.rev = Some(ev.rev.clone());
                account.commit = Some(ev.commit.to_string());
                account.data = Some(verified.commit.data.to_string());
            }
            SubscribeReposFrame::Sync(ev) => {
                if account.throttled {
                    self.persist_account(did, &account, host, new_account)?;
                    return Err(DropReason::Throttled.into());
                }
                ev.rev.parse::<Tid>().map_err(|_| DropReason::BadRev(ev.rev.clone()))?;
                if let Some(last) = &account.rev {
                    if ev.rev.as_str() <= last.as_str() {
                        return Err(DropReason::RevNotNewer { rev: ev.rev.clone(), last: last.clone() }.into());
                    }
                }
                let mut id = identity.clone().expect("syncs need a resolved identity");
                let commit = loop {
                    match firehose::verify_sync(ev, &id.key) {
                        Ok(c) => break c,
                        Err(firehose::VerifyError::Commit(_)) if !fresh => {
                            fresh = true;
                            id = self.refresh_identity(did, host).await?;
                        }
                        Err(e) => return Err(DropReason::Verify(e.to_string()).into()),
                    }
                };
                account.rev = Some(commit.rev.clone());
                account.commit = Some(commit.cid().to_string());
                account.data = Some(commit.data.to_string());
            }
            SubscribeReposFrame::Account(ev) => {
                account.upstream_status = if ev.active { None } else { Some(ev.status.clone().unwrap_or_else(|| "deactivated".into())) };
            }
            SubscribeReposFrame::Identity(_) => {}
            _ => unreachable!("handled above"),
        }
        if account.throttled {
            self.persist_account(did, &account, host, new_account)?;
            return Err(DropReason::Throttled.into());
        }

        // The host's account count moves with the append, not before it (a failed append
        // must leave it as it was).
        let mut host_snapshot = host.state.lock().unwrap().clone();
        host_snapshot.account_count += u64::from(new_account);
        let seq = self.log.append(kind, did, bytes, Some(&account), Some(&host_snapshot), release).map_err(IngestError::store)?;
        host.state.lock().unwrap().account_count += u64::from(new_account);
        Ok(Ingested::Accepted(seq))
    }

    async fn refresh_identity(&self, did: &str, host: &HostCtx) -> Result<Arc<Identity>, IngestError> {
        let id = self.resolver.refresh(did).await?;
        let named = id.pds.as_deref().and_then(|u| self.config.host_for_pds_url(u));
        if named.as_deref() != Some(host.hostname.as_str()) {
            return Err(DropReason::WrongHost { named, from: host.hostname.clone() }.into());
        }
        Ok(id)
    }

    /// Records a throttled account (so the quota counts it) without forwarding its event.
    fn persist_account(&self, did: &str, account: &AccountState, host: &HostCtx, new: bool) -> Result<(), IngestError> {
        let store = self.log.store();
        store.put_account(did, account).map_err(IngestError::store)?;
        if new {
            let mut snapshot = host.state.lock().unwrap().clone();
            snapshot.account_count += 1;
            store.put_host(&snapshot).map_err(IngestError::store)?;
            host.state.lock().unwrap().account_count += 1;
        }
        Ok(())
    }
}
