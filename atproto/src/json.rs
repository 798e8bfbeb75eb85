//! The JSON form of the AT Protocol data model (atproto.com/specs/data-model).
//!
//! Values are [`Ipld`]. In JSON, links are `{"$link": "<cid>"}` and bytes are
//! `{"$bytes": "<base64>"}` (standard alphabet; written without padding, read with or
//! without). [`from_json`] applies the data model's rules on the way in: integers only (a
//! float with no fractional part, such as `123.0`, counts as an integer), well-formed
//! `$link`/`$bytes` objects, a non-empty string `$type` wherever the key appears, and the
//! required fields of `$type: "blob"` objects.

use std::collections::BTreeMap;
use std::fmt;

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ipld_core::ipld::Ipld;
use serde_json::{Map, Number, Value};

use crate::cbor::MAX_DEPTH;

/// Where in the input a value broke the data model's rules, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataModelError {
    /// JSON Pointer (RFC 6901) to the offending value; empty for the top level.
    pub path: String,
    pub kind: DataModelErrorKind,
}

impl fmt::Display for DataModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "the top level" } else { &self.path };
        write!(f, "invalid data model value at {path}: {}", self.kind)
    }
}

impl std::error::Error for DataModelError {}

/// The rule a JSON value broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataModelErrorKind {
    #[error("a record must be a JSON object")]
    NotAnObject,
    #[error("number {0} is not an integer (floats are not part of the data model)")]
    NotInteger(String),
    #[error("integer {0} is outside the signed 64-bit range")]
    IntegerRange(String),
    #[error("invalid $link: {0}")]
    Link(String),
    #[error("invalid $bytes: {0}")]
    Bytes(String),
    #[error("$type must be a non-empty string")]
    Type,
    #[error("invalid blob: {0}")]
    Blob(&'static str),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Base64 decoding that accepts the standard alphabet with or without padding.
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// The JSON form of a value.
///
/// Values outside the AT Protocol data model are still rendered: floats as JSON numbers (or
/// `null` when not finite), integers beyond 64 bits as the nearest float.
pub fn to_json(value: &Ipld) -> Value {
    match value {
        Ipld::Null => Value::Null,
        Ipld::Bool(b) => Value::Bool(*b),
        Ipld::Integer(i) => {
            let n = i64::try_from(*i).map(Number::from).or_else(|_| u64::try_from(*i).map(Number::from)).ok().or_else(|| Number::from_f64(*i as f64));
            n.map_or(Value::Null, Value::Number)
        }
        Ipld::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Ipld::String(s) => Value::String(s.clone()),
        Ipld::Bytes(b) => single("$bytes", STANDARD_NO_PAD.encode(b)),
        Ipld::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Ipld::Map(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Ipld::Link(cid) => single("$link", cid.to_string()),
    }
}

fn single(key: &str, value: String) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), Value::String(value));
    Value::Object(map)
}

/// A data-model value from its JSON form, enforcing the data model's rules.
pub fn from_json(value: &Value) -> Result<Ipld, DataModelError> {
    let mut path = Vec::new();
    convert(value, &mut path).map_err(|kind| DataModelError { path: pointer(&path), kind })
}

/// A record from its JSON form: as [`from_json`], and the top level must be an object.
/// (`$type` is not required here; that is Lexicon's concern.)
pub fn record_from_json(value: &Value) -> Result<Ipld, DataModelError> {
    if !value.is_object() {
        return Err(DataModelError { path: String::new(), kind: DataModelErrorKind::NotAnObject });
    }
    from_json(value)
}

/// A step of the path to the value being converted, kept for error messages.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer(path: &[Step<'_>]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// Converts `value`; on error `path` is left pointing at the offending value.
fn convert<'a>(value: &'a Value, path: &mut Vec<Step<'a>>) -> Result<Ipld, DataModelErrorKind> {
    if path.len() > MAX_DEPTH {
        return Err(DataModelErrorKind::TooDeep);
    }
    Ok(match value {
        Value::Null => Ipld::Null,
        Value::Bool(b) => Ipld::Bool(*b),
        Value::Number(n) => Ipld::Integer(integer(n)?.into()),
        Value::String(s) => Ipld::String(s.clone()),
        Value::Array(items) => {
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                list.push(convert(item, path)?);
                path.pop();
            }
            Ipld::List(list)
        }
        Value::Object(map) => return object(map, path),
    })
}

fn integer(n: &Number) -> Result<i64, DataModelErrorKind> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(DataModelErrorKind::IntegerRange(n.to_string()));
    }
    let f = n.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0);
    let f = f.ok_or_else(|| DataModelErrorKind::NotInteger(n.to_string()))?;
    // 2^63 is exactly representable; every integral float below it in magnitude fits.
    if f >= -(2f64.powi(63)) && f < 2f64.powi(63) {
        Ok(f as i64)
    } else {
        Err(DataModelErrorKind::IntegerRange(n.to_string()))
    }
}

