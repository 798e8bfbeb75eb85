//! Feed records: posts, likes, reposts, feed generators and threadgates.

use atproto::Ipld;
use serde::Deserialize;

use super::{check_type, typed, union_type, Facts, GENERATOR, LIKE, POST, THREADGATE};

/// What the indexer keeps about a post beside its bytes: the references that become edges,
/// counts and notifications, and the terms search indexes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostFacts {
    pub text: String,
    /// `createdAt` as written (RFC 3339), and in µs since the epoch when it parses.
    pub created_at: String,
    pub created_micros: Option<i64>,
    pub langs: Vec<String>,
    /// Hashtags from facets and the `tags` field, without `#`, lowercased.
    pub tags: Vec<String>,
    /// DIDs mentioned in facets.
    pub mentions: Vec<String>,
    /// Link URIs from facets and an external embed.
    pub links: Vec<String>,
    pub reply_root: Option<String>,
    pub reply_parent: Option<String>,
    /// The quoted record, from an `embed.record` or `embed.recordWithMedia`.
    pub quote: Option<String>,
    /// The embed's `$type`, if any.
    pub embed: Option<String>,
}

impl PostFacts {
    /// The domains of the links (`domain:` search terms), lowercased, without `www.`.
    pub fn domains(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.links.iter().filter_map(|l| url::Url::parse(l).ok()?.host_str().map(|h| h.trim_start_matches("www.").to_ascii_lowercase())).collect();
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostRecord {
    text: String,
    created_at: String,
    #[serde(default)]
    langs: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    facets: Vec<Facet>,
    reply: Option<ReplyRef>,
    embed: Option<Ipld>,
}

#[derive(Deserialize)]
struct Facet {
    features: Vec<Ipld>,
}

#[derive(Deserialize)]
struct ReplyRef {
    root: StrongRef,
    parent: StrongRef,
}

#[derive(Deserialize)]
pub(crate) struct StrongRef {
    pub uri: String,
    #[allow(dead_code)] // required by the schema; the indexer keys by URI
    pub cid: String,
}

#[derive(Deserialize)]
struct MentionFeature {
    did: String,
}
#[derive(Deserialize)]
struct LinkFeature {
    uri: String,
}
#[derive(Deserialize)]
struct TagFeature {
    tag: String,
}
#[derive(Deserialize)]
struct RecordEmbed {
    record: StrongRef,
}
#[derive(Deserialize)]
struct RecordWithMedia {
    record: RecordEmbed,
}
#[derive(Deserialize)]
struct ExternalEmbed {
    external: External,
}
#[derive(Deserialize)]
struct External {
    uri: String,
}

pub fn post(value: &Ipld) -> Result<PostFacts, String> {
    check_type(value, POST)?;
    let r: PostRecord = typed(value)?;
    let mut facts = PostFacts {
        created_micros: parse_micros(&r.created_at),
        text: r.text,
        created_at: r.created_at,
        langs: r.langs,
        tags: r.tags.iter().map(|t| normal_tag(t)).collect(),
        reply_root: r.reply.as_ref().map(|x| x.root.uri.clone()),
        reply_parent: r.reply.map(|x| x.parent.uri),
        ..PostFacts::default()
    };
    for facet in &r.facets {
        for feature in &facet.features {
            match union_type(feature) {
                Some("app.bsky.richtext.facet#mention") => facts.mentions.push(typed::<MentionFeature>(feature)?.did),
                Some("app.bsky.richtext.facet#link") => facts.links.push(typed::<LinkFeature>(feature)?.uri),
                Some("app.bsky.richtext.facet#tag") => facts.tags.push(normal_tag(&typed::<TagFeature>(feature)?.tag)),
                // Open union: other features carry nothing the indexer keeps.
                _ => {}
            }
        }
    }
    if let Some(embed) = &r.embed {
        let kind = union_type(embed).ok_or("embed has no $type")?;
        match kind {
            "app.bsky.embed.record" => facts.quote = Some(typed::<RecordEmbed>(embed)?.record.uri),
            "app.bsky.embed.recordWithMedia" => facts.quote = Some(typed::<RecordWithMedia>(embed)?.record.record.uri),
            "app.bsky.embed.external" => facts.links.push(typed::<ExternalEmbed>(embed)?.external.uri),
            _ => {}
        }
        facts.embed = Some(kind.to_owned());
    }
    for list in [&mut facts.tags, &mut facts.mentions, &mut facts.links] {
        list.sort();
        list.dedup();
    }
    Ok(facts)
}

fn normal_tag(tag: &str) -> String {
    tag.trim_start_matches('#').to_lowercase()
}

/// µs since the epoch of an RFC 3339 datetime.
pub fn parse_micros(datetime: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(datetime).ok().map(|d| d.timestamp_micros())
}

#[derive(Deserialize)]
struct SubjectRecord {
    subject: StrongRef,
}

/// The subject URI of a like or repost.
pub fn subject_uri(value: &Ipld) -> Result<String, String> {
    // Likes and reposts share a shape; the $type check happens per collection below.
    let t = union_type(value);
    if t.is_some_and(|t| t != LIKE && t != super::REPOST) {
        return Err(format!("unexpected $type {t:?}"));
    }
    let r: SubjectRecord = typed(value)?;
    r.subject.uri.parse::<atproto::syntax::AtUri>().map_err(|e| format!("subject.uri: {e}"))?;
    Ok(r.subject.uri)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // required fields, checked by decoding
struct GeneratorRecord {
    did: String,
    display_name: String,
    created_at: String,
}

pub fn generator(value: &Ipld) -> Result<Facts, String> {
    check_type(value, GENERATOR)?;
    typed::<GeneratorRecord>(value)?;
    Ok(Facts::Generator)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ThreadgateRecord {
    post: String,
    created_at: String,
}

pub fn threadgate(value: &Ipld) -> Result<Facts, String> {
    check_type(value, THREADGATE)?;
    typed::<ThreadgateRecord>(value)?;
    Ok(Facts::Threadgate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{facts, IndexError};

    fn cbor(json: serde_json::Value) -> Vec<u8> {
        atproto::cbor::encode(&atproto::json::record_from_json(&json).unwrap()).unwrap()
    }

    #[test]
    fn a_post_yields_its_reply_quote_facets_and_terms() {
        let post = serde_json::json!({
            "$type": "app.bsky.feed.post",
            "text": "hi @bob #Rust https://www.example.com/x",
            "createdAt": "2026-07-04T12:00:00.000Z",
            "langs": ["en"],
            "tags": ["Extra"],
            "reply": {
                "root": {"uri": "at://did:plc:a/app.bsky.feed.post/1", "cid": "bafyreib2rxk3rh6kzwq"},
                "parent": {"uri": "at://did:plc:a/app.bsky.feed.post/2", "cid": "bafyreib2rxk3rh6kzwq"}
            },
            "embed": {"$type": "app.bsky.embed.record", "record": {"uri": "at://did:plc:c/app.bsky.feed.post/3", "cid": "x"}},
            "facets": [
                {"index": {"byteStart": 3, "byteEnd": 7}, "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:bob"}]},
                {"index": {"byteStart": 8, "byteEnd": 13}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Rust"}]},
                {"index": {"byteStart": 14, "byteEnd": 40}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://www.example.com/x"}, {"$type": "com.example#other"}]}
            ]
        });
        let Facts::Post(p) = facts(POST, &cbor(post)).unwrap() else { panic!() };
        assert_eq!(p.reply_parent.as_deref(), Some("at://did:plc:a/app.bsky.feed.post/2"));
        assert_eq!(p.reply_root.as_deref(), Some("at://did:plc:a/app.bsky.feed.post/1"));
        assert_eq!(p.quote.as_deref(), Some("at://did:plc:c/app.bsky.feed.post/3"));
        assert_eq!(p.mentions, ["did:plc:bob"]);
        assert_eq!(p.tags, ["extra", "rust"]);
        assert_eq!(p.domains(), ["example.com"]);
        assert_eq!(p.created_micros, Some(1_783_166_400_000_000));
        assert_eq!(p.embed.as_deref(), Some("app.bsky.embed.record"));
    }

    #[test]
    fn invalid_records_are_errors_not_panics() {
        let no_text = serde_json::json!({"$type": "app.bsky.feed.post", "createdAt": "2026-07-04T12:00:00Z"});
        assert!(matches!(facts(POST, &cbor(no_text)), Err(IndexError::Invalid { collection: POST, .. })));
        let bad_subject = serde_json::json!({"$type": LIKE, "subject": {"uri": "nope", "cid": "x"}, "createdAt": "2026-07-04T12:00:00Z"});
        assert!(facts(LIKE, &cbor(bad_subject)).is_err());
        let wrong_type = serde_json::json!({"$type": "app.bsky.feed.repost", "text": "x", "createdAt": "2026-07-04T12:00:00Z"});
        assert!(facts(POST, &cbor(wrong_type)).is_err());
        for junk in [&b""[..], b"\xff", b"\xa1\x61"] {
            assert!(facts(POST, junk).is_err());
            assert!(facts("com.example.thing", junk).is_err());
        }
    }
}
