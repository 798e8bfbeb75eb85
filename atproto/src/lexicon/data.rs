//! Recognising the data model's special values in their JSON form (atproto.com/specs/data-model),
//! as validation meets them: integers (an integral float such as `3.0` counts, as in
//! [`crate::json`]), `{"$bytes": …}`, `{"$link": …}`, and blobs (`$type: "blob"`).
//!
//! Bytes are decoded leniently (padding optional, stray trailing bits ignored), as the
//! reference implementation decodes them; the strict data-model conversion is
//! [`crate::json::from_json`].

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::{Map, Value};

use crate::Cid;

const BASE64_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent).with_decode_allow_trailing_bits(true));

/// The value as a 64-bit integer, if it is one (an integral float within range counts).
pub(crate) fn integer(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return None;
    }
    let f = n.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0)?;
    // Every integral float in [-2^63, 2^63) converts exactly.
    (f >= -(2f64.powi(63)) && f < 2f64.powi(63)).then_some(f as i64)
}

/// Which special data-model value a JSON object encodes, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    Bytes,
    Link,
    Blob,
}

impl Special {
    pub(crate) fn of(m: &Map<String, Value>) -> Option<Special> {
        if m.contains_key("$bytes") {
            Some(Special::Bytes)
        } else if m.contains_key("$link") {
            Some(Special::Link)
        } else if m.get("$type").and_then(Value::as_str) == Some("blob") {
            Some(Special::Blob)
        } else {
            None
        }
    }
}

/// The bytes of `{"$bytes": "<base64>"}` (no other keys).
pub(crate) fn bytes(v: &Value) -> Result<Vec<u8>, &'static str> {
    let s = only_key(v, "$bytes").ok_or("must be bytes ({\"$bytes\": \"<base64>\"})")?;
    BASE64_LENIENT.decode(s).map_err(|_| "must be bytes: $bytes is not valid base64")
}

/// The CID of `{"$link": "<cid>"}` (no other keys).
pub(crate) fn link(v: &Value) -> Result<Cid, &'static str> {
    let s = only_key(v, "$link").ok_or("must be a CID link ({\"$link\": \"<cid>\"})")?;
    crate::cid::parse(s).map_err(|_| "must be a CID link: $link is not a valid CID")
}

/// The string value of an object whose only key is `key`.
fn only_key<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    m.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CID: &str = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";

    #[test]
    fn integers() {
        assert_eq!(integer(&json!(5)), Some(5));
        assert_eq!(integer(&json!(5.0)), Some(5));
        assert_eq!(integer(&json!(5.5)), None);
        assert_eq!(integer(&json!(u64::MAX)), None);
        assert_eq!(integer(&json!(1e300)), None);
        assert_eq!(integer(&json!("5")), None);
    }

    #[test]
    fn bytes_and_links() {
        assert_eq!(bytes(&json!({"$bytes": "b25l"})).unwrap(), b"one");
        assert_eq!(bytes(&json!({"$bytes": "b25lIA=="})).unwrap(), b"one ");
        // Trailing bits are tolerated, as the reference does.
        assert_eq!(bytes(&json!({"$bytes": "123"})).unwrap().len(), 2);
        assert!(bytes(&json!({"$bytes": "!!"})).is_err());
        assert!(bytes(&json!({"bytes": "b25l"})).is_err());
        assert!(bytes(&json!({"$bytes": "b25l", "x": 1})).is_err());
        assert!(bytes(&json!("b25l")).is_err());
        assert!(link(&json!({"$link": CID})).is_ok());
        assert!(link(&json!({"$link": "green"})).is_err());
        assert!(link(&json!(CID)).is_err());
        assert_eq!(Special::of(json!({"$type": "blob"}).as_object().unwrap()), Some(Special::Blob));
        assert_eq!(Special::of(json!({"$type": "x.y.z"}).as_object().unwrap()), None);
    }
}
