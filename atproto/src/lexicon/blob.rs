//! Blob references in record data and the `blob` schema's constraints: `accept` (MIME types
//! and patterns such as `image/*`) and `maxSize`.
//!
//! Two JSON forms are accepted, as the reference accepts them: the current
//! `{"$type": "blob", "ref": {"$link": …}, "mimeType": …, "size": …}` and the legacy
//! `{"cid": "<cid>", "mimeType": …}` (exactly those two keys; it has no size, so `maxSize`
//! cannot be checked against it).

use serde_json::Value;

use super::data;
use super::schema::BlobSchema;
use crate::Cid;

/// A blob reference read from record data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef<'a> {
    pub cid: Cid,
    pub mime_type: &'a str,
    /// In bytes; `None` for a legacy reference.
    pub size: Option<u64>,
}

/// The blob reference `v` encodes, or why it is not one.
pub fn parse_blob(v: &Value) -> Result<BlobRef<'_>, &'static str> {
    const NOT_A_BLOB: &str = "should be a blob ref";
    let m = v.as_object().ok_or(NOT_A_BLOB)?;
    match m.get("$type") {
        Some(Value::String(t)) if t == "blob" => {
            let cid = data::link(m.get("ref").ok_or("blob is missing ref")?).map_err(|_| "blob ref must be a $link")?;
            let mime_type = m.get("mimeType").and_then(Value::as_str).ok_or("blob mimeType must be a string")?;
            let size = m.get("size").and_then(data::integer).and_then(|s| u64::try_from(s).ok()).ok_or("blob size must be a non-negative integer")?;
            Ok(BlobRef { cid, mime_type, size: Some(size) })
        }
        Some(_) => Err(NOT_A_BLOB),
        None => {
            let (Some(Value::String(cid)), Some(Value::String(mime_type)), 2) = (m.get("cid"), m.get("mimeType"), m.len()) else {
                return Err(NOT_A_BLOB);
            };
            let cid = crate::cid::parse(cid).map_err(|_| "legacy blob cid is not a valid CID")?;
            Ok(BlobRef { cid, mime_type, size: None })
        }
    }
}

/// Whether `mime` matches one of the `accept` patterns: an exact type (`image/png`), a
/// type with any subtype (`image/*`), or anything (`*/*` or `*`). Case-insensitive, and
/// parameters (`; charset=…`) on `mime` are ignored.
pub fn mime_accepted(accept: &[String], mime: &str) -> bool {
    let mime = mime.split(';').next().unwrap_or_default().trim();
    accept.iter().any(|pattern| mime_matches(pattern.trim(), mime))
}

fn mime_matches(pattern: &str, mime: &str) -> bool {
    if pattern == "*/*" || pattern == "*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(ty) => mime.split_once('/').is_some_and(|(mty, sub)| !sub.is_empty() && mty.eq_ignore_ascii_case(ty)),
        None => pattern.eq_ignore_ascii_case(mime),
    }
}

/// Checks `v` against a `blob` schema; the error is a message for the value's path.
pub(crate) fn check(schema: &BlobSchema, v: &Value) -> Result<(), String> {
    let blob = parse_blob(v)?;
    if let Some(accept) = &schema.accept {
        if !mime_accepted(accept, blob.mime_type) {
            return Err(format!("mimeType {:?} is not accepted (accepts {})", blob.mime_type, accept.join(", ")));
        }
    }
    if let (Some(max), Some(size)) = (schema.max_size, blob.size) {
        if size > max {
            return Err(format!("blob is too big: {size} bytes, the maximum is {max}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CID: &str = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity";

    fn accepts(patterns: &[&str], mime: &str) -> bool {
        let p: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        mime_accepted(&p, mime)
    }

    #[test]
    fn accept_patterns() {
        assert!(accepts(&["image/*"], "image/png"));
        assert!(accepts(&["image/*"], "IMAGE/WebP"));
        assert!(!accepts(&["image/*"], "imagex/png"));
        assert!(!accepts(&["image/*"], "image/"));
        assert!(!accepts(&["image/*"], "image"));
        assert!(!accepts(&["image/*"], "text/plain"));
        assert!(accepts(&["image/png", "image/jpeg"], "image/jpeg"));
        assert!(!accepts(&["image/png", "image/jpeg"], "image/gif"));
        assert!(accepts(&["*/*"], "application/octet-stream"));
        assert!(accepts(&["*"], "anything/at-all"));
        assert!(accepts(&["video/mp4"], "video/mp4; codecs=avc1"));
        assert!(!accepts(&[], "image/png"));
    }

    #[test]
    fn blob_forms() {
        let typed = json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 10});
        let b = parse_blob(&typed).unwrap();
        assert_eq!((b.mime_type, b.size), ("image/png", Some(10)));
        let legacy = json!({"cid": CID, "mimeType": "image/jpeg"});
        assert_eq!(parse_blob(&legacy).unwrap().size, None);
        assert!(parse_blob(&json!({"cid": CID, "mimeType": "image/jpeg", "x": 1})).is_err());
        assert!(parse_blob(&json!({"type": "blob", "ref": {"$link": CID}, "mimeType": "a/b", "size": 1})).is_err());
        assert!(parse_blob(&json!({"$type": "blob", "ref": CID, "mimeType": "a/b", "size": 1})).is_err());
        assert!(parse_blob(&json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": false, "size": 1})).is_err());
        assert!(parse_blob(&json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": "a/b", "size": -1})).is_err());
        assert!(parse_blob(&json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": "a/b"})).is_err());
        assert!(parse_blob(&json!("green")).is_err());

        let schema = BlobSchema { accept: Some(vec!["image/*".into()]), max_size: Some(10) };
        assert!(check(&schema, &typed).is_ok());
        let mut big = typed.clone();
        big["size"] = json!(11);
        assert!(check(&schema, &big).unwrap_err().contains("too big"));
        let mut text = typed;
        text["mimeType"] = json!("text/plain");
        assert!(check(&schema, &text).unwrap_err().contains("not accepted"));
        assert!(check(&schema, &legacy).is_ok());
    }
}