fn object<'a>(map: &'a Map<String, Value>, path: &mut Vec<Step<'a>>) -> Result<Ipld, DataModelErrorKind> {
    if let Some(link) = map.get("$link") {
        let err = |m: &str| DataModelErrorKind::Link(m.to_owned());
        if map.len() != 1 {
            return Err(err("a $link object may have no other keys"));
        }
        let s = link.as_str().ok_or_else(|| err("the value must be a string"))?;
        return crate::cid::parse(s).map(Ipld::Link).map_err(|e| err(&e.to_string()));
    }
    if let Some(bytes) = map.get("$bytes") {
        let err = |m: &str| DataModelErrorKind::Bytes(m.to_owned());
        if map.len() != 1 {
            return Err(err("a $bytes object may have no other keys"));
        }
        let s = bytes.as_str().ok_or_else(|| err("the value must be a string"))?;
        return BASE64_ANY_PADDING.decode(s).map(Ipld::Bytes).map_err(|e| err(&e.to_string()));
    }
    let mut out = BTreeMap::new();
    for (key, value) in map {
        path.push(Step::Key(key));
        out.insert(key.clone(), convert(value, path)?);
        path.pop();
    }
    match map.get("$type") {
        None => {}
        Some(Value::String(t)) if t == "blob" => check_blob(&out)?,
        Some(Value::String(t)) if !t.is_empty() => {}
        Some(_) => {
            path.push(Step::Key("$type"));
            return Err(DataModelErrorKind::Type);
        }
    }
    Ok(Ipld::Map(out))
}

fn check_blob(blob: &BTreeMap<String, Ipld>) -> Result<(), DataModelErrorKind> {
    let err = DataModelErrorKind::Blob;
    match blob.get("ref") {
        Some(Ipld::Link(_)) => {}
        Some(_) => return Err(err("ref must be a $link")),
        None => return Err(err("missing ref")),
    }
    match blob.get("mimeType") {
        Some(Ipld::String(_)) => {}
        Some(_) => return Err(err("mimeType must be a string")),
        None => return Err(err("missing mimeType")),
    }
    match blob.get("size") {
        Some(Ipld::Integer(_)) => Ok(()),
        Some(_) => Err(err("size must be an integer")),
        None => Err(err("missing size")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CID: &str = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity";

    fn kind(v: Value) -> DataModelErrorKind {
        from_json(&v).unwrap_err().kind
    }

    #[test]
    fn links_and_bytes_roundtrip() {
        let v = json!({"l": {"$link": CID}, "b": {"$bytes": "AAEC"}, "e": {"$bytes": ""}});
        let ipld = from_json(&v).unwrap();
        let Ipld::Map(m) = &ipld else { panic!() };
        assert_eq!(m["l"], Ipld::Link(crate::cid::parse(CID).unwrap()));
        assert_eq!(m["b"], Ipld::Bytes(vec![0, 1, 2]));
        assert_eq!(to_json(&ipld), v);
        // Padding is accepted on input and dropped on output.
        let padded = from_json(&json!({"$bytes": "AAE="})).unwrap();
        assert_eq!(padded, Ipld::Bytes(vec![0, 1]));
        assert_eq!(to_json(&padded), json!({"$bytes": "AAE"}));
    }

    #[test]
    fn numbers() {
        assert_eq!(from_json(&json!(123.0)).unwrap(), Ipld::Integer(123));
        assert_eq!(from_json(&json!(-0.0)).unwrap(), Ipld::Integer(0));
        assert_eq!(from_json(&json!(i64::MIN)).unwrap(), Ipld::Integer(i64::MIN as i128));
        assert_eq!(from_json(&json!(i64::MAX)).unwrap(), Ipld::Integer(i64::MAX as i128));
        assert!(matches!(kind(json!(0.5)), DataModelErrorKind::NotInteger(_)));
        assert!(matches!(kind(json!(u64::MAX)), DataModelErrorKind::IntegerRange(_)));
        assert!(matches!(kind(json!(1e19)), DataModelErrorKind::IntegerRange(_)));
        assert_eq!(to_json(&Ipld::Integer(-5)), json!(-5));
    }

    #[test]
    fn special_objects() {
        assert!(matches!(kind(json!({"$link": CID, "x": 1})), DataModelErrorKind::Link(_)));
        assert!(matches!(kind(json!({"$link": "bafy"})), DataModelErrorKind::Link(_)));
        assert!(matches!(kind(json!({"$bytes": "!!"})), DataModelErrorKind::Bytes(_)));
        assert!(matches!(kind(json!({"$bytes": null})), DataModelErrorKind::Bytes(_)));
        assert_eq!(kind(json!({"$type": ""})), DataModelErrorKind::Type);
        assert_eq!(kind(json!({"$type": ["a"]})), DataModelErrorKind::Type);
        // Other $-prefixed keys are ordinary keys.
        assert!(from_json(&json!({"$other": 1, "$type": "x.y.z"})).is_ok());
        let blob = json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 3});
        assert_eq!(to_json(&from_json(&blob).unwrap()), blob);
        let mut bad = blob.clone();
        bad["ref"] = json!(CID);
        assert_eq!(kind(bad), DataModelErrorKind::Blob("ref must be a $link"));
        let mut bad = blob.clone();
        bad["size"] = json!(1.5);
        assert!(matches!(kind(bad), DataModelErrorKind::NotInteger(_)));
        let mut bad = blob;
        bad.as_object_mut().unwrap().remove("mimeType");
        assert_eq!(kind(bad), DataModelErrorKind::Blob("missing mimeType"));
    }

    #[test]
    fn errors_name_the_path() {
        let err = from_json(&json!({"a": [1, {"b/c": 2.5}]})).unwrap_err();
        assert_eq!(err.path, "/a/1/b~1c");
        let err = from_json(&json!({"r": {"$type": 7}})).unwrap_err();
        assert_eq!(err.path, "/r/$type");
        assert!(err.to_string().contains("/r/$type"), "{err}");
        let err = record_from_json(&json!([1])).unwrap_err();
        assert_eq!((err.path.as_str(), err.kind), ("", DataModelErrorKind::NotAnObject));
    }

    #[test]
    fn depth_is_bounded() {
        let mut v = json!(1);
        for _ in 0..(MAX_DEPTH + 5) {
            v = json!([v]);
        }
        assert_eq!(kind(v), DataModelErrorKind::TooDeep);
    }
}
