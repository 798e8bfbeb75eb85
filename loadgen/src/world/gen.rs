//! Generating events ahead of emission on every core.
//!
//! A single [`Planner`] draws the event sequence from the traffic model (who, what, when, and
//! each host's next `seq`), so the sequence depends only on the seed. Each batch of plans is
//! grouped by account, and worker threads, one per core, take whole groups, largest first, and
//! apply their writes (MST edits, record encoding, commit signing in batches, CAR slices,
//! frame encoding); then the frames are put back in plan order. Per-account order is preserved
//! because one thread handles all of an account's events in a batch, and taking groups as
//! threads free up keeps the cores busy however skewed the authors are.
//!
//! Left alone, decoded MST nodes would pile up until every tree was decoded, so [`Accounts`]
//! keeps trees decoded for a bounded set of recently written accounts (CLOCK eviction) and
//! unloads the rest, which are read back from their encoded nodes when next written.
//!
//! Revs and record keys are TIDs on a virtual clock: `epoch + event index` microseconds, never
//! going backwards within a repository, so a seed and an epoch give identical frames.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use atproto::firehose::{AccountEvent, IdentityEvent, SubscribeReposFrame};
use atproto::repo::{PreparedCommit, RecordWrite, RepoError};
use atproto::syntax::Tid;
use bytes::Bytes;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

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

    pub fn next_plan(&mut self) -> Plan {
        let draw = self.sampler.draw();
        let other = self.sampler.author();
        let host = self.account_host[draw.account()];
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
        let time = chrono::DateTime::from_timestamp_millis(time_ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Plan { index, draw, other, host, seq, due_s, time }
    }
}

/// Shared read-only context for the workers.
pub struct Context {
    pub dids: Arc<Vec<String>>,
    pub handles: Arc<Vec<String>>,
    pub seed: u64,
    pub epoch_micros: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("account {account}: {source}")]
    Repo { account: usize, source: RepoError },
}

/// One batch, shared by the workers: groups of plans per account, largest first, taken in turn.
struct Job {
    groups: Vec<(usize, Vec<Plan>)>,
    next: AtomicUsize,
    out: Mutex<Result<Vec<Emitted>, GenError>>,
}

