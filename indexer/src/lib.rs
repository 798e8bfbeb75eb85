//! Sonde's indexer: an AppView a co-op can afford. It consumes `subscribeRepos` from relays or
//! PDSes and answers `app.bsky` reads and Constellation-style backlinks.
//!
//! The pipeline, one module per stage, joined by bounded channels ([`ingest`]):
//! - [`consume`]: subscriptions, optional commit verification;
//! - [`backfill`]: whole repositories (`getRepo`), listed or after `#sync`;
//! - [`index`]: pure functions from a record to the facts kept about it;
//! - [`store`]: RocksDB, interned and compact (its module doc has the key table);
//! - [`search`]: Tantivy, fed from a queue the store keeps durable.
//!
//! Reads: [`api`] handlers parse requests and call [`query`], which owns every read of the
//! store and the search index and builds the lexicons' views.

pub mod api;
pub mod backfill;
pub mod consume;
pub mod index;
pub mod ingest;
pub mod query;
pub mod search;
pub mod serve;
pub mod stats;
pub mod store;
