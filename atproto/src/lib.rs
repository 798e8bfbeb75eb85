//! The AT Protocol's data formats, owned once for every Sonde service.
//!
//! - [`syntax`]: identifiers (DID, handle, NSID, AT-URI, record key, TID, datetime, language).
//! - [`cbor`], [`cid`], [`json`]: the data model in DAG-CBOR and JSON, and content identifiers.
//! - [`keys`]: k256/p256 key pairs, `did:key`, low-S signatures.
//! - [`lexicon`]: Lexicon schema documents and validation of record data against them.
//! - [`mst`], [`repo`], [`car`], [`blockstore`]: repositories: Merkle Search Tree, signed commits, CAR files.
//! - [`firehose`]: `com.atproto.sync.subscribeRepos` frames and commit verification.
//! - [`plc`], [`did_doc`]: `did:plc` operations and logs, DID documents (`did:plc`, `did:web`).
//! - [`xrpc`]: the XRPC error body and helpers.
//! - [`service_auth`]: the service-auth JWTs one service sends another for an account.

pub mod blockstore;
pub mod car;
pub mod cbor;
pub mod cid;
pub mod did_doc;
pub mod firehose;
pub mod fixtures;
pub mod json;
pub mod keys;
pub mod lexicon;
pub mod mst;
pub mod plc;
pub mod repo;
pub mod service_auth;
pub mod syntax;
pub mod xrpc;

pub use ::cid::Cid;
pub use ipld_core::ipld::Ipld;
