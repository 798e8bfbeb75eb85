//! Validation of upstream events before they enter the log. Every frame a host sends is
//! decoded and checked here; accepted events are sequenced with the account and host state
//! they change, and everything else is dropped and counted by [`DropReason`].
//!
//! Checks: frame well-formed; upstream `seq` increasing per host; the DID document names this
//! host; account not banned, throttled or inactive; `#commit` rev a valid TID, newer than the
//! last accepted rev and not in the future, and `verify_commit` (blocks, signature, op
//! inversion to `prevData`) against the current signing key (re-resolved once on failure, in
//! case the key rotated); `#sync` signed by the key, then it resets the account's state.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use atproto::firehose::{self, SubscribeReposFrame};
use atproto::syntax::Tid;

use crate::identity::{Identity, ResolveError};
use crate::relay::Relay;
use crate::store::{AccountState, EventKind, HostState};

/// Why an upstream event was not forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unknown message type {0}")]
    UnknownType(String),
    #[error("upstream seq {seq} not after {cursor}")]
    SeqBackwards { seq: i64, cursor: i64 },
    #[error("DID resolution failed: {0}")]
    Resolve(String),
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
}

/// The outcome of one upstream frame.
#[derive(Debug)]
pub enum Ingested {
    /// Sequenced under this relay seq.
    Accepted(u64),
    /// `#info` and the like: nothing to forward.
    Ignored,
    /// An error frame: the host is closing the stream.
    UpstreamError(String),
}

/// Per-host ingest context, owned by the host's subscription task.
pub struct HostCtx {
    pub state: Arc<Mutex<HostState>>,
    pub hostname: String,
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
    pub async fn ingest(&self, host: &HostCtx, bytes: &[u8], pre: Option<PreVerified>) -> Result<Ingested, DropReason> {
        metrics::counter!("relay_events_in_total", "host" => host.hostname.clone()).increment(1);
        let result = self.ingest_inner(host, bytes, pre).await;
        match &result {
            Ok(Ingested::Accepted(_)) => {
                metrics::counter!("relay_events_accepted_total", "host" => host.hostname.clone()).increment(1)
            }
            Err(reason) => {
                tracing::debug!(host = %host.hostname, %reason, "event dropped");
                metrics::counter!("relay_events_dropped_total", "reason" => reason.label()).increment(1)
            }
            _ => {}
        }
        result
    }

