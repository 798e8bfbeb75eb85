//! The typed model of a Lexicon schema document (atproto.com/specs/lexicon): a
//! [`LexiconDoc`] holds named [`Def`]s, which are primary types (record, query, procedure,
//! subscription, permission-set), tokens, or data schemas ([`Field`]).
//!
//! Only what validation and cataloguing use is kept: descriptions, defaults and the like are
//! checked for their JSON type when parsed ([`super::parse`]) and then dropped. References
//! are stored resolved ([`DefRef`]), so a `#local` reference no longer needs its document.

use std::collections::BTreeMap;

use super::formats::StringFormat;
use super::record_key::RecordKeyType;
use super::reference::DefRef;
use crate::syntax::Nsid;

/// One schema document: `{"lexicon": 1, "id": …, "defs": {…}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct LexiconDoc {
    /// The NSID the document defines.
    pub id: Nsid,
    /// The optional `revision` number.
    pub revision: Option<i64>,
    /// The optional `description`.
    pub description: Option<String>,
    /// The definitions by name; `main` is the one the NSID alone refers to.
    pub defs: BTreeMap<String, Def>,
}

impl LexiconDoc {
    /// The `main` definition, if any.
    pub fn main(&self) -> Option<&Def> {
        self.defs.get(super::reference::MAIN)
    }
}

/// A named definition.
#[derive(Clone, Debug, PartialEq)]
pub enum Def {
    /// A record type (only as `main`).
    Record(RecordDef),
    /// An XRPC query (only as `main`); it has no input.
    Query(XrpcDef),
    /// An XRPC procedure (only as `main`).
    Procedure(XrpcDef),
    /// An event stream (only as `main`).
    Subscription(SubscriptionDef),
    /// A bundle of OAuth permissions (only as `main`).
    PermissionSet(PermissionSetDef),
    /// A named value with no data, referred to by `knownValues` strings.
    Token,
    /// A data schema: object, array, or a concrete type.
    Field(Field),
}

impl Def {
    /// The schema `type` of this definition.
    pub fn type_name(&self) -> &'static str {
        match self {
            Def::Record(_) => "record",
            Def::Query(_) => "query",
            Def::Procedure(_) => "procedure",
            Def::Subscription(_) => "subscription",
            Def::PermissionSet(_) => "permission-set",
            Def::Token => "token",
            Def::Field(f) => f.type_name(),
        }
    }

    /// Every reference this definition makes, at any depth.
    pub fn refs(&self) -> Vec<&DefRef> {
        let mut out = Vec::new();
        let mut fields: Vec<&Field> = Vec::new();
        match self {
            Def::Record(r) => fields.extend(r.record.properties.values()),
            Def::Query(x) | Def::Procedure(x) => {
                if let Some(p) = &x.parameters {
                    fields.extend(p.properties.values());
                }
                fields.extend(x.input.iter().chain(&x.output).filter_map(|b| b.schema.as_ref()));
            }
            Def::Subscription(s) => {
                if let Some(p) = &s.parameters {
                    fields.extend(p.properties.values());
                }
                fields.extend(&s.message);
            }
            Def::PermissionSet(_) | Def::Token => {}
            Def::Field(f) => fields.push(f),
        }
        for f in fields {
            f.collect_refs(&mut out);
        }
        out
    }
}

/// A record type: the key it is stored under and the object schema of its data.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordDef {
    pub key: RecordKeyType,
    pub record: ObjectSchema,
}

/// A query or procedure.
#[derive(Clone, Debug, PartialEq)]
pub struct XrpcDef {
    /// The query-string parameters.
    pub parameters: Option<ObjectSchema>,
    /// The request body (procedures only).
    pub input: Option<Body>,
    /// The response body.
    pub output: Option<Body>,
    /// The names of the errors it declares.
    pub errors: Vec<String>,
}

/// An XRPC request or response body.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// The MIME type, e.g. `application/json` or `*/*`.
    pub encoding: String,
    /// The schema of a JSON body: an object, a ref or a union.
    pub schema: Option<Field>,
}

/// An event stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionDef {
    pub parameters: Option<ObjectSchema>,
    /// The schema of each message (usually a union).
    pub message: Option<Field>,
    pub errors: Vec<String>,
}

/// A permission set: a title and the permissions it grants.
#[derive(Clone, Debug, PartialEq)]
pub struct PermissionSetDef {
    pub title: Option<String>,
    pub detail: Option<String>,
    pub permissions: Vec<Permission>,
}

/// One permission of a set; its resource-specific fields are kept as given.
#[derive(Clone, Debug, PartialEq)]
pub struct Permission {
    /// What it applies to, e.g. `repo` or `rpc`.
    pub resource: String,
    /// The other fields (`collection`, `action`, `lxm`, `aud`, …).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A data schema: what a value at some place in a record (or body) must be.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Null,
    Boolean(BooleanSchema),
    Integer(IntegerSchema),
    String(StringSchema),
    Bytes(BytesSchema),
    CidLink,
    Blob(BlobSchema),
    Array(Box<ArraySchema>),
    Object(ObjectSchema),
    /// Whatever the referenced definition says.
    Ref(DefRef),
    Union(UnionSchema),
    /// Any object.
    Unknown,
}

impl Field {
    /// The schema `type` of this field.
    pub fn type_name(&self) -> &'static str {
        match self {
            Field::Null => "null",
            Field::Boolean(_) => "boolean",
            Field::Integer(_) => "integer",
            Field::String(_) => "string",
            Field::Bytes(_) => "bytes",
            Field::CidLink => "cid-link",
            Field::Blob(_) => "blob",
            Field::Array(_) => "array",
            Field::Object(_) => "object",
            Field::Ref(_) => "ref",
            Field::Union(_) => "union",
            Field::Unknown => "unknown",
        }
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a DefRef>) {
        match self {
            Field::Ref(r) => out.push(r),
            Field::Union(u) => out.extend(&u.refs),
            Field::Array(a) => a.items.collect_refs(out),
            Field::Object(o) => o.properties.values().for_each(|f| f.collect_refs(out)),
            _ => {}
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BooleanSchema {
    pub default: Option<bool>,
    pub const_value: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegerSchema {
    pub default: Option<i64>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub enum_values: Option<Vec<i64>>,
    pub const_value: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StringSchema {
    pub format: Option<StringFormat>,
    pub default: Option<String>,
    /// In UTF-8 bytes.
    pub min_length: Option<u64>,
    /// In UTF-8 bytes.
    pub max_length: Option<u64>,
    pub min_graphemes: Option<u64>,
    pub max_graphemes: Option<u64>,
    pub enum_values: Option<Vec<String>>,
    pub const_value: Option<String>,
    /// Suggested values; not enforced.
    pub known_values: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BytesSchema {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlobSchema {
    /// MIME types or patterns (`image/*`, `*/*`); `None` accepts any.
    pub accept: Option<Vec<String>>,
    /// In bytes.
    pub max_size: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArraySchema {
    pub items: Field,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
}

/// An object (or the `params` of an XRPC method, which has the same shape).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectSchema {
    /// Properties that must be present (each is among `properties`).
    pub required: Vec<String>,
    /// Properties that may be `null`.
    pub nullable: Vec<String>,
    /// The known properties; others are allowed and not checked.
    pub properties: BTreeMap<String, Field>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UnionSchema {
    pub refs: Vec<DefRef>,
    /// A closed union refuses a `$type` not among `refs`; an open one accepts it unchecked.
    pub closed: bool,
}
