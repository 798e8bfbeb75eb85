//! `atproto::lexicon` against the interop lexicon fixtures (`shared/interop/lexicon/`), the
//! full `app.bsky.*`/`com.atproto.*` schema set (`shared/lexicons/`), and real-shaped Bluesky
//! records.
//!
//! Every `*-valid` case must be accepted and every `*-invalid` one refused; a failure lists
//! each offending case by name. Skips with a notice when the shared directory is absent
//! (outside CI; under `CI=true` that is a failure).

use std::path::PathBuf;

use atproto::lexicon::{LexiconError, Lexicons, ValidationStatus};
use serde_json::{json, Value};

const CID: &str = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";
const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

fn read_json(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of `interop/lexicon/<file>`, or `None` when fixtures are absent.
fn cases(file: &str) -> Option<Vec<Value>> {
    let path = atproto::fixtures::shared_path(&format!("interop/lexicon/{file}"))?;
    match read_json(&path) {
        Value::Array(cases) => {
            assert!(!cases.is_empty(), "{file} has no cases");
            Some(cases)
        }
        other => panic!("{file}: expected an array of cases, got {other}"),
    }
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("(unnamed)")
}

/// The fixture catalog (`interop/lexicon/catalog/*.json`).
fn fixture_catalog() -> Option<Lexicons> {
    let dir = atproto::fixtures::shared_path("interop/lexicon/catalog")?;
    Some(Lexicons::load_dir(&dir).unwrap_or_else(|e| panic!("loading the fixture catalog: {e}")))
}

/// The full schema set (`shared/lexicons/`), loaded once per test that needs it.
fn bsky() -> Option<Lexicons> {
    let dir = atproto::fixtures::shared_path("lexicons")?;
    Some(Lexicons::load_dir(&dir).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display())))
}

fn report(failures: Vec<String>) {
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn lexicon_documents() {
    let (Some(valid), Some(invalid)) = (cases("lexicon-valid.json"), cases("lexicon-invalid.json")) else {
        return;
    };
    let mut failures = Vec::new();
    for case in &valid {
        if let Err(e) = Lexicons::new().add(&case["lexicon"]) {
            failures.push(format!("lexicon-valid {:?} refused: {e}", name(case)));
        }
    }
    for case in &invalid {
        match Lexicons::new().add(&case["lexicon"]) {
            Ok(_) => failures.push(format!("lexicon-invalid {:?} accepted", name(case))),
            Err(e) => println!("lexicon-invalid {:?}: {e}", name(case)),
        }
    }
    report(failures);
}

/// Runs the record-data cases of `file` against the fixture catalog.
fn record_data(file: &str, expect_valid: bool) {
    let (Some(cases), Some(lex)) = (cases(file), fixture_catalog()) else { return };
    let mut failures = Vec::new();
    for case in &cases {
        let data = &case["data"];
        let Some(collection) = data["$type"].as_str() else {
            failures.push(format!("{file} {:?}: no $type to name the collection", name(case)));
            continue;
        };
        let result = lex.validate_record(collection, data);
        let key = case["rkey"].as_str().map(|rkey| lex.validate_record_key(collection, rkey));
        match (result, expect_valid) {
            (Ok(()), true) => {
                if let Some(Err(e)) = key {
                    failures.push(format!("{file} {:?}: record key refused: {e}", name(case)));
                }
            }
            (Err(e), false) => {
                assert!(matches!(e, LexiconError::InvalidRecord(_)), "{}: unexpected error kind: {e:?}", name(case));
                println!("{file} {:?}: {e}", name(case));
            }
            (Err(e), true) => failures.push(format!("{file} {:?} refused: {e}", name(case))),
            (Ok(()), false) => failures.push(format!("{file} {:?} accepted", name(case))),
        }
    }
    report(failures);
}

#[test]
fn record_data_valid() {
    record_data("record-data-valid.json", true);
}

#[test]
fn record_data_invalid() {
    record_data("record-data-invalid.json", false);
}

/// The "unknown wrong type" fixtures also lack the required `integer`; check that the
/// `unknown` rule alone refuses them, and that the named path is the `unknown` field.
#[test]
fn unknown_field_refuses_non_objects_on_its_own() {
    let Some(lex) = fixture_catalog() else { return };
    let blob = json!({"$type": "blob", "mimeType": "text/plain", "size": 1, "ref": {"$link": CID}});
    for bad in [json!(false), json!({"$bytes": "123"}), blob, json!("text"), json!([1])] {
        let record = json!({"$type": "example.lexicon.record", "integer": 1, "unknown": bad});
        let err = lex.validate_record("example.lexicon.record", &record).unwrap_err();
        assert!(err.to_string().starts_with("Record/unknown must be an object"), "{bad}: {err}");
    }
    let ok = json!({"$type": "example.lexicon.record", "integer": 1, "unknown": {"cid": "x", "anything": [1]}});
    lex.validate_record("example.lexicon.record", &ok).unwrap();
}

#[test]
fn record_keys_follow_the_key_type() {
    let Some(lex) = fixture_catalog() else { return };
    lex.validate_record_key("example.lexicon.record", "demo").unwrap();
    let err = lex.validate_record_key("example.lexicon.record", "other").unwrap_err();
    assert!(matches!(err, LexiconError::InvalidRecordKey { .. }), "{err:?}");
    assert!(lex.validate_record_key("example.lexicon.query", "demo").is_err());
    assert!(lex.validate_record_key("example.lexicon.nothing", "demo").unwrap_err().is_unknown_schema());
}

#[test]
fn full_lexicon_set_loads_and_is_self_contained() {
    let Some(lex) = bsky() else { return };
    let dir = atproto::fixtures::shared_path("lexicons").unwrap();
    let files = count_json(&dir);
    assert_eq!(lex.len(), files, "one document per file");
    assert!(lex.len() >= 250, "only {} lexicons", lex.len());
    let unresolved = lex.unresolved_refs();
    assert!(unresolved.is_empty(), "unresolved references: {unresolved:?}");
    for nsid in ["app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "app.bsky.actor.profile"] {
        lex.record_def(nsid).unwrap_or_else(|e| panic!("{nsid}: {e}"));
    }
    // Loading the same documents twice is refused.
    let mut twice = lex.clone();
    let err = twice.add_dir(&dir).unwrap_err();
    assert!(err.to_string().contains("already loaded"), "{err}");
}

fn count_json(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { count_json(&p) } else { usize::from(p.extension().is_some_and(|e| e == "json")) })
        .sum()
}

