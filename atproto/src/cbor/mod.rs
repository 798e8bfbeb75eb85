//! DAG-CBOR, the canonical binary form of the AT Protocol data model.
//!
//! Encoding and the strict decoding rules of DAG-CBOR (sorted keys, minimal heads, definite
//! lengths, no duplicate keys, tag 42 only, no trailing bytes) come from `serde_ipld_dagcbor`.
//! This module adds what the AT Protocol forbids on top: floats and integers outside the
//! signed 64-bit range.

pub(crate) mod write;

use ipld_core::ipld::Ipld;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Maximum nesting of maps and arrays accepted in a decoded value.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CborError {
    #[error("invalid DAG-CBOR: {0}")]
    Invalid(String),
    #[error("floats are not part of the AT Protocol data model")]
    Float,
    #[error("integer outside the signed 64-bit range")]
    IntegerRange,
    #[error("value nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("could not encode DAG-CBOR: {0}")]
    Encode(String),
}

/// Encodes a value as canonical DAG-CBOR.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CborError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CborError::Encode(e.to_string()))
}

/// Encodes a value in canonical DAG-CBOR at the end of `out` (to build a larger buffer
/// without an intermediate one).
pub fn encode_into<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), CborError> {
    serde_ipld_dagcbor::to_writer(out, value).map_err(|e| CborError::Encode(e.to_string()))
}

/// Decodes one canonical DAG-CBOR value into a typed structure; trailing bytes are an error.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CborError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CborError::Invalid(e.to_string()))
}

/// Decodes an owned value (for callers that cannot borrow from the input).
pub fn decode_owned<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    decode(bytes)
}

/// Decodes a generic data-model value, enforcing the AT Protocol's restrictions.
pub fn decode_value(bytes: &[u8]) -> Result<Ipld, CborError> {
    // Depth first: the generic decoder recurses, so bound it before it runs.
    check_depth(bytes)?;
    let value: Ipld = decode(bytes)?;
    check_data_model(&value, 0)?;
    Ok(value)
}

/// Rejects values the AT Protocol data model does not allow (floats, oversized integers).
pub fn check_data_model(value: &Ipld, depth: usize) -> Result<(), CborError> {
    if depth > MAX_DEPTH {
        return Err(CborError::TooDeep);
    }
    match value {
        Ipld::Float(_) => Err(CborError::Float),
        Ipld::Integer(i) if i64::try_from(*i).is_err() => Err(CborError::IntegerRange),
        Ipld::List(items) => items.iter().try_for_each(|v| check_data_model(v, depth + 1)),
        Ipld::Map(map) => map.values().try_for_each(|v| check_data_model(v, depth + 1)),
        _ => Ok(()),
    }
}

/// The length in bytes of the first CBOR item in `bytes` (header only scan, no allocation).
///
/// Used to split a firehose frame into its header and body, and to bound nesting before the
/// recursive decoder sees untrusted input.
pub fn item_len(bytes: &[u8]) -> Result<usize, CborError> {
    let mut pos = 0;
    skip_item(bytes, &mut pos, 0)?;
    Ok(pos)
}

fn check_depth(bytes: &[u8]) -> Result<(), CborError> {
    item_len(bytes).map(|_| ())
}

fn truncated() -> CborError {
    CborError::Invalid("unexpected end of input".into())
}

/// Reads a CBOR head: (major type, argument). Indefinite lengths and reserved codes are errors.
fn read_head(bytes: &[u8], pos: &mut usize) -> Result<(u8, u64), CborError> {
    let b = *bytes.get(*pos).ok_or_else(truncated)?;
    *pos += 1;
    let major = b >> 5;
    let info = b & 0x1f;
    let width = match info {
        0..=23 => return Ok((major, info as u64)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(CborError::Invalid(format!("unsupported additional info {info}"))),
    };
    let end = pos.checked_add(width).filter(|e| *e <= bytes.len()).ok_or_else(truncated)?;
    let arg = bytes[*pos..end].iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
    *pos = end;
    Ok((major, arg))
}

fn skip_item(bytes: &[u8], pos: &mut usize, depth: usize) -> Result<(), CborError> {
    if depth > MAX_DEPTH {
        return Err(CborError::TooDeep);
    }
    let (major, arg) = read_head(bytes, pos)?;
    match major {
        0 | 1 => Ok(()),
        2 | 3 => {
            let end = usize::try_from(arg).ok().and_then(|n| pos.checked_add(n)).filter(|e| *e <= bytes.len()).ok_or_else(truncated)?;
            *pos = end;
            Ok(())
        }
        4 | 5 => {
            let per = if major == 5 { 2 } else { 1 };
            // Each item takes at least one byte: refuse counts the input cannot hold.
            if arg > (bytes.len() - *pos) as u64 {
                return Err(truncated());
            }
            for _ in 0..arg * per {
                skip_item(bytes, pos, depth + 1)?;
            }
            Ok(())
        }
        6 => skip_item(bytes, pos, depth + 1),
        _ => Ok(()), // simple values and floats: the head already consumed their payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_sorted_length_first() {
        let mut m = BTreeMap::new();
        m.insert("bb".to_string(), Ipld::Integer(1));
        m.insert("a".to_string(), Ipld::Integer(2));
        m.insert("c".to_string(), Ipld::Integer(3));
        let bytes = encode(&Ipld::Map(m)).unwrap();
        // a3 61 'a' 02 61 'c' 03 62 'bb' 01
        assert_eq!(bytes, [0xa3, 0x61, b'a', 2, 0x61, b'c', 3, 0x62, b'b', b'b', 1]);
    }

    #[test]
    fn strict_decoding() {
        // unordered keys
        assert!(decode_value(&[0xa2, 0x62, b'b', b'b', 1, 0x61, b'a', 2]).is_err());
        // duplicate keys
        assert!(decode_value(&[0xa2, 0x61, b'a', 1, 0x61, b'a', 2]).is_err());
        // non-minimal integer
        assert!(decode_value(&[0x18, 0x01]).is_err());
        // indefinite-length array
        assert!(decode_value(&[0x9f, 0x01, 0xff]).is_err());
        // float
        assert_eq!(decode_value(&[0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]), Err(CborError::Float));
        // trailing bytes
        assert!(decode_value(&[0x01, 0x02]).is_err());
        // negative beyond i64
        assert_eq!(decode_value(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Err(CborError::IntegerRange));
        // a tag other than 42
        assert!(decode_value(&[0xc1, 0x01]).is_err());
        assert_eq!(decode_value(&[0x01]), Ok(Ipld::Integer(1)));
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion_blowup() {
        let mut bytes = vec![0x81; 100_000];
        bytes.push(0x01);
        assert_eq!(decode_value(&bytes), Err(CborError::TooDeep));
    }

    #[test]
    fn item_len_splits_concatenated_items() {
        let bytes = [0xa1, 0x61, b'a', 0x01, 0x82, 0x01, 0x02];
        assert_eq!(item_len(&bytes), Ok(4));
        assert_eq!(item_len(&bytes[4..]), Ok(3));
        assert!(item_len(&[0x5a, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
