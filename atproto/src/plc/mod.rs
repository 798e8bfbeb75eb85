//! `did:plc`: signed operations, DID derivation, and validation of operation logs.
//!
//! This module owns the PLC data shapes and rules, not HTTP: callers fetch logs from (or
//! serve them as) a PLC directory and use these functions to build, check and apply them.
//!
//! - [`op`]: the operation types ([`SignedOp`] over [`Operation`], [`Tombstone`] and the
//!   read-only legacy [`LegacyCreate`]), their JSON/DAG-CBOR forms, and [`PlcState`] (the
//!   directory's `/data` shape).
//! - [`sign`]: signing bytes, signatures, CIDs, DID derivation, and builders for new ops.
//! - [`validate`]: whole-chain validation, the directory's acceptance rule for a new op
//!   (including the 72-hour recovery window), and replay of `/log/audit` logs.
//!
//! The reference is the `did:plc` specification and `did-method-plc`'s `lib` and `server`.

pub mod op;
pub mod sign;
pub mod validate;

pub use op::{LegacyCreate, Operation, PlcState, Service, SignedOp, Tombstone};
pub use sign::{decode_sig, did_for_genesis, genesis, op_cid, sign_op, signed_bytes, tombstone, unsigned_bytes, update, verify_op_signature};
pub use validate::{check_submission, validate_audit_log, validate_chain, validate_log, validate_new_op, Accepted, LogEntry, RECOVERY_WINDOW_HOURS};

/// Why an operation or log was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PlcError {
    #[error("empty operation log")]
    EmptyLog,
    #[error("genesis operation is a tombstone")]
    GenesisTombstone,
    #[error("genesis operation must have a null prev")]
    GenesisPrevNotNull,
    #[error("genesis operation hashes to {computed}, not {did}")]
    DidMismatch { did: String, computed: String },
    #[error("legacy `create` operations are only valid as the genesis operation")]
    LegacyNotGenesis,
    #[error("operations not correctly ordered: {0}")]
    Misordered(String),
    #[error("signature is not canonical unpadded base64url of 64 bytes: {0}")]
    SignatureEncoding(String),
    #[error("signature does not verify against any allowed rotation key")]
    InvalidSignature,
    #[error("recovery is {elapsed_secs}s after the first nullified operation (window: 72h)")]
    LateRecovery { elapsed_secs: i64 },
    #[error("the DID is deactivated (its log ends in a tombstone)")]
    Deactivated,
    #[error("invalid CID string {0:?}")]
    InvalidCid(String),
    #[error("log entry claims CID {claimed} but the operation hashes to {computed}")]
    CidMismatch { claimed: String, computed: String },
    #[error("log entry {cid} has nullified={claimed}, but replaying the log gives {computed}")]
    NullifiedMismatch { cid: String, claimed: bool, computed: bool },
    #[error("log entry is for {found}, expected {expected}")]
    WrongDid { expected: String, found: String },
    #[error("operation refused by the directory's limits: {0}")]
    Constraint(String),
}