fn image_blob(mime: &str, size: u64) -> Value {
    json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": mime, "size": size})
}

fn post() -> Value {
    json!({
        "$type": "app.bsky.feed.post",
        "text": "hello @alice.example.com, see https://example.com 👋",
        "createdAt": "2024-11-05T12:34:56.789Z",
        "langs": ["en", "pt-BR"],
        "facets": [
            {
                "index": {"byteStart": 6, "byteEnd": 24},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": DID}]
            },
            {
                "index": {"byteStart": 30, "byteEnd": 49},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}]
            }
        ],
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [{
                "image": image_blob("image/jpeg", 123_456),
                "alt": "a cat",
                "aspectRatio": {"width": 4, "height": 3}
            }]
        }
    })
}

fn strong_ref() -> Value {
    json!({
        "uri": format!("at://{DID}/app.bsky.feed.post/3kznmn7xqxl22"),
        "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"
    })
}

fn expect_invalid(lex: &Lexicons, collection: &str, record: &Value, path_and_message: &str) {
    match lex.validate_record(collection, record) {
        Ok(()) => panic!("{collection} accepted, expected {path_and_message:?}: {record}"),
        Err(LexiconError::InvalidRecord(e)) => {
            assert!(e.to_string().starts_with(path_and_message), "expected {path_and_message:?}, got {e:?}")
        }
        Err(e) => panic!("{collection}: expected InvalidRecord {path_and_message:?}, got {e:?}"),
    }
}

#[test]
fn bluesky_records_validate() {
    let Some(lex) = bsky() else { return };
    let post = post();
    lex.validate_record("app.bsky.feed.post", &post).unwrap();
    // `$type` may be left for the server to fill in.
    let mut untyped = post.clone();
    untyped.as_object_mut().unwrap().remove("$type");
    lex.validate_record("app.bsky.feed.post", &untyped).unwrap();
    // A reply, with strong refs that may carry their own `$type`.
    let mut reply = post.clone();
    let mut root = strong_ref();
    root["$type"] = json!("com.atproto.repo.strongRef");
    reply["reply"] = json!({"root": root, "parent": strong_ref()});
    lex.validate_record("app.bsky.feed.post", &reply).unwrap();
    // Legacy blobs are accepted.
    let mut legacy = post.clone();
    legacy["embed"]["images"][0]["image"] = json!({"cid": CID, "mimeType": "image/png"});
    lex.validate_record("app.bsky.feed.post", &legacy).unwrap();

    let like = json!({"$type": "app.bsky.feed.like", "subject": strong_ref(), "createdAt": "2024-11-05T12:34:56Z"});
    lex.validate_record("app.bsky.feed.like", &like).unwrap();
    let follow = json!({"$type": "app.bsky.graph.follow", "subject": DID, "createdAt": "2024-11-05T12:34:56.000Z"});
    lex.validate_record("app.bsky.graph.follow", &follow).unwrap();
    let profile = json!({
        "$type": "app.bsky.actor.profile",
        "displayName": "Alice 🌈",
        "description": "hello\nworld",
        "avatar": image_blob("image/png", 50_000),
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "!no-unauthenticated"}]},
        "createdAt": "2024-11-05T12:34:56Z"
    });
    lex.validate_record("app.bsky.actor.profile", &profile).unwrap();

    for (collection, rkey) in [("app.bsky.feed.post", "3kznmn7xqxl22"), ("app.bsky.actor.profile", "self"), ("app.bsky.graph.follow", "3kznmn7xqxl22")] {
        lex.validate_record_key(collection, rkey).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(lex.validate_record_key("app.bsky.actor.profile", "3kznmn7xqxl22").is_err());
    assert!(lex.validate_record_key("app.bsky.feed.post", "self").is_err());
}

