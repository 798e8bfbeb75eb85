//! Generating events ahead of emission on every core.
//!
//! A single [`Planner`] draws the event sequence from the traffic model (who, what, when, and
//! each host's next `seq`), so the sequence depends only on the seed. Accounts are spread over
//! shards, one per core; each batch of plans is split by shard and the shards apply their
//! writes in parallel (MST edits, record encoding, commit signing, CAR slices, frame
//! encoding), then the frames are put back in plan order. Per-account order is preserved
//! because an account lives in exactly one shard.
//!
//! Revs and record keys are TIDs on a virtual clock: `epoch + event index` microseconds, never
//! going backwards within a repository, so a seed and an epoch give identical frames.

use std::sync::Arc;

use atproto::firehose::{AccountEvent, IdentityEvent, SubscribeReposFrame};
use atproto::repo::{RecordWrite, RepoError};
use atproto::syntax::Tid;
use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand::SeedableRng;

use super::account::AccountState;
use super::records;
use crate::model::{Collection, Draw, OpKind, Sampler, TrafficModel};

/// One planned event.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: u64,
    pub draw: Draw,
    /// Another account the record refers to (liked, followed…).
    pub other: usize,
    pub host: usize,
    pub seq: i64,
    /// When to emit, in seconds after the start (rate mode), and the event's `time`.
    pub due_s: Option<f64>,
    pub time: String,
}

/// What an event turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmittedKind {
    Commit { op: OpKind, collection: Collection },
    Identity,
    Account,
}

#[derive(Debug, Clone)]
pub struct Emitted {
    pub index: u64,
    pub host: usize,
    pub seq: i64,
    pub due_s: Option<f64>,
    pub kind: EmittedKind,
    pub frame: Bytes,
}

/// Draws the event sequence.
pub struct Planner {
    sampler: Sampler,
    account_host: Arc<Vec<usize>>,
    next_seq: Vec<i64>,
    next_index: u64,
    /// Base events per second; `None` emits as fast as possible.
    rate: Option<f64>,
    clock_s: f64,
    start_wall_ms: i64,
}

impl Planner {
    pub fn new(model: &TrafficModel, account_host: Arc<Vec<usize>>, hosts: usize, seed: u64, rate: Option<f64>) -> Self {
        Planner {
            sampler: Sampler::new(model, account_host.len(), seed),
            account_host,
            next_seq: vec![1; hosts],
            next_index: 0,
            rate,
            clock_s: 0.0,
            start_wall_ms: chrono::Utc::now().timestamp_millis(),
        }
    }

    /// Sets the wall-clock start that `due_s` offsets and event times count from.
    pub fn set_start(&mut self, wall_ms: i64) {
        self.start_wall_ms = wall_ms;
    }

    pub fn planned(&self) -> u64 {
        self.next_index
    }

    pub fn next(&mut self) -> Plan {
        let draw = self.sampler.draw();
        let other = self.sampler.author();
        let account = match draw {
            Draw::Commit { account, .. } | Draw::Identity { account } | Draw::Account { account } => account,
        };
        let host = self.account_host[account];
        let seq = self.next_seq[host];
        self.next_seq[host] += 1;
        let index = self.next_index;
        self.next_index += 1;
        let (due_s, time_ms) = match self.rate {
            Some(rate) => {
                self.clock_s += self.sampler.interarrival(rate, self.clock_s);
                (Some(self.clock_s), self.start_wall_ms + (self.clock_s * 1000.0) as i64)
            }
            None => (None, chrono::Utc::now().timestamp_millis()),
        };
        let time = chrono::DateTime::from_timestamp_millis(time_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Plan { index, draw, other, host, seq, due_s, time }
    }
}

/// Shared read-only context for shards.
pub struct Context {
    pub dids: Arc<Vec<String>>,
    pub handles: Arc<Vec<String>>,
    pub seed: u64,
    pub epoch_micros: u64,
}

/// The accounts of one shard (account `i` is at `i / shards` in shard `i % shards`).
pub struct Shard {
    pub accounts: Vec<AccountState>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("account {account}: {source}")]
    Repo { account: usize, source: RepoError },
}

impl Shard {
    fn process(&mut self, shards: usize, plans: &[Plan], ctx: &Context) -> Result<Vec<Emitted>, GenError> {
        plans.iter().map(|p| self.one(shards, p, ctx)).collect()
    }

