//! The interop syntax fixtures (`shared/interop/syntax/*.txt`) against `atproto::syntax`.
//!
//! One value per line; lines starting with `#` and empty lines are comments. Lines are not
//! trimmed: leading and trailing whitespace is part of the (invalid) value. Every `*_valid`
//! value must be accepted and every `*_invalid` one refused; the failure message lists each
//! offending line. Skips with a notice when the shared directory is absent (outside CI).

use std::str::FromStr;

use atproto::syntax::{is_valid_cid_string, is_valid_uri, AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, SyntaxError, Tid};

type Check = fn(&str) -> Result<(), String>;

fn parse<T: FromStr<Err = SyntaxError>>(s: &str) -> Result<(), String> {
    T::from_str(s).map(|_| ()).map_err(|e| e.to_string())
}

fn flag(ok: bool) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err("refused".into())
    }
}

/// The values of a fixture file with their line numbers, or `None` when fixtures are absent.
fn values(file: &str) -> Option<Vec<(usize, String)>> {
    let path = atproto::fixtures::shared_path(&format!("interop/syntax/{file}"))?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    Some(lines.enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#')).map(|(i, l)| (i + 1, l.to_owned())).collect())
}

fn show(value: &str) -> String {
    let mut s: String = value.chars().take(80).collect();
    if s.len() < value.len() {
        s += &format!("… ({} bytes)", value.len());
    }
    s
}

/// Asserts that `check` accepts (`expect_ok`) or refuses every value in `file`.
fn run(file: &str, expect_ok: bool, check: Check) {
    let Some(values) = values(file) else { return };
    assert!(!values.is_empty(), "{file} has no values");
    let failures: Vec<String> = values
        .iter()
        .filter_map(|(line, v)| match (check(v), expect_ok) {
            (Ok(()), true) | (Err(_), false) => None,
            (Err(e), true) => Some(format!("{file}:{line}: {:?} refused: {e}", show(v))),
            (Ok(()), false) => Some(format!("{file}:{line}: {:?} accepted", show(v))),
        })
        .collect();
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

fn pair(kind: &str, check: Check) {
    run(&format!("{kind}_syntax_valid.txt"), true, check);
    run(&format!("{kind}_syntax_invalid.txt"), false, check);
}

#[test]
fn did() {
    pair("did", parse::<Did>);
}

#[test]
fn handle() {
    pair("handle", parse::<Handle>);
}

#[test]
fn nsid() {
    pair("nsid", parse::<Nsid>);
}

#[test]
fn aturi() {
    pair("aturi", parse::<AtUri>);
}

#[test]
fn recordkey() {
    pair("recordkey", parse::<RecordKey>);
}

#[test]
fn tid() {
    pair("tid", parse::<Tid>);
}

#[test]
fn atidentifier() {
    pair("atidentifier", parse::<AtIdentifier>);
}

#[test]
fn cid() {
    pair("cid", |s| flag(is_valid_cid_string(s)));
}

#[test]
fn uri() {
    pair("uri", |s| flag(is_valid_uri(s)));
}

#[test]
fn datetime() {
    // Valid values pass both layers; syntax-invalid ones fail the syntax check (and so
    // construction); parse-invalid ones pass the syntax check but fail construction.
    pair("datetime", parse::<Datetime>);
    run("datetime_syntax_invalid.txt", false, |s| Datetime::check_syntax(s).map_err(|e| e.to_string()));
    run("datetime_parse_invalid.txt", true, |s| Datetime::check_syntax(s).map_err(|e| e.to_string()));
    run("datetime_parse_invalid.txt", false, parse::<Datetime>);
}

#[test]
fn language() {
    pair("language", parse::<Language>);
    run("language_syntax_invalid.txt", false, |s| Language::check_syntax(s).map_err(|e| e.to_string()));
    run("language_parse_invalid.txt", true, |s| Language::check_syntax(s).map_err(|e| e.to_string()));
    run("language_parse_invalid.txt", false, parse::<Language>);
}

/// A new fixture file must get a test here rather than be silently ignored.
#[test]
fn every_fixture_file_is_covered() {
    let Some(dir) = atproto::fixtures::shared_path("interop/syntax") else {
        return;
    };
    let kinds = ["did", "handle", "nsid", "aturi", "recordkey", "tid", "atidentifier", "cid", "uri", "datetime", "language"];
    let mut unknown = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let known =
            kinds.iter().any(|k| [format!("{k}_syntax_valid.txt"), format!("{k}_syntax_invalid.txt"), format!("{k}_parse_invalid.txt")].contains(&name));
        if name.ends_with(".txt") && !known {
            unknown.push(name);
        }
    }
    assert!(unknown.is_empty(), "fixture files without a test: {unknown:?}");
}

/// Values round-trip through serde as plain strings, and deserializing validates.
#[test]
fn serde_as_strings() {
    let did: Did = serde_json::from_str("\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"").unwrap();
    assert_eq!(serde_json::to_string(&did).unwrap(), "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"");
    assert!(serde_json::from_str::<Did>("\"did:plc:\"").is_err());
    assert!(serde_json::from_str::<Handle>("\"nodot\"").is_err());
    assert!(serde_json::from_str::<Datetime>("\"1985-13-12T23:20:50Z\"").is_err());
    let uri: AtUri = serde_json::from_str("\"at://alice.test/app.bsky.feed.post/3jzfcijpj2z2a\"").unwrap();
    assert_eq!(uri.rkey(), Some("3jzfcijpj2z2a"));
}
