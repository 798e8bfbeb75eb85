//! Sonde's experiment runner: it starts the real binaries, drives them, measures them from
//! outside, and writes results that the cost model and the notebooks read.
//!
//! It is an orchestrator, not a server. Its parts:
//!
//! - [`defs`]: experiment definitions, TOML files in `experiments/defs/`, one per experiment,
//!   each with its workload and its scales (`tiny` for the tests, `quick`, `full`);
//! - [`harness`]: one run's working folder, the binaries, and the processes it started
//!   (through the `testbed` crate), all stopped when the run ends however it ends;
//! - [`collect`]: measuring a process from outside — CPU seconds and RSS from `/proc`, the
//!   counters on its `/metrics`, bytes on disk;
//! - [`proxy`]: a byte-counting forwarder for a service with no counters (the reference PDS);
//! - [`results`]: one `results/<experiment>/<run-id>.json` per run, in the workspace's
//!   result schema, marked failed when the run did not finish;
//! - [`suite`]: the experiments themselves, one module each;
//! - [`runner`]: `experiments run`, which runs them in turn and writes their results;
//! - [`cost`]: `experiments cost`, the monthly bill of each component from the results and
//!   the checked-in prices;
//! - [`report`]: `experiments report`, the tables, the validity check against published
//!   figures, and the figures.
//!
//! Adding an experiment is one definition file and one module in [`suite`].

pub mod collect;
pub mod cost;
pub mod defs;
pub mod harness;
pub mod proxy;
pub mod report;
pub mod results;
pub mod runner;
pub mod suite;