    fn one(&mut self, shards: usize, plan: &Plan, ctx: &Context) -> Result<Emitted, GenError> {
        let emitted = |kind, frame: SubscribeReposFrame| Emitted {
            index: plan.index,
            host: plan.host,
            seq: plan.seq,
            due_s: plan.due_s,
            kind,
            frame: frame.encode().into(),
        };
        let (account, op, collection) = match plan.draw {
            Draw::Identity { account } => {
                let evt = IdentityEvent {
                    seq: plan.seq,
                    did: ctx.dids[account].clone(),
                    time: plan.time.clone(),
                    handle: Some(ctx.handles[account].clone()),
                };
                return Ok(emitted(EmittedKind::Identity, SubscribeReposFrame::Identity(evt)));
            }
            Draw::Account { account } => {
                let evt = AccountEvent { seq: plan.seq, did: ctx.dids[account].clone(), time: plan.time.clone(), active: true, status: None };
                return Ok(emitted(EmittedKind::Account, SubscribeReposFrame::Account(evt)));
            }
            Draw::Commit { account, op, collection } => (account, op, collection),
        };
        let state = &mut self.accounts[account / shards];
        let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed ^ plan.index.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let clock_id = (account % 1024) as u16;
        let at = ctx.epoch_micros + plan.index;
        let other_did = &ctx.dids[plan.other];
        let other_rkey = Tid::from_parts(ctx.epoch_micros - rng.gen_range(1..30 * 86_400_000_000u64), 0).to_string();
        // Record timestamps follow the virtual clock, so they too are fixed by seed and epoch.
        let created_at = chrono::DateTime::from_timestamp_micros(at as i64)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let created_at = created_at.as_str();
        // A delete removes an earlier record of the drawn collection (or any collection);
        // with nothing to delete it becomes a create.
        let mut op = op;
        let mut collection = collection;
        let mut deleted = None;
        if op == OpKind::Delete {
            let pick = if state.rkeys.get(&collection).is_some_and(|v| !v.is_empty()) {
                Some(collection)
            } else {
                Collection::CREATED.into_iter().find(|c| state.rkeys.get(c).is_some_and(|v| !v.is_empty()))
            };
            match pick {
                Some(c) => {
                    let keys = state.rkeys.get_mut(&c).expect("non-empty");
                    let i = rng.gen_range(0..keys.len());
                    collection = c;
                    deleted = Some(keys.swap_remove(i));
                }
                None => op = OpKind::Create,
            }
        }
        let write = match op {
            OpKind::Create => {
                let rkey = state.next_tid(at, clock_id).to_string();
                let record = records::record(collection, &mut rng, created_at, other_did, &other_rkey);
                state.rkeys.entry(collection).or_default().push(rkey.clone());
                RecordWrite::Create { collection: collection.nsid().into(), rkey, record }
            }
            OpKind::Update => RecordWrite::Update {
                collection: Collection::Profile.nsid().into(),
                rkey: "self".into(),
                record: records::record(Collection::Profile, &mut rng, created_at, other_did, &other_rkey),
            },
            OpKind::Delete => {
                RecordWrite::Delete { collection: collection.nsid().into(), rkey: deleted.expect("picked above") }
            }
        };
        let rev = state.next_tid(at, clock_id);
        let data = state
            .repo
            .apply_writes(std::slice::from_ref(&write), &state.key, rev.as_str())
            .map_err(|source| GenError::Repo { account, source })?;
        state.store.extend(data.new_blocks.iter().cloned());
        {
            let mut head = state.head.write().expect("head lock");
            head.cid = data.cid;
            head.rev = rev.to_string();
            match op {
                OpKind::Create => head.records += 1,
                OpKind::Delete => head.records -= 1,
                OpKind::Update => {}
            }
        }
        let evt = data.commit_event(plan.seq, plan.time.clone(), vec![]);
        let kind = EmittedKind::Commit { op, collection: if op == OpKind::Update { Collection::Profile } else { collection } };
        Ok(emitted(kind, SubscribeReposFrame::Commit(evt)))
    }
}

/// Applies a batch of plans on all shards in parallel; the result is in plan order.
pub fn generate(shards: &mut [Shard], plans: Vec<Plan>, ctx: &Context) -> Result<Vec<Emitted>, GenError> {
    let n = shards.len();
    let mut per_shard: Vec<Vec<Plan>> = vec![Vec::new(); n];
    for p in plans {
        let account = match p.draw {
            Draw::Commit { account, .. } | Draw::Identity { account } | Draw::Account { account } => account,
        };
        per_shard[account % n].push(p);
    }
    let results: Vec<Result<Vec<Emitted>, GenError>> = std::thread::scope(|s| {
        let handles: Vec<_> = shards
            .iter_mut()
            .zip(per_shard.iter())
            .map(|(shard, plans)| s.spawn(move || shard.process(n, plans, ctx)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("shard thread does not panic")).collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    out.sort_unstable_by_key(|e| e.index);
    Ok(out)
}
