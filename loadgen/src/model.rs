//! The production-shaped traffic model shared by `world` (emulated hosts) and `drive`
//! (writes against a PDS).
//!
//! The figures describe the Bluesky network's firehose as observed in 2025–2026:
//!
//! - **Who writes.** Authors follow a Zipf law over accounts with exponent ≈1.07 (a few very
//!   active accounts, a long tail); accounts sit on hosts whose sizes are themselves
//!   Zipf-skewed (a few big PDSes, many small ones).
//! - **When.** Arrivals are Poisson at a base rate, optionally modulated by a daily cycle
//!   (`rate × (1 + amplitude·sin(2πt/period))`) and multiplied during a surge window.
//! - **What.** Almost every commit carries one operation: ≈95.5% create, 3.9% delete,
//!   0.6% update. Created records are ≈71% likes, 12% posts, 10% reposts, 6% follows and 1%
//!   blocks and others (list items, threadgates). Deletes remove an earlier record of the
//!   author; updates rewrite the author's profile. A trickle of `#identity` (handle changes)
//!   and `#account` (status changes) events is mixed in.
//! - **How big.** Most of a commit frame is MST proof blocks, so frame size follows
//!   repository size; repositories start with a log-normal number of records (median set by
//!   `initial_records`), which puts frames near the real network's median of ≈5 KB.
//!
//! Every random choice comes from a ChaCha8 generator seeded by the workload's seed, so a
//! workload and seed give the same event sequence on every run.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Relative weights of the operation kinds of a commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpMix {
    pub create: f64,
    pub delete: f64,
    pub update: f64,
}

impl Default for OpMix {
    fn default() -> Self {
        OpMix { create: 95.5, delete: 3.9, update: 0.6 }
    }
}

/// Relative weights of the collections of created (and deleted) records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectionMix {
    pub like: f64,
    pub post: f64,
    pub repost: f64,
    pub follow: f64,
    pub block: f64,
    pub other: f64,
}

impl Default for CollectionMix {
    fn default() -> Self {
        CollectionMix { like: 71.0, post: 12.0, repost: 10.0, follow: 6.0, block: 0.5, other: 0.5 }
    }
}

/// A temporary rate multiplier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Surge {
    pub multiplier: f64,
    /// Seconds after the start of the run.
    pub start_s: f64,
    pub length_s: f64,
}

/// Everything that shapes the traffic. Deserialises from a TOML workload file; every field
/// has a default, and the CLI's flags override the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficModel {
    /// Zipf exponent of authors over accounts.
    pub author_zipf: f64,
    /// Zipf exponent of accounts over hosts.
    pub host_zipf: f64,
    /// Fraction of accounts with p256 signing keys (the rest are k256).
    pub p256_fraction: f64,
    /// Median number of records an account's repository starts with.
    pub initial_records: u32,
    /// Spread (σ of the log) of the starting repository size.
    pub initial_records_sigma: f64,
    /// Cap on the starting repository size.
    pub max_initial_records: u32,
    pub ops: OpMix,
    pub collections: CollectionMix,
    /// `#identity` events per 10,000 events.
    pub identity_per_10k: f64,
    /// `#account` events per 10,000 events.
    pub account_per_10k: f64,
    /// Amplitude of the daily cycle (0 = flat, 0.5 = ±50%).
    pub daily_amplitude: f64,
    /// Period of the daily cycle in seconds.
    pub daily_period_s: f64,
    pub surge: Option<Surge>,
}

