//! Validating PLC logs: a canonical chain of ops, a new op against a directory's audit log
//! (with the 72-hour recovery rule), and replay of a whole `/log/audit` response.
//!
//! Recovery: an op may name as `prev` an earlier active op rather than the latest one, so
//! nullifying the active ops after it. That needs a rotation key of the fork point's state
//! strictly higher in priority (lower index) than the key that signed the first op being
//! nullified, and must arrive within 72 hours of that op.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::sign::{did_for_genesis, op_cid, signed_bytes, verify_op_signature};
use super::{PlcError, PlcState, SignedOp};
use crate::Cid;

pub const RECOVERY_WINDOW_HOURS: i64 = 72;

/// One entry of a directory's `/:did/log/audit` (also the legacy `/export` line shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub did: String,
    pub operation: SignedOp,
    pub cid: String,
    #[serde(default)]
    pub nullified: bool,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
}

impl LogEntry {
    /// A fresh (not nullified) entry, with the op's CID computed.
    pub fn new(did: &str, operation: SignedOp, created_at: DateTime<Utc>) -> Self {
        let cid = op_cid(&operation).to_string();
        LogEntry { did: did.into(), operation, cid, nullified: false, created_at }
    }
}

/// What accepting a new op does to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The new op's CID.
    pub cid: Cid,
    /// The op it follows (`None` for genesis).
    pub prev: Option<Cid>,
    /// Active ops it nullifies (a recovery), oldest first.
    pub nullified: Vec<Cid>,
}

fn parse_cid(s: &str) -> Result<Cid, PlcError> {
    crate::cid::parse(s).map_err(|_| PlcError::InvalidCid(s.into()))
}

fn misordered(why: &str) -> PlcError {
    PlcError::Misordered(why.into())
}

/// Checks a genesis op for `did` and returns the state it sets.
fn check_genesis(did: &str, op: &SignedOp) -> Result<PlcState, PlcError> {
    let state = op.state().ok_or(PlcError::GenesisTombstone)?;
    if op.prev().is_some() {
        return Err(PlcError::GenesisPrevNotNull);
    }
    let computed = did_for_genesis(op);
    if computed != did {
        return Err(PlcError::DidMismatch { did: did.into(), computed });
    }
    verify_op_signature(op, &state.rotation_keys)?;
    Ok(state)
}

/// Validates the canonical (non-nullified) chain of a DID's ops, genesis first. Returns the
/// current state, or `None` if the chain ends in a tombstone.
pub fn validate_chain(did: &str, ops: &[SignedOp]) -> Result<Option<PlcState>, PlcError> {
    let (first, rest) = ops.split_first().ok_or(PlcError::EmptyLog)?;
    let mut state = check_genesis(did, first)?;
    let mut prev = op_cid(first);
    for (i, op) in rest.iter().enumerate() {
        if matches!(op, SignedOp::LegacyCreate(_)) {
            return Err(PlcError::LegacyNotGenesis);
        }
        let op_prev = op.prev().ok_or_else(|| misordered("null prev after genesis"))?;
        if parse_cid(op_prev)? != prev {
            return Err(misordered("prev is not the CID of the previous op"));
        }
        verify_op_signature(op, &state.rotation_keys)?;
        match op.state() {
            Some(next) => state = next,
            None if i + 1 == rest.len() => return Ok(None),
            None => return Err(misordered("op after a tombstone")),
        }
        prev = op_cid(op);
    }
    Ok(Some(state))
}

/// [`validate_chain`] for callers that need a live DID: a tombstoned chain is
/// [`PlcError::Deactivated`].
pub fn validate_log(did: &str, ops: &[SignedOp]) -> Result<PlcState, PlcError> {
    validate_chain(did, ops)?.ok_or(PlcError::Deactivated)
}

/// An active op as the acceptance rule sees it.
struct Active<'a> {
    cid: Cid,
    op: &'a SignedOp,
    created_at: DateTime<Utc>,
}

