//! PLC operation types with the exact field names of the PLC directory, and [`PlcState`].
//!
//! Parsing is strict (unknown fields are refused, `prev` must be present) because a field we
//! dropped would change the op's bytes, hence its CID and the signed payload. Maps are
//! `BTreeMap`s: DAG-CBOR sorts keys anyway, and JSON key order carries no meaning here.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::did_doc::DidDocument;

/// A service entry of an operation: `{type, endpoint}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: String,
}

/// A `plc_operation`: the complete new state of the DID, plus `prev` and `sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// `did:key`s in descending order of authority.
    pub rotation_keys: Vec<String>,
    /// Name (no `#`) → `did:key`.
    pub verification_methods: BTreeMap<String, String>,
    pub also_known_as: Vec<String>,
    /// Name (no `#`) → service.
    pub services: BTreeMap<String, Service>,
    /// CID string of the previous op; `null` (present, not omitted) for genesis.
    #[serde(deserialize_with = "required_nullable")]
    pub prev: Option<String>,
    /// base64url (unpadded) signature over the op's DAG-CBOR without `sig`.
    pub sig: String,
}

/// A `plc_tombstone`: deactivates the DID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    pub prev: String,
    pub sig: String,
}

/// The deprecated `create` genesis format. Still found in old logs (and DIDs are derived from
/// its bytes), so it is read and verified but never produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacyCreate {
    pub signing_key: String,
    pub recovery_key: String,
    /// Bare handle, no `at://`.
    pub handle: String,
    /// PDS URL.
    pub service: String,
    #[serde(deserialize_with = "required_nullable")]
    pub prev: Option<String>,
    pub sig: String,
}

/// Any operation found in a PLC log, tagged by its `type` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SignedOp {
    #[serde(rename = "plc_operation")]
    Operation(Operation),
    #[serde(rename = "plc_tombstone")]
    Tombstone(Tombstone),
    #[serde(rename = "create")]
    LegacyCreate(LegacyCreate),
}

/// The state a DID's latest operation sets: the directory's `/:did/data` shape (without `did`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlcState {
    pub rotation_keys: Vec<String>,
    pub verification_methods: BTreeMap<String, String>,
    pub also_known_as: Vec<String>,
    pub services: BTreeMap<String, Service>,
}

/// `Option` fields are optional to serde by default; PLC requires `prev` to be present.
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::deserialize(d)
}

pub(crate) const ATPROTO_KEY: &str = "atproto";
pub(crate) const ATPROTO_PDS: &str = "atproto_pds";
pub(crate) const PDS_TYPE: &str = "AtprotoPersonalDataServer";

impl PlcState {
    /// The usual atproto state: one signing key, one handle, one PDS.
    pub fn atproto(rotation_keys: Vec<String>, signing_did_key: &str, handle: &str, pds: &str) -> Self {
        PlcState {
            rotation_keys,
            verification_methods: BTreeMap::from([(ATPROTO_KEY.into(), signing_did_key.into())]),
            also_known_as: vec![ensure_at_prefix(handle)],
            services: BTreeMap::from([(ATPROTO_PDS.into(), Service { kind: PDS_TYPE.into(), endpoint: ensure_http_prefix(pds) })]),
        }
    }

    /// The `atproto` verification method's `did:key`.
    pub fn signing_key(&self) -> Option<&str> {
        self.verification_methods.get(ATPROTO_KEY).map(String::as_str)
    }

    /// The first `at://` alias, without the prefix.
    pub fn handle(&self) -> Option<&str> {
        self.also_known_as.iter().find_map(|a| a.strip_prefix("at://"))
    }

    /// The `atproto_pds` service endpoint.
    pub fn pds_endpoint(&self) -> Option<&str> {
        self.services.get(ATPROTO_PDS).map(|s| s.endpoint.as_str())
    }