#[test]
fn bluesky_records_refused() {
    let Some(lex) = bsky() else { return };
    let post = post();

    let mut long = post.clone();
    long["text"] = json!("a".repeat(301));
    expect_invalid(&lex, "app.bsky.feed.post", &long, "Record/text must not be longer than 300 graphemes");
    // 300 emoji is within 300 graphemes and 3000 bytes.
    let mut emoji = post.clone();
    emoji["text"] = json!("🏳️\u{200d}🌈".repeat(300));
    expect_invalid(&lex, "app.bsky.feed.post", &emoji, "Record/text must not be longer than 3000 bytes");
    emoji["text"] = json!("👍🏽".repeat(300));
    lex.validate_record("app.bsky.feed.post", &emoji).unwrap();

    let mut no_date = post.clone();
    no_date.as_object_mut().unwrap().remove("createdAt");
    expect_invalid(&lex, "app.bsky.feed.post", &no_date, "Record must have the property \"createdAt\"");

    let mut bad_date = post.clone();
    bad_date["createdAt"] = json!("2024-11-05 12:34:56");
    expect_invalid(&lex, "app.bsky.feed.post", &bad_date, "Record/createdAt must be a valid datetime");

    let mut bad_alt = post.clone();
    bad_alt["embed"]["images"][0]["alt"] = json!(7);
    expect_invalid(&lex, "app.bsky.feed.post", &bad_alt, "Record/embed/images/0/alt must be a string");

    let mut bad_image = post.clone();
    bad_image["embed"]["images"][0]["image"] = image_blob("video/mp4", 10);
    expect_invalid(&lex, "app.bsky.feed.post", &bad_image, "Record/embed/images/0/image mimeType \"video/mp4\"");
    bad_image["embed"]["images"][0]["image"] = image_blob("image/png", 5_000_000);
    expect_invalid(&lex, "app.bsky.feed.post", &bad_image, "Record/embed/images/0/image blob is too big");

    // The post's embed union is open: an unknown `$type` is accepted unchecked, a known one
    // is checked, and a value without `$type` is refused.
    let embed_closed = match lex.resolve("app.bsky.feed.post") {
        Some(atproto::lexicon::Def::Record(r)) => match &r.record.properties["embed"] {
            atproto::lexicon::Field::Union(u) => u.closed,
            other => panic!("embed is a {}", other.type_name()),
        },
        _ => panic!("no post record"),
    };
    let mut foreign = post.clone();
    foreign["embed"] = json!({"$type": "com.example.embed.poll", "options": ["a", "b"]});
    if embed_closed {
        expect_invalid(&lex, "app.bsky.feed.post", &foreign, "Record/embed $type must be one of");
    } else {
        lex.validate_record("app.bsky.feed.post", &foreign).unwrap();
    }
    let mut wrong_shape = post.clone();
    wrong_shape["embed"] = json!({"$type": "app.bsky.embed.external", "images": []});
    expect_invalid(&lex, "app.bsky.feed.post", &wrong_shape, "Record/embed must have the property \"external\"");
    let mut untyped_embed = post.clone();
    untyped_embed["embed"].as_object_mut().unwrap().remove("$type");
    expect_invalid(&lex, "app.bsky.feed.post", &untyped_embed, "Record/embed must be an object which includes");
    // The facet feature union is open too, but a known member is checked.
    let mut bad_mention = post.clone();
    bad_mention["facets"][0]["features"][0]["did"] = json!("alice");
    expect_invalid(&lex, "app.bsky.feed.post", &bad_mention, "Record/facets/0/features/0/did must be a valid did");
    // A plain ref may carry its own `$type`, which must then name the ref's target.
    let mut wrong_ref_type = post.clone();
    wrong_ref_type["embed"]["images"][0]["aspectRatio"]["$type"] = json!("app.bsky.embed.images#image");
    expect_invalid(&lex, "app.bsky.feed.post", &wrong_ref_type, "Record/embed/images/0/aspectRatio/$type must be");
    let mut langs = post.clone();
    langs["langs"] = json!(["en", "fr", "de", "es"]);
    expect_invalid(&lex, "app.bsky.feed.post", &langs, "Record/langs must not have more than 3 elements");
    langs["langs"] = json!(["english!"]);
    expect_invalid(&lex, "app.bsky.feed.post", &langs, "Record/langs/0 must be a valid language");

    let mut wrong_type = post.clone();
    wrong_type["$type"] = json!("app.bsky.feed.like");
    expect_invalid(&lex, "app.bsky.feed.post", &wrong_type, "Record/$type must be app.bsky.feed.post");
    expect_invalid(&lex, "app.bsky.feed.post", &json!([post]), "Record must be an object");

    let mut like = json!({"$type": "app.bsky.feed.like", "subject": strong_ref(), "createdAt": "2024-11-05T12:34:56Z"});
    like["subject"].as_object_mut().unwrap().remove("cid");
    expect_invalid(&lex, "app.bsky.feed.like", &like, "Record/subject must have the property \"cid\"");
    like["subject"] = json!({"uri": "https://example.com/post", "cid": CID});
    expect_invalid(&lex, "app.bsky.feed.like", &like, "Record/subject/uri must be a valid at-uri");
    let like = json!({"subject": strong_ref(), "createdAt": "yesterday"});
    expect_invalid(&lex, "app.bsky.feed.like", &like, "Record/createdAt must be a valid datetime");

    let follow = json!({"subject": "@alice", "createdAt": "2024-11-05T12:34:56Z"});
    expect_invalid(&lex, "app.bsky.graph.follow", &follow, "Record/subject must be a valid did");

    let profile = json!({"avatar": image_blob("image/gif", 10), "displayName": "x".repeat(65)});
    expect_invalid(&lex, "app.bsky.actor.profile", &profile, "Record/avatar mimeType \"image/gif\" is not accepted");
    let profile = json!({"displayName": "x".repeat(65)});
    expect_invalid(&lex, "app.bsky.actor.profile", &profile, "Record/displayName must not be longer than 64 graphemes");
    let profile = json!({"displayName": null});
    expect_invalid(&lex, "app.bsky.actor.profile", &profile, "Record/displayName must be a string");
}