/// The acceptance rule of the reference directory for `op` at time `now`, given the DID's
/// active ops in order. Returns the outcome and how many trailing active ops it nullifies.
fn next_op(did: &str, active: &[Active], op: &SignedOp, now: DateTime<Utc>) -> Result<(Accepted, usize), PlcError> {
    let cid = op_cid(op);
    let Some(latest) = active.last() else {
        check_genesis(did, op)?;
        return Ok((Accepted { cid, prev: None, nullified: vec![] }, 0));
    };
    if matches!(op, SignedOp::LegacyCreate(_)) {
        return Err(PlcError::LegacyNotGenesis);
    }
    let prev = parse_cid(op.prev().ok_or_else(|| misordered("null prev on an existing DID"))?)?;
    let fork = active.iter().position(|a| a.cid == prev).ok_or_else(|| misordered("prev is not an active op of this DID"))?;
    let keys = active[fork].op.state().ok_or_else(|| misordered("prev is a tombstone"))?.rotation_keys;
    let nullified = &active[fork + 1..];
    if let Some(first) = nullified.first() {
        // Only keys strictly above the one that signed the first disputed op may override it.
        let disputed = verify_op_signature(first.op, &keys)?;
        verify_op_signature(op, &keys[..disputed])?;
        if now <= latest.created_at {
            return Err(misordered("recovery not later than the latest op"));
        }
        let elapsed = now - first.created_at;
        if elapsed > TimeDelta::hours(RECOVERY_WINDOW_HOURS) {
            return Err(PlcError::LateRecovery { elapsed_secs: elapsed.num_seconds() });
        }
    } else {
        verify_op_signature(op, &keys)?;
    }
    let accepted = Accepted { cid, prev: Some(prev), nullified: nullified.iter().map(|a| a.cid).collect() };
    Ok((accepted, nullified.len()))
}

/// The directory's check of a submitted `op` for `did` at time `now`, against the DID's
/// audit log in `createdAt` order (nullified entries are ignored, as the directory does):
/// [`check_submission`], then the genesis, `prev`, signature and recovery rules. On success
/// the caller appends the op with `createdAt = now` and marks `nullified` entries.
pub fn validate_new_op(did: &str, log: &[LogEntry], op: &SignedOp, now: DateTime<Utc>) -> Result<Accepted, PlcError> {
    check_submission(op)?;
    let mut active = Vec::with_capacity(log.len());
    for e in log.iter().filter(|e| !e.nullified) {
        if e.did != did {
            return Err(PlcError::WrongDid { expected: did.into(), found: e.did.clone() });
        }
        active.push(Active { cid: parse_cid(&e.cid)?, op: &e.operation, created_at: e.created_at });
    }
    next_op(did, &active, op, now).map(|(accepted, _)| accepted)
}

/// Replays a complete audit log (nullified entries included, in `createdAt` order) through
/// the acceptance rule, checking each entry's CID and `nullified` flag. Returns the current
/// state, or `None` if the DID is tombstoned. Legacy `create` genesis ops are accepted here,
/// unlike in [`validate_new_op`], since old logs contain them.
pub fn validate_audit_log(did: &str, log: &[LogEntry]) -> Result<Option<PlcState>, PlcError> {
    if log.is_empty() {
        return Err(PlcError::EmptyLog);
    }
    let mut active: Vec<Active> = Vec::new();
    let mut nullified = vec![false; log.len()];
    let mut active_idx: Vec<usize> = Vec::new();
    for (i, e) in log.iter().enumerate() {
        if e.did != did {
            return Err(PlcError::WrongDid { expected: did.into(), found: e.did.clone() });
        }
        let cid = op_cid(&e.operation);
        if parse_cid(&e.cid)? != cid {
            return Err(PlcError::CidMismatch { claimed: e.cid.clone(), computed: cid.to_string() });
        }
        let (_, dropped) = next_op(did, &active, &e.operation, e.created_at)?;
        let keep = active.len() - dropped;
        active.truncate(keep);
        for j in active_idx.drain(keep..) {
            nullified[j] = true;
        }
        active.push(Active { cid, op: &e.operation, created_at: e.created_at });
        active_idx.push(i);
    }
    for (e, &computed) in log.iter().zip(&nullified) {
        if e.nullified != computed {
            return Err(PlcError::NullifiedMismatch { cid: e.cid.clone(), claimed: e.nullified, computed });
        }
    }
    Ok(active.last().and_then(|a| a.op.state()))
}

