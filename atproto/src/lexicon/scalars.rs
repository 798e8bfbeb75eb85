//! Checking one value against a schema that needs no catalog: null, boolean, integer, string,
//! bytes, cid-link and unknown. Each check returns the message for the value's path (the
//! walker in [`super::validate`] adds the path), worded as the reference words it.

use serde_json::Value;

use super::data::{self, Special};
use super::schema::{BooleanSchema, BytesSchema, IntegerSchema, StringSchema};
use super::text;

pub(crate) type Check = Result<(), String>;

pub(crate) fn null(v: &Value) -> Check {
    if v.is_null() {
        Ok(())
    } else {
        Err("must be null".into())
    }
}

pub(crate) fn boolean(s: &BooleanSchema, v: &Value) -> Check {
    let b = v.as_bool().ok_or("must be a boolean")?;
    match s.const_value {
        Some(c) if c != b => Err(format!("must be {c}")),
        _ => Ok(()),
    }
}

pub(crate) fn integer(s: &IntegerSchema, v: &Value) -> Check {
    let i = data::integer(v).ok_or("must be an integer")?;
    if let Some(c) = s.const_value {
        if i != c {
            return Err(format!("must be {c}"));
        }
    }
    if let Some(allowed) = &s.enum_values {
        if !allowed.contains(&i) {
            let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
            return Err(format!("must be one of ({})", list.join("|")));
        }
    }
    if let Some(max) = s.maximum {
        if i > max {
            return Err(format!("can not be greater than {max}"));
        }
    }
    if let Some(min) = s.minimum {
        if i < min {
            return Err(format!("can not be less than {min}"));
        }
    }
    Ok(())
}

pub(crate) fn string(s: &StringSchema, v: &Value) -> Check {
    let st = v.as_str().ok_or("must be a string")?;
    if let Some(c) = &s.const_value {
        if st != c {
            return Err(format!("must be {c:?}"));
        }
    }
    if let Some(allowed) = &s.enum_values {
        if !allowed.iter().any(|a| a == st) {
            return Err(format!("must be one of ({})", allowed.join("|")));
        }
    }
    let len = text::utf8_len(st) as u64;
    if let Some(max) = s.max_length {
        if len > max {
            return Err(format!("must not be longer than {max} bytes (UTF-8)"));
        }
    }
    if let Some(min) = s.min_length {
        if len < min {
            return Err(format!("must not be shorter than {min} bytes (UTF-8)"));
        }
    }
    if let Some(max) = s.max_graphemes {
        if text::graphemes_exceed(st, max) {
            return Err(format!("must not be longer than {max} graphemes"));
        }
    }
    if let Some(min) = s.min_graphemes {
        if text::graphemes_below(st, min) {
            return Err(format!("must not be shorter than {min} graphemes"));
        }
    }
    match s.format {
        Some(f) => f.check(st),
        None => Ok(()),
    }
}

pub(crate) fn bytes(s: &BytesSchema, v: &Value) -> Check {
    let b = data::bytes(v)?;
    let len = b.len() as u64;
    if let Some(max) = s.max_length {
        if len > max {
            return Err(format!("must not be larger than {max} bytes"));
        }
    }
    if let Some(min) = s.min_length {
        if len < min {
            return Err(format!("must not be smaller than {min} bytes"));
        }
    }
    Ok(())
}

pub(crate) fn cid_link(v: &Value) -> Check {
    data::link(v).map(|_| ()).map_err(Into::into)
}

/// `unknown`: any data-model object, which bytes, links and blobs are not.
pub(crate) fn unknown(v: &Value) -> Check {
    let m = v.as_object().ok_or("must be an object")?;
    match Special::of(m) {
        None => Ok(()),
        Some(Special::Bytes) => Err("must be an object, not bytes".into()),
        Some(Special::Link) => Err("must be an object, not a CID link".into()),
        Some(Special::Blob) => Err("must be an object, not a blob".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_constraints() {
        let s = StringSchema { max_length: Some(3000), max_graphemes: Some(300), ..Default::default() };
        assert!(string(&s, &json!("é".repeat(300))).is_ok());
        assert!(string(&s, &json!("a".repeat(301))).unwrap_err().contains("300 graphemes"));
        assert!(string(&s, &json!(3)).unwrap_err() == "must be a string");
        let e = StringSchema { enum_values: Some(vec!["fish".into(), "tree".into()]), ..Default::default() };
        assert_eq!(string(&e, &json!("rock")).unwrap_err(), "must be one of (fish|tree)");
        let k = StringSchema { known_values: vec!["blue".into()], ..Default::default() };
        assert!(string(&k, &json!("purple")).is_ok());
    }

    #[test]
    fn integer_constraints() {
        let s = IntegerSchema { minimum: Some(10), maximum: Some(20), ..Default::default() };
        assert!(integer(&s, &json!(15)).is_ok());
        assert!(integer(&s, &json!(15.0)).is_ok());
        assert_eq!(integer(&s, &json!(21)).unwrap_err(), "can not be greater than 20");
        assert_eq!(integer(&s, &json!(9)).unwrap_err(), "can not be less than 10");
        assert_eq!(integer(&s, &json!(15.5)).unwrap_err(), "must be an integer");
    }

    #[test]
    fn unknown_is_a_plain_object() {
        assert!(unknown(&json!({"$type": "x.y.z", "a": 1})).is_ok());
        assert!(unknown(&json!(false)).is_err());
        assert!(unknown(&json!(null)).is_err());
        assert!(unknown(&json!({"$bytes": "123"})).is_err());
        assert!(unknown(&json!({"$link": "bafy"})).is_err());
        assert!(unknown(&json!({"$type": "blob", "mimeType": "a/b"})).is_err());
    }
}
