//! Sonde's relay: a non-archival Sync 1.1 relay. It crawls PDS hosts' `subscribeRepos`,
//! verifies every event ([`ingest`]), gives accepted events its own sequence numbers in a
//! durable RocksDB log ([`log`], [`store`]) and fans them out to any number of consumers as
//! `subscribeRepos` frames and Jetstream-style JSON ([`server`], [`jetstream`]).
//!
//! - [`config`]: retention, limits, testbed switches.
//! - [`relay`]: shared state, host admission and admin actions.
//! - [`upstream`]: one subscription task per host (cursor resume, backoff, rate limit).
//! - [`identity`]: DID resolution with a cache.
//! - [`backups`]: online backups, and restores that never reuse a sequence number.

pub mod backups;
pub mod config;
pub mod identity;
pub mod ingest;
pub mod jetstream;
pub mod log;
pub mod relay;
pub mod server;
pub mod store;
pub mod upstream;

pub use config::{Config, Limits};
pub use relay::Relay;