impl Default for TrafficModel {
    fn default() -> Self {
        TrafficModel {
            author_zipf: 1.07,
            host_zipf: 1.0,
            p256_fraction: 0.05,
            initial_records: 1_500,
            initial_records_sigma: 1.0,
            max_initial_records: 20_000,
            ops: OpMix::default(),
            collections: CollectionMix::default(),
            identity_per_10k: 8.0,
            account_per_10k: 2.0,
            daily_amplitude: 0.0,
            daily_period_s: 86_400.0,
            surge: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("{0} must be a finite non-negative number with a positive total")]
    Weights(&'static str),
    #[error("{0} is out of range: {1}")]
    Range(&'static str, String),
}

impl TrafficModel {
    pub fn validate(&self) -> Result<(), ModelError> {
        let ok = |w: &[f64]| w.iter().all(|x| x.is_finite() && *x >= 0.0) && w.iter().sum::<f64>() > 0.0;
        if !ok(&[self.ops.create, self.ops.delete, self.ops.update]) {
            return Err(ModelError::Weights("ops"));
        }
        let c = &self.collections;
        if !ok(&[c.like, c.post, c.repost, c.follow, c.block, c.other]) {
            return Err(ModelError::Weights("collections"));
        }
        if !(self.author_zipf.is_finite() && self.author_zipf >= 0.0) {
            return Err(ModelError::Range("author_zipf", self.author_zipf.to_string()));
        }
        if !(self.host_zipf.is_finite() && self.host_zipf >= 0.0) {
            return Err(ModelError::Range("host_zipf", self.host_zipf.to_string()));
        }
        if !(0.0..=1.0).contains(&self.p256_fraction) {
            return Err(ModelError::Range("p256_fraction", self.p256_fraction.to_string()));
        }
        if !(0.0..=1.0).contains(&self.daily_amplitude) || self.daily_period_s <= 0.0 {
            return Err(ModelError::Range("daily cycle", format!("{} over {}s", self.daily_amplitude, self.daily_period_s)));
        }
        if self.identity_per_10k < 0.0 || self.account_per_10k < 0.0 || self.identity_per_10k + self.account_per_10k > 10_000.0 {
            return Err(ModelError::Range("identity/account rates", format!("{} + {}", self.identity_per_10k, self.account_per_10k)));
        }
        if let Some(s) = &self.surge {
            if !(s.multiplier.is_finite() && s.multiplier > 0.0 && s.start_s >= 0.0 && s.length_s >= 0.0) {
                return Err(ModelError::Range("surge", format!("{s:?}")));
            }
        }
        Ok(())
    }

    /// The arrival rate multiplier at `t` seconds into the run (daily cycle × surge).
    pub fn rate_factor(&self, t: f64) -> f64 {
        let daily = 1.0 + self.daily_amplitude * (std::f64::consts::TAU * t / self.daily_period_s).sin();
        let surge = match &self.surge {
            Some(s) if t >= s.start_s && t < s.start_s + s.length_s => s.multiplier,
            _ => 1.0,
        };
        (daily * surge).max(0.0)
    }
}

/// Sampling ranks `0..n` with probability ∝ `1/(rank+1)^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        assert!(n > 0, "Zipf over an empty set");
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                total += (k as f64).powf(-s);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }

    /// The probability of `rank`.
    pub fn p(&self, rank: usize) -> f64 {
        self.cdf[rank] - if rank == 0 { 0.0 } else { self.cdf[rank - 1] }
    }
}

/// A categorical distribution over `N` outcomes.
#[derive(Debug, Clone)]
struct Weighted<const N: usize> {
    cdf: [f64; N],
}

impl<const N: usize> Weighted<N> {
    fn new(weights: [f64; N]) -> Self {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights.map(|w| {
            acc += w / total;
            acc
        });
        Weighted { cdf }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.iter().position(|&c| u < c).unwrap_or(N - 1)
    }
}

/// The record collections the model writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Collection {
    Like,
    Post,
    Repost,
    Follow,
    Block,
    ListItem,
    Profile,
}

impl Collection {
    pub const CREATED: [Collection; 6] = [Collection::Like, Collection::Post, Collection::Repost, Collection::Follow, Collection::Block, Collection::ListItem];

    pub fn nsid(self) -> &'static str {
        match self {
            Collection::Like => "app.bsky.feed.like",
            Collection::Post => "app.bsky.feed.post",
            Collection::Repost => "app.bsky.feed.repost",
            Collection::Follow => "app.bsky.graph.follow",
            Collection::Block => "app.bsky.graph.block",
            Collection::ListItem => "app.bsky.graph.listitem",
            Collection::Profile => "app.bsky.actor.profile",
        }
    }

    /// The mix category (`like`, `post`, … `other`) of a collection NSID.
    pub fn category(nsid: &str) -> &'static str {
        match nsid {
            "app.bsky.feed.like" => "like",
            "app.bsky.feed.post" => "post",
            "app.bsky.feed.repost" => "repost",
            "app.bsky.graph.follow" => "follow",
            "app.bsky.graph.block" => "block",
            _ => "other",
        }
    }
}