// Limits of the reference directory for submitted ops (its `constraints.ts`).
const MAX_OP_BYTES: usize = 4000;
const MAX_AKA_ENTRIES: usize = 10;
const MAX_AKA_LENGTH: usize = 258; // a 253-char handle plus `at://`
const MAX_ROTATION_ENTRIES: usize = 10;
const MAX_SERVICE_ENTRIES: usize = 10;
const MAX_SERVICE_TYPE_LENGTH: usize = 256;
const MAX_SERVICE_ENDPOINT_LENGTH: usize = 512;
const MAX_VERIFICATION_METHOD_ENTRIES: usize = 10;
const MAX_ID_LENGTH: usize = 32;
const MAX_DID_KEY_LENGTH: usize = 256;

/// The directory's shape and size limits on a submitted op. Legacy `create` ops are refused:
/// they are only readable history now.
pub fn check_submission(op: &SignedOp) -> Result<(), PlcError> {
    let refuse = |why: String| Err(PlcError::Constraint(why));
    let size = signed_bytes(op).len();
    if size > MAX_OP_BYTES {
        return refuse(format!("{size} bytes of DAG-CBOR (max {MAX_OP_BYTES})"));
    }
    let op = match op {
        SignedOp::Tombstone(_) => return Ok(()),
        SignedOp::LegacyCreate(_) => return refuse("legacy `create` ops are no longer accepted".into()),
        SignedOp::Operation(op) => op,
    };
    if op.also_known_as.len() > MAX_AKA_ENTRIES {
        return refuse(format!("more than {MAX_AKA_ENTRIES} alsoKnownAs entries"));
    }
    for (i, aka) in op.also_known_as.iter().enumerate() {
        if aka.len() > MAX_AKA_LENGTH {
            return refuse(format!("alsoKnownAs entry longer than {MAX_AKA_LENGTH}"));
        }
        if op.also_known_as[..i].contains(aka) {
            return refuse(format!("duplicate alsoKnownAs entry {aka}"));
        }
    }
    if op.rotation_keys.len() > MAX_ROTATION_ENTRIES {
        return refuse(format!("more than {MAX_ROTATION_ENTRIES} rotation keys"));
    }
    if let Some(k) = op.rotation_keys.iter().find(|k| crate::keys::PublicKey::from_did_key(k).is_err()) {
        return refuse(format!("invalid rotation key {k}"));
    }
    if op.services.len() > MAX_SERVICE_ENTRIES {
        return refuse(format!("more than {MAX_SERVICE_ENTRIES} services"));
    }
    for (id, s) in &op.services {
        if id.len() > MAX_ID_LENGTH || s.kind.len() > MAX_SERVICE_TYPE_LENGTH || s.endpoint.len() > MAX_SERVICE_ENDPOINT_LENGTH {
            return refuse(format!("service {id} has an over-long id, type or endpoint"));
        }
    }
    if op.verification_methods.len() > MAX_VERIFICATION_METHOD_ENTRIES {
        return refuse(format!("more than {MAX_VERIFICATION_METHOD_ENTRIES} verification methods"));
    }
    for (id, key) in &op.verification_methods {
        if id.len() > MAX_ID_LENGTH || key.len() > MAX_DID_KEY_LENGTH || !is_did_key_syntax(key) {
            return refuse(format!("verification method {id} is over-long or not a did:key"));
        }
    }
    Ok(())
}

/// Verification methods may use any key type, so only the `did:key:z<base58btc>` syntax is
/// checked.
fn is_did_key_syntax(key: &str) -> bool {
    key.strip_prefix("did:key:z").is_some_and(|b58| !b58.is_empty() && bs58::decode(b58).into_vec().is_ok())
}

/// `createdAt` as the directory writes it: RFC 3339 UTC with milliseconds.
mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(D::Error::custom)
    }
}