impl Job {
    fn new(plans: Vec<Plan>) -> Self {
        let mut slot: HashMap<usize, usize> = HashMap::new();
        let mut groups: Vec<(usize, Vec<Plan>)> = Vec::new();
        for p in plans {
            let account = p.draw.account();
            let i = *slot.entry(account).or_insert_with(|| {
                groups.push((account, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(p);
        }
        groups.sort_by_key(|(_, g)| std::cmp::Reverse(g.len()));
        Job { groups, next: AtomicUsize::new(0), out: Mutex::new(Ok(Vec::new())) }
    }

    fn work(&self, states: &[Mutex<AccountState>], ctx: &Context) {
        let result = self.take_groups(states, ctx);
        let mut out = self.out.lock().expect("batch lock");
        match (result, &mut *out) {
            (Ok(mut mine), Ok(all)) => all.append(&mut mine),
            (Err(e), slot @ Ok(_)) => *slot = Err(e),
            (_, Err(_)) => {}
        }
    }

    /// Builds the events of groups taken in turn until none are left. Commits are prepared
    /// group by group and signed [`SIGN_BATCH`] or more at a time, holding their accounts
    /// until then.
    fn take_groups(&self, states: &[Mutex<AccountState>], ctx: &Context) -> Result<Vec<Emitted>, GenError> {
        let mut mine = Vec::new();
        let mut held = Vec::new();
        let mut unsigned = Vec::new();
        while let Some((account, plans)) = self.groups.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            let mut state = states[*account].lock().expect("account lock");
            for plan in plans {
                match prepare(&mut state, *account, plan, ctx)? {
                    Step::Done(emitted) => mine.push(emitted),
                    Step::Sign(commit) => unsigned.push((held.len(), commit)),
                }
            }
            held.push(state);
            if unsigned.len() >= SIGN_BATCH {
                sign_and_finish(&mut held, &mut unsigned, &mut mine)?;
            }
        }
        sign_and_finish(&mut held, &mut unsigned, &mut mine)?;
        Ok(mine)
    }

    /// The batch's events in plan order.
    fn finish(self) -> Result<Vec<Emitted>, GenError> {
        let mut out = self.out.into_inner().expect("batch lock")?;
        out.sort_unstable_by_key(|e| e.index);
        Ok(out)
    }
}

/// Notes a batch's accounts as written and unloads trees beyond the bound, skipping (once)
/// those written since they were last considered (CLOCK).
fn touch(states: &[Mutex<AccountState>], decoded: &mut VecDeque<usize>, referenced: &mut [Option<bool>], max_decoded: usize, written: Vec<usize>) {
    for a in written {
        match &mut referenced[a] {
            Some(bit) => *bit = true,
            slot @ None => {
                *slot = Some(false);
                decoded.push_back(a);
            }
        }
    }
    while decoded.len() > max_decoded {
        let a = decoded.pop_front().expect("non-empty");
        if referenced[a] == Some(true) {
            referenced[a] = Some(false);
            decoded.push_back(a);
        } else {
            referenced[a] = None;
            states[a].lock().expect("account lock").repo.mst().unload();
        }
    }
}

/// Every account's writable state, and which accounts have their tree decoded.
pub struct Accounts {
    /// Locked only by the one worker handling the account's events in a batch.
    states: Vec<Mutex<AccountState>>,
    /// Accounts with a decoded tree, in CLOCK order, with their "written since" bit.
    decoded: VecDeque<usize>,
    referenced: Vec<Option<bool>>,
    max_decoded: usize,
}

impl Accounts {
    /// `max_decoded`: how many accounts may keep their tree decoded between batches.
    pub fn new(states: Vec<AccountState>, max_decoded: usize) -> Self {
        let referenced = vec![None; states.len()];
        Accounts { states: states.into_iter().map(Mutex::new).collect(), decoded: VecDeque::new(), referenced, max_decoded }
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn get(&mut self, account: usize) -> &mut AccountState {
        self.states[account].get_mut().expect("account lock")
    }

    /// Generates batch after batch on `threads` persistent workers until `next_batch` has no
    /// more or `emit` refuses one. Each batch comes out in plan order; the next one is planned
    /// while the workers build the current one.
    pub fn stream(
        &mut self,
        ctx: &Context,
        threads: usize,
        mut next_batch: impl FnMut() -> Option<Vec<Plan>>,
        mut emit: impl FnMut(Vec<Emitted>) -> bool,
    ) -> Result<(), GenError> {
        let Accounts { states, decoded, referenced, max_decoded } = self;
        let states = &*states;
        std::thread::scope(|s| {
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let workers: Vec<mpsc::Sender<Arc<Job>>> = (0..threads.max(1))
                .map(|_| {
                    let (tx, rx) = mpsc::channel::<Arc<Job>>();
                    let done = done_tx.clone();
                    s.spawn(move || {
                        for job in rx {
                            job.work(states, ctx);
                            drop(job);
                            if done.send(()).is_err() {
                                return;
                            }
                        }
                    });
                    tx
                })
                .collect();
            let mut current = next_batch().map(Job::new);
            while let Some(job) = current.take() {
                let job = Arc::new(job);
                for w in &workers {
                    w.send(job.clone()).expect("generator workers outlive the stream");
                }
                let next = next_batch().map(Job::new);
                for _ in &workers {
                    done_rx.recv().expect("generator workers report back");
                }
                let job = Arc::into_inner(job).expect("workers let go of a finished batch");
                let accounts: Vec<usize> = job.groups.iter().map(|(a, _)| *a).collect();
                let out = job.finish()?;
                touch(states, decoded, referenced, *max_decoded, accounts);
                if !emit(out) {
                    break;
                }
                current = next;
            }
            Ok(())
        })
    }
}

/// Commits signed together. One shared inversion of each kind serves the whole batch, and
/// `k·G` comes from a wide table in variable time, which is safe here because every key in
/// the world derives from its public seed: a k256 signature costs about a quarter of signing
/// alone, a p256 one a seventh (`cargo bench -p atproto --bench atproto -- _sign/`).
const SIGN_BATCH: usize = 32;

/// A prepared event: finished, or a commit waiting for its signature. A batch holds at most
/// `SIGN_BATCH` of them, so the unboxed commit costs no more than the allocation boxing would.
#[allow(clippy::large_enum_variant)]
enum Step<'a> {
    Done(Emitted),
    Sign(UnsignedEvent<'a>),
}

struct UnsignedEvent<'a> {
    plan: &'a Plan,
    account: usize,
    kind: EmittedKind,
    /// How the write changes the repository's record count.
    records: i64,
    commit: PreparedCommit,
}

fn emitted(plan: &Plan, kind: EmittedKind, frame: SubscribeReposFrame) -> Emitted {
    Emitted { index: plan.index, host: plan.host, seq: plan.seq, due_s: plan.due_s, kind, frame: frame.encode().into() }
}

/// Signs the waiting commits in one batch and finishes their events, in the order they were
/// prepared; then lets their accounts go.
fn sign_and_finish(
    held: &mut Vec<MutexGuard<'_, AccountState>>,
    unsigned: &mut Vec<(usize, UnsignedEvent<'_>)>,
    out: &mut Vec<Emitted>,
) -> Result<(), GenError> {
    let digests: Vec<_> = unsigned.iter().map(|(h, e)| (&held[*h].key, e.commit.signing_digest())).collect();
    let sigs = atproto::keys::sign_digests_vartime(&digests);
    for ((h, e), sig) in unsigned.drain(..).zip(sigs) {
        let state = &mut held[h];
        let data = state.repo.finish_commit(e.commit, sig).map_err(|source| GenError::Repo { account: e.account, source })?;
        state.shared.apply(&data, e.records);
        let evt = data.commit_event(e.plan.seq, e.plan.time.clone(), vec![]);
        out.push(emitted(e.plan, e.kind, SubscribeReposFrame::Commit(evt)));
    }
    held.clear();
    Ok(())
}

/// Prepares the event `plan` describes for `account`: identity and account events are done;
/// a commit's write is applied to the tree and its commit left to sign.
fn prepare<'a>(state: &mut AccountState, account: usize, plan: &'a Plan, ctx: &Context) -> Result<Step<'a>, GenError> {
    let (op, collection) = match plan.draw {
        Draw::Identity { .. } => {
            let evt = IdentityEvent { seq: plan.seq, did: ctx.dids[account].clone(), time: plan.time.clone(), handle: Some(ctx.handles[account].clone()) };
            return Ok(Step::Done(emitted(plan, EmittedKind::Identity, SubscribeReposFrame::Identity(evt))));
        }
        Draw::Account { .. } => {
            let evt = AccountEvent { seq: plan.seq, did: ctx.dids[account].clone(), time: plan.time.clone(), active: true, status: None };
            return Ok(Step::Done(emitted(plan, EmittedKind::Account, SubscribeReposFrame::Account(evt))));
        }
        Draw::Commit { op, collection, .. } => (op, collection),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed ^ plan.index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let clock_id = (account % 1024) as u16;
    let at = ctx.epoch_micros + plan.index;
    let other_did = &ctx.dids[plan.other];
    let other_rkey = Tid::from_parts(ctx.epoch_micros - rng.gen_range(1..30 * 86_400_000_000u64), 0).to_string();
    // Record timestamps follow the virtual clock, so they too are fixed by seed and epoch.
    let created_at = chrono::DateTime::from_timestamp_micros(at as i64).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
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
                deleted = Some(Tid::from_u64(keys.swap_remove(i)).to_string());
            }
            None => op = OpKind::Create,
        }
    }
    let write = match op {
        OpKind::Create => {
            let rkey = state.next_tid(at, clock_id);
            let record = records::record(collection, &mut rng, created_at, other_did, &other_rkey);
            state.rkeys.entry(collection).or_default().push(rkey.to_u64());
            RecordWrite::Create { collection: collection.nsid().into(), rkey: rkey.to_string(), record }
        }
        OpKind::Update => RecordWrite::Update {
            collection: Collection::Profile.nsid().into(),
            rkey: "self".into(),
            record: records::record(Collection::Profile, &mut rng, created_at, other_did, &other_rkey),
        },
        OpKind::Delete => RecordWrite::Delete { collection: collection.nsid().into(), rkey: deleted.expect("picked above") },
    };
    let rev = state.next_tid(at, clock_id);
    let commit = state.repo.prepare_commit(std::slice::from_ref(&write), rev.as_str()).map_err(|source| GenError::Repo { account, source })?;
    let records = match op {
        OpKind::Create => 1,
        OpKind::Delete => -1,
        OpKind::Update => 0,
    };
    let kind = EmittedKind::Commit { op, collection: if op == OpKind::Update { Collection::Profile } else { collection } };
    Ok(Step::Sign(UnsignedEvent { plan, account, kind, records, commit }))
}