    async fn ingest_inner(&self, host: &HostCtx, bytes: &[u8], mut pre: Option<PreVerified>) -> Result<Ingested, DropReason> {
        let frame = SubscribeReposFrame::decode(bytes).map_err(|e| DropReason::Malformed(e.to_string()))?;
        let (kind, did) = match &frame {
            SubscribeReposFrame::Error(e) => return Ok(Ingested::UpstreamError(e.error.clone())),
            SubscribeReposFrame::Info(info) => {
                tracing::info!(host = %host.hostname, name = %info.name, "upstream #info");
                return Ok(Ingested::Ignored);
            }
            SubscribeReposFrame::Unknown { t, .. } => return Err(DropReason::UnknownType(t.clone())),
            SubscribeReposFrame::Commit(e) => (EventKind::Commit, e.repo.clone()),
            SubscribeReposFrame::Sync(e) => (EventKind::Sync, e.did.clone()),
            SubscribeReposFrame::Identity(e) => (EventKind::Identity, e.did.clone()),
            SubscribeReposFrame::Account(e) => (EventKind::Account, e.did.clone()),
        };
        let seq = frame.seq().unwrap_or_default();
        {
            let mut st = host.state.lock().unwrap();
            if seq <= st.cursor {
                return Err(DropReason::SeqBackwards { seq, cursor: st.cursor });
            }
            // The host's stream has moved past this seq whether or not the event is valid.
            st.cursor = seq;
        }
        if did.parse::<atproto::syntax::Did>().is_err() {
            return Err(DropReason::Malformed(format!("invalid DID {did:?}")));
        }
        let store = self.log.store();
        let existing = store.get_account(&did).map_err(|e| DropReason::Malformed(format!("store: {e}")))?;
        if existing.as_ref().is_some_and(|a| a.banned) {
            return Err(DropReason::AccountBanned);
        }

        // Identity: refreshed on #identity, cached otherwise.
        let mut fresh = kind == EventKind::Identity;
        let identity = if fresh {
            self.resolver.purge(&did);
            self.resolver.refresh(&did).await
        } else {
            self.resolver.resolve(&did).await
        };
        let identity = match identity {
            Ok(id) => Some(id),
            // A deleted account's DID may no longer resolve; its host still reports it.
            Err(ResolveError::NotFound(_))
                if kind == EventKind::Account && existing.as_ref().is_some_and(|a| a.host == host.hostname) =>
            {
                None
            }
            Err(e) => return Err(DropReason::Resolve(e.to_string())),
        };
        if let Some(id) = &identity {
            let named = id.pds.as_deref().and_then(|u| self.config.host_for_pds_url(u));
            if named.as_deref() != Some(host.hostname.as_str()) {
                return Err(DropReason::WrongHost { named, from: host.hostname.clone() });
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

        match &frame {
            SubscribeReposFrame::Commit(ev) => {
                if account.throttled {
                    self.persist_account(&did, &account, host, new_account)?;
                    return Err(DropReason::Throttled);
                }
                if let Some(status) = account.status() {
                    return Err(DropReason::Inactive(status.into()));
                }
                let rev = ev.rev.parse::<Tid>().map_err(|_| DropReason::BadRev(ev.rev.clone()))?;
                if let Some(last) = &account.rev {
                    if ev.rev.as_str() <= last.as_str() {
                        return Err(DropReason::RevNotNewer { rev: ev.rev.clone(), last: last.clone() });
                    }
                }
                if rev.timestamp_micros() > now_us() + self.config.max_rev_skew.as_micros() as u64 {
                    return Err(DropReason::RevInFuture(ev.rev.clone()));
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
                            id = self.refresh_identity(&did, host).await?;
                        }
                        Err(e) => return Err(DropReason::Verify(e.to_string())),
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
                    self.persist_account(&did, &account, host, new_account)?;
                    return Err(DropReason::Throttled);
                }
                ev.rev.parse::<Tid>().map_err(|_| DropReason::BadRev(ev.rev.clone()))?;
                if let Some(last) = &account.rev {
                    if ev.rev.as_str() <= last.as_str() {
                        return Err(DropReason::RevNotNewer { rev: ev.rev.clone(), last: last.clone() });
                    }
                }
                let mut id = identity.clone().expect("syncs need a resolved identity");
                let commit = loop {
                    match firehose::verify_sync(ev, &id.key) {
                        Ok(c) => break c,
                        Err(firehose::VerifyError::Commit(_)) if !fresh => {
                            fresh = true;
                            id = self.refresh_identity(&did, host).await?;
                        }
                        Err(e) => return Err(DropReason::Verify(e.to_string())),
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
            self.persist_account(&did, &account, host, new_account)?;
            return Err(DropReason::Throttled);
        }

        let host_snapshot = {
            let mut st = host.state.lock().unwrap();
            if new_account {
                st.account_count += 1;
            }
            st.clone()
        };
        let seq = self
            .log
            .append(kind, &did, bytes, Some(&account), Some(&host_snapshot))
            .map_err(|e| DropReason::Malformed(e.to_string()))?;
        Ok(Ingested::Accepted(seq))
    }

    async fn refresh_identity(&self, did: &str, host: &HostCtx) -> Result<Arc<Identity>, DropReason> {
        let id = self.resolver.refresh(did).await.map_err(|e| DropReason::Resolve(e.to_string()))?;
        let named = id.pds.as_deref().and_then(|u| self.config.host_for_pds_url(u));
        if named.as_deref() != Some(host.hostname.as_str()) {
            return Err(DropReason::WrongHost { named, from: host.hostname.clone() });
        }
        Ok(id)
    }

    /// Records a throttled account (so the quota counts it) without forwarding its event.
    fn persist_account(&self, did: &str, account: &AccountState, host: &HostCtx, new: bool) -> Result<(), DropReason> {
        let store = self.log.store();
        store.put_account(did, account).map_err(|e| DropReason::Malformed(format!("store: {e}")))?;
        if new {
            let snapshot = {
                let mut st = host.state.lock().unwrap();
                st.account_count += 1;
                st.clone()
            };
            store.put_host(&snapshot).map_err(|e| DropReason::Malformed(format!("store: {e}")))?;
        }
        Ok(())
    }
}