    /// Replaces (or prepends) the `at://` alias, keeping other aliases in place.
    pub fn set_handle(&mut self, handle: &str) {
        let aka = ensure_at_prefix(handle);
        match self.also_known_as.iter().position(|a| a.starts_with("at://")) {
            Some(i) => self.also_known_as[i] = aka,
            None => self.also_known_as.insert(0, aka),
        }
    }

    /// Sets the `atproto_pds` service.
    pub fn set_pds_endpoint(&mut self, pds: &str) {
        let service = Service { kind: PDS_TYPE.into(), endpoint: ensure_http_prefix(pds) };
        self.services.insert(ATPROTO_PDS.into(), service);
    }

    /// Renders the DID document the PLC directory serves for this state.
    pub fn to_did_document(&self, did: &str) -> DidDocument {
        DidDocument::from_plc_state(did, self)
    }
}

impl Operation {
    pub fn state(&self) -> PlcState {
        PlcState {
            rotation_keys: self.rotation_keys.clone(),
            verification_methods: self.verification_methods.clone(),
            also_known_as: self.also_known_as.clone(),
            services: self.services.clone(),
        }
    }
}

impl LegacyCreate {
    /// The modern equivalent. Note the recovery key outranks the signing key; the signature
    /// stays the legacy one, valid only over the legacy bytes.
    pub fn normalize(&self) -> Operation {
        Operation {
            rotation_keys: vec![self.recovery_key.clone(), self.signing_key.clone()],
            verification_methods: BTreeMap::from([(ATPROTO_KEY.into(), self.signing_key.clone())]),
            also_known_as: vec![ensure_at_prefix(&self.handle)],
            services: BTreeMap::from([(ATPROTO_PDS.into(), Service { kind: PDS_TYPE.into(), endpoint: ensure_http_prefix(&self.service) })]),
            prev: self.prev.clone(),
            sig: self.sig.clone(),
        }
    }
}

impl SignedOp {
    /// The `type` field's value.
    pub fn kind(&self) -> &'static str {
        match self {
            SignedOp::Operation(_) => "plc_operation",
            SignedOp::Tombstone(_) => "plc_tombstone",
            SignedOp::LegacyCreate(_) => "create",
        }
    }

    pub fn prev(&self) -> Option<&str> {
        match self {
            SignedOp::Operation(op) => op.prev.as_deref(),
            SignedOp::Tombstone(t) => Some(&t.prev),
            SignedOp::LegacyCreate(c) => c.prev.as_deref(),
        }
    }

    pub fn sig(&self) -> &str {
        match self {
            SignedOp::Operation(op) => &op.sig,
            SignedOp::Tombstone(t) => &t.sig,
            SignedOp::LegacyCreate(c) => &c.sig,
        }
    }

    pub fn is_tombstone(&self) -> bool {
        matches!(self, SignedOp::Tombstone(_))
    }

    /// Legacy `create` ops mapped to the modern shape; others unchanged. Only for reading
    /// state: the CID and signature of an op are always computed on its original form.
    pub fn normalize(&self) -> SignedOp {
        match self {
            SignedOp::LegacyCreate(c) => SignedOp::Operation(c.normalize()),
            other => other.clone(),
        }
    }

    /// The state this op sets, or `None` for a tombstone.
    pub fn state(&self) -> Option<PlcState> {
        match self {
            SignedOp::Operation(op) => Some(op.state()),
            SignedOp::LegacyCreate(c) => Some(c.normalize().state()),
            SignedOp::Tombstone(_) => None,
        }
    }
}

/// `at://` + handle, stripping a URL scheme if one was given (as the reference does).
pub(crate) fn ensure_at_prefix(handle: &str) -> String {
    if handle.starts_with("at://") {
        return handle.to_string();
    }
    let bare = handle.replacen("http://", "", 1).replacen("https://", "", 1);
    format!("at://{bare}")
}

/// Adds `https://` unless the endpoint already has an http(s) scheme.
pub(crate) fn ensure_http_prefix(endpoint: &str) -> String {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    }
}
