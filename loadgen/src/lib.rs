//! Sonde's load generator, as a library so its tests drive the same code as the binary.
//!
//! - [`framefile`]: the `[u32 LE length][frame]` zstd file format of recordings and the corpus.
//! - [`subscribe`]: WebSocket stream URLs and connections.
//! - [`record`], [`replay`]: record any `subscribeRepos` stream; serve a recording as a host.
//! - [`compare`]: subscribe to several relays and compare what each delivered.
//! - [`consume`]: many subscribers to one stream, counting what each receives (relay fan-out load).
//! - [`world`]: a synthetic network of emulated PDS hosts; [`model`]: its traffic model.
//! - [`drive`]: the same traffic model as XRPC writes against any PDS.
//! - [`resolve`]: DID documents for verifying commits (files, a PLC directory, did:web).
//! - [`report`]: where each command writes its JSON result (the workspace's `result-schema`).

pub mod accounts_file;
pub mod compare;
pub mod consume;
pub mod drive;
pub mod framefile;
pub mod model;
pub mod read;
pub mod record;
pub mod replay;
pub mod report;
pub mod resolve;
pub mod subscribe;
pub mod util;
pub mod world;