/// What the next event is, before any repository is touched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Draw {
    /// A commit by `account` (an index), of this kind.
    Commit {
        account: usize,
        op: OpKind,
        collection: Collection,
    },
    Identity {
        account: usize,
    },
    Account {
        account: usize,
    },
}

impl Draw {
    /// The account the event is about.
    pub fn account(&self) -> usize {
        match *self {
            Draw::Commit { account, .. } | Draw::Identity { account } | Draw::Account { account } => account,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Create,
    Delete,
    Update,
}

/// Draws events from the model: who, what, and when.
pub struct Sampler {
    model: TrafficModel,
    authors: Zipf,
    /// Rank → account index, a seeded shuffle so the busiest authors are spread over hosts.
    rank_to_account: Vec<usize>,
    ops: Weighted<3>,
    collections: Weighted<6>,
    rng: ChaCha8Rng,
}

impl Sampler {
    pub fn new(model: &TrafficModel, accounts: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a4d_706c_6572);
        let mut rank_to_account: Vec<usize> = (0..accounts).collect();
        rand::seq::SliceRandom::shuffle(rank_to_account.as_mut_slice(), &mut rng);
        let o = &model.ops;
        let c = &model.collections;
        Sampler {
            model: model.clone(),
            authors: Zipf::new(accounts, model.author_zipf),
            rank_to_account,
            ops: Weighted::new([o.create, o.delete, o.update]),
            collections: Weighted::new([c.like, c.post, c.repost, c.follow, c.block, c.other]),
            rng,
        }
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    pub fn author(&mut self) -> usize {
        self.rank_to_account[self.authors.sample(&mut self.rng)]
    }

    pub fn collection(&mut self) -> Collection {
        Collection::CREATED[self.collections.sample(&mut self.rng)]
    }

    pub fn draw(&mut self) -> Draw {
        let u: f64 = self.rng.gen::<f64>() * 10_000.0;
        let account = self.author();
        if u < self.model.identity_per_10k {
            return Draw::Identity { account };
        }
        if u < self.model.identity_per_10k + self.model.account_per_10k {
            return Draw::Account { account };
        }
        let op = [OpKind::Create, OpKind::Delete, OpKind::Update][self.ops.sample(&mut self.rng)];
        let collection = if op == OpKind::Update { Collection::Profile } else { self.collection() };
        Draw::Commit { account, op, collection }
    }

    /// Seconds until the next arrival at base `rate` per second, at time `t` into the run.
    pub fn interarrival(&mut self, rate: f64, t: f64) -> f64 {
        let lambda = rate * self.model.rate_factor(t);
        if lambda <= 0.0 {
            return f64::INFINITY;
        }
        let u: f64 = self.rng.gen::<f64>();
        -(1.0 - u).ln() / lambda
    }
}

/// Assigns `accounts` to `hosts` with Zipf-skewed host sizes (every host gets at least one
/// account when there are enough). Returns each account's host index.
pub fn assign_hosts(accounts: usize, hosts: usize, s: f64, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x686f_7374);
    let zipf = Zipf::new(hosts, s);
    (0..accounts).map(|i| if i < hosts { i } else { zipf.sample(&mut rng) }).collect()
}

/// Starting repository sizes: log-normal around the median, capped.
pub fn initial_sizes(model: &TrafficModel, accounts: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7369_7a65);
    (0..accounts)
        .map(|_| {
            // Box–Muller for a standard normal.
            let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(1e-12), rng.gen());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let n = (model.initial_records as f64) * (model.initial_records_sigma * z).exp();
            (n.round() as u32).clamp(1, model.max_initial_records.max(1))
        })
        .collect()
}

