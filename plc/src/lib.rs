//! Sonde's `did:plc` directory: the service, and the client side every other service uses.
//!
//! - [`client`]: [`PlcClient`], HTTP access to any PLC directory (plc.directory or ours).
//! - [`resolver`]: [`Resolver`], DID (`did:plc`, `did:web`) and handle resolution with an
//!   SSRF-guarded fetcher and a TTL cache.
//! - [`store`]: [`Directory`], validated operation logs on RocksDB.
//! - [`server`]: the plc.directory HTTP API over a [`Directory`] ([`ServerBuilder`],
//!   [`serve`]).
//! - [`export`]: the `/export` line shape.
//! - [`backups`]: `plc backup` (the export, read from a running directory) and `plc restore`
//!   (replayed into a fresh store, then the sequence jumps).
//!
//! The PLC rules themselves (ops, CIDs, signatures, recovery) live in `atproto::plc`.

pub mod backups;
pub mod client;
pub mod export;
pub mod resolver;
pub mod server;
pub mod store;

pub use client::{ClientError, PlcClient};
pub use export::ExportEntry;
pub use resolver::{ResolveError, Resolver, ResolverConfig};
pub use server::{serve, PlcServer, ServerBuilder};
pub use store::{DidStatus, Directory, StoreError, SubmitError};