#[test]
fn write_path_statuses() {
    let Some(lex) = bsky() else { return };
    let post = post();
    let status = |c: &str, r: &Value, v: Option<bool>| lex.validate_for_write(c, r, v);
    assert_eq!(status("app.bsky.feed.post", &post, None).unwrap(), Some(ValidationStatus::Valid));
    assert_eq!(status("app.bsky.feed.post", &post, Some(true)).unwrap(), Some(ValidationStatus::Valid));
    assert_eq!(status("app.bsky.feed.post", &post, Some(false)).unwrap(), None);
    let custom = json!({"$type": "com.example.thing", "anything": [1, 2.5]});
    assert_eq!(status("com.example.thing", &custom, None).unwrap(), Some(ValidationStatus::Unknown));
    assert!(status("com.example.thing", &custom, Some(true)).unwrap_err().is_unknown_schema());
    let mut bad = post.clone();
    bad["text"] = json!(1);
    assert!(matches!(status("app.bsky.feed.post", &bad, None), Err(LexiconError::InvalidRecord(_))));
    assert_eq!(status("app.bsky.feed.post", &bad, Some(false)).unwrap(), None);
    // A non-record main definition is not a valid collection; `defs` documents have no main.
    assert!(matches!(status("app.bsky.feed.getTimeline", &post, None), Err(LexiconError::NotARecord(_))));
    assert_eq!(status("app.bsky.feed.defs", &post, None).unwrap(), Some(ValidationStatus::Unknown));
    assert_eq!(ValidationStatus::Valid.as_str(), "valid");
}

/// Hostile input must be refused without panicking or overflowing the stack.
#[test]
fn hostile_data_is_refused_cleanly() {
    let mut lex = Lexicons::new();
    lex.add(&json!({
        "lexicon": 1,
        "id": "com.example.chain",
        "defs": {
            "main": {"type": "record", "key": "any", "record": {
                "type": "object", "properties": {"next": {"type": "ref", "ref": "#node"}}
            }},
            "node": {"type": "object", "properties": {"next": {"type": "ref", "ref": "#node"}}}
        }
    }))
    .unwrap();
    let chain = |n: usize| {
        let mut v = json!({});
        for _ in 0..n {
            v = json!({"next": v});
        }
        v
    };
    lex.validate_record("com.example.chain", &chain(20)).unwrap();
    let err = lex.validate_record("com.example.chain", &chain(2_000)).unwrap_err();
    assert!(err.to_string().contains("nested deeper than"), "{err}");

    let Some(lex) = bsky() else { return };
    for junk in [json!(null), json!(1), json!("x"), json!({"text": {"$bytes": "!!"}, "createdAt": []})] {
        assert!(lex.validate_record("app.bsky.feed.post", &junk).is_err());
    }
}