/// Observed shares, in percent, of a tally of categories.
pub fn shares(counts: &BTreeMap<String, u64>) -> BTreeMap<String, f64> {
    let total: u64 = counts.values().sum();
    counts.iter().map(|(k, v)| (k.clone(), 100.0 * *v as f64 / total.max(1) as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_matches_its_law() {
        let z = Zipf::new(1000, 1.07);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..200_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        for rank in [0, 1, 9] {
            let observed = counts[rank] as f64 / 200_000.0;
            assert!((observed - z.p(rank)).abs() < 0.01, "rank {rank}: {observed} vs {}", z.p(rank));
        }
        assert!(counts[0] > counts[9] * 8);
    }

    #[test]
    fn draws_follow_the_mix_and_are_deterministic() {
        let model = TrafficModel::default();
        let mut a = Sampler::new(&model, 5000, 7);
        let mut b = Sampler::new(&model, 5000, 7);
        let mut ops = BTreeMap::new();
        let mut cols = BTreeMap::new();
        for _ in 0..100_000 {
            let d = a.draw();
            assert_eq!(d, b.draw());
            if let Draw::Commit { op, collection, .. } = d {
                *ops.entry(format!("{op:?}")).or_insert(0) += 1;
                if op == OpKind::Create {
                    *cols.entry(Collection::category(collection.nsid()).to_string()).or_insert(0) += 1;
                }
            }
        }
        let ops = shares(&ops);
        assert!((ops["Create"] - 95.5).abs() < 1.0 && (ops["Delete"] - 3.9).abs() < 1.0 && (ops["Update"] - 0.6).abs() < 1.0, "{ops:?}");
        let cols = shares(&cols);
        for (k, want) in [("like", 71.0), ("post", 12.0), ("repost", 10.0), ("follow", 6.0)] {
            assert!((cols[k] - want).abs() < 1.0, "{k}: {cols:?}");
        }
        assert_ne!(Sampler::new(&model, 5000, 8).draw(), Sampler::new(&model, 5000, 7).draw());
    }

    #[test]
    fn rate_follows_cycle_and_surge() {
        let model = TrafficModel {
            daily_amplitude: 0.5,
            daily_period_s: 100.0,
            surge: Some(Surge { multiplier: 10.0, start_s: 50.0, length_s: 10.0 }),
            ..TrafficModel::default()
        };
        assert!((model.rate_factor(25.0) - 1.5).abs() < 1e-9);
        assert!((model.rate_factor(75.0) - 0.5).abs() < 1e-9);
        assert!((model.rate_factor(55.0) - 10.0 * model.rate_factor(55.0) / 10.0).abs() < 1e-9 && model.rate_factor(55.0) > 5.0);
        let mut s = Sampler::new(&TrafficModel::default(), 10, 1);
        let mean: f64 = (0..20_000).map(|_| s.interarrival(100.0, 0.0)).sum::<f64>() / 20_000.0;
        assert!((mean - 0.01).abs() < 0.0005, "{mean}");
    }

    #[test]
    fn validation_refuses_nonsense() {
        assert!(TrafficModel::default().validate().is_ok());
        let bad = TrafficModel { ops: OpMix { create: 0.0, delete: 0.0, update: 0.0 }, ..Default::default() };
        assert_eq!(bad.validate(), Err(ModelError::Weights("ops")));
        assert!(TrafficModel { p256_fraction: 2.0, ..Default::default() }.validate().is_err());
        let parsed: TrafficModel = toml::from_str("author_zipf = 1.2\n[ops]\ncreate = 90.0\n").unwrap();
        assert_eq!(parsed.author_zipf, 1.2);
        assert_eq!(parsed.ops.delete, 3.9);
        assert!(toml::from_str::<TrafficModel>("nonsense = 1").is_err());
    }

    #[test]
    fn hosts_are_skewed_and_sizes_lognormal() {
        let hosts = assign_hosts(10_000, 20, 1.0, 3);
        let mut counts = [0; 20];
        for h in hosts {
            counts[h] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0));
        assert!(counts[0] > 5 * counts[19]);
        let mut sizes = initial_sizes(&TrafficModel::default(), 2001, 3);
        sizes.sort();
        assert!((1000..2200).contains(&sizes[1000]), "median {}", sizes[1000]);
    }
}
