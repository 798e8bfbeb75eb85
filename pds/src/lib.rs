//! Sonde's Personal Data Server: accounts, repositories, blobs and identity for a community,
//! published on `com.atproto.sync.subscribeRepos`.
//!
//! - [`config`]: the reference PDS's `PDS_*` settings.
//! - [`store`]: RocksDB column families, group commit, the firehose sequencer.
//! - [`repos`]: the per-repository write path (commits through `atproto::repo`).
//! - [`blob_gc`]: deleting blobs no record references.
//! - [`auth`]: JWT sessions, passwords, admin and service auth.
//! - [`api`]: the XRPC, WebSocket and well-known endpoints.
//! - [`lexicons`]: the Lexicon schemas records are validated against.
//! - [`mailer`]: outgoing email (SMTP, or an outbox directory).
//! - [`state`]: shared state and start-up ([`state::spawn`]).
//! - [`admin_cli`]: `pds admin …`, the operator CLI over the admin endpoints.
//! - [`backups`]: online backups and restores that never reuse a sequence number.

pub mod admin_cli;
pub mod api;
pub mod auth;
pub mod backups;
pub mod blob_gc;
pub mod config;
pub mod lexicons;
pub mod mailer;
pub mod repos;
pub mod state;
pub mod store;

pub use config::Config;
pub use state::{spawn, Server};
