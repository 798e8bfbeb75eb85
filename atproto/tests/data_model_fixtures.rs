//! The interop data-model fixtures (`shared/interop/data-model/*.json`) against
//! `atproto::json`, `atproto::cbor` and `atproto::cid`.
//!
//! - `data-model-fixtures.json`: JSON → DAG-CBOR gives exactly `cbor_base64`, whose CID is
//!   `cid`, and decoding that CBOR back to JSON gives the original JSON.
//! - `data-model-valid.json` / `data-model-invalid.json`: records accepted / refused by
//!   [`atproto::json::record_from_json`].
//!
//! Skips with a notice when the shared directory is absent (outside CI).

use atproto::json::{from_json, record_from_json, to_json};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use serde_json::Value;

fn entries(file: &str) -> Option<Vec<Value>> {
    let path = atproto::fixtures::shared_path(&format!("interop/data-model/{file}"))?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Value::Array(entries) = serde_json::from_str(&text).expect("fixture file is JSON") else {
        panic!("{file}: expected an array");
    };
    assert!(!entries.is_empty(), "{file} has no entries");
    Some(entries)
}

fn label(file: &str, i: usize, entry: &Value) -> String {
    match entry.get("note").and_then(Value::as_str) {
        Some(note) => format!("{file}[{i}] ({note})"),
        None => format!("{file}[{i}]"),
    }
}

#[test]
fn json_cbor_cid_roundtrip() {
    let file = "data-model-fixtures.json";
    let Some(entries) = entries(file) else { return };
    for (i, entry) in entries.iter().enumerate() {
        let at = label(file, i, entry);
        let json = &entry["json"];
        let cbor = STANDARD_NO_PAD.decode(entry["cbor_base64"].as_str().unwrap()).unwrap();

        let value = from_json(json).unwrap_or_else(|e| panic!("{at}: from_json: {e}"));
        let encoded = atproto::cbor::encode(&value).unwrap_or_else(|e| panic!("{at}: encode: {e}"));
        assert_eq!(encoded, cbor, "{at}: DAG-CBOR bytes differ");
        assert_eq!(atproto::cid::for_cbor(&encoded).to_string(), entry["cid"].as_str().unwrap(), "{at}: CID");

        let decoded = atproto::cbor::decode_value(&cbor).unwrap_or_else(|e| panic!("{at}: decode: {e}"));
        assert_eq!(decoded, value, "{at}: decoded value");
        assert_eq!(&to_json(&decoded), json, "{at}: JSON from decoded CBOR");
    }
}

#[test]
fn valid_records_are_accepted() {
    let file = "data-model-valid.json";
    let Some(entries) = entries(file) else { return };
    let failures: Vec<String> =
        entries.iter().enumerate().filter_map(|(i, e)| record_from_json(&e["json"]).err().map(|err| format!("{}: {err}", label(file, i, e)))).collect();
    assert!(failures.is_empty(), "refused:\n{}", failures.join("\n"));
}

#[test]
fn invalid_records_are_refused() {
    let file = "data-model-invalid.json";
    let Some(entries) = entries(file) else { return };
    let failures: Vec<String> = entries.iter().enumerate().filter(|(_, e)| record_from_json(&e["json"]).is_ok()).map(|(i, e)| label(file, i, e)).collect();
    assert!(failures.is_empty(), "accepted:\n{}", failures.join("\n"));
}

/// Accepted values survive JSON → DAG-CBOR → JSON; the integer-like float comes back as an
/// integer.
#[test]
fn valid_records_roundtrip_through_cbor() {
    let file = "data-model-valid.json";
    let Some(entries) = entries(file) else { return };
    for (i, entry) in entries.iter().enumerate() {
        let at = label(file, i, entry);
        let value = record_from_json(&entry["json"]).unwrap();
        let cbor = atproto::cbor::encode(&value).unwrap();
        let back = atproto::cbor::decode_value(&cbor).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(back, value, "{at}");
        assert_eq!(from_json(&to_json(&back)).unwrap(), value, "{at}");
    }
}
