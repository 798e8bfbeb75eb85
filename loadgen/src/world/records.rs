//! Realistic record bodies for each collection the traffic model writes: likes and reposts
//! with strong references to posts, posts with text of realistic length, follows and blocks
//! of other accounts, list items, and profiles.

use std::collections::BTreeMap;

use atproto::Ipld;
use rand::Rng;

use crate::model::Collection;

/// The vocabulary of generated post text (read drivers build search queries from it).
pub const WORDS: &[&str] = &[
    "the", "a", "sky", "today", "really", "love", "this", "new", "post", "thread", "people", "just", "think", "about", "good", "morning", "coffee", "cat",
    "photo", "art", "music", "news", "read", "more", "here", "what", "why", "open", "protocol", "network", "feed", "friends", "weekend", "finally", "great",
    "idea", "city", "book",
];

fn s(v: &str) -> Ipld {
    Ipld::String(v.into())
}

fn map(entries: Vec<(&str, Ipld)>) -> Ipld {
    Ipld::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>())
}

/// A post's text: word salad of a length drawn from a long-tailed distribution (median ≈60
/// characters, capped at 300 like the app).
fn text(rng: &mut impl Rng) -> String {
    let u: f64 = rng.gen::<f64>().max(1e-9);
    let target = ((60.0 * (-u.ln()).powf(1.3)) as usize).clamp(3, 300);
    let mut out = String::new();
    while out.len() < target {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    out.truncate(300);
    out
}

/// A strong reference to some post: an AT-URI and a CID.
fn strong_ref(rng: &mut impl Rng, subject_did: &str, rkey: &str) -> Ipld {
    let cid = atproto::cid::for_cbor(&rng.gen::<[u8; 16]>());
    map(vec![("uri", s(&format!("at://{subject_did}/app.bsky.feed.post/{rkey}"))), ("cid", s(&cid.to_string()))])
}

/// A record for `collection`, created at `created_at`, referring to `other_did` (another
/// account) and `other_rkey` (a TID) where the collection refers to something.
pub fn record(collection: Collection, rng: &mut impl Rng, created_at: &str, other_did: &str, other_rkey: &str) -> Ipld {
    let created = ("createdAt", s(created_at));
    let ty = ("$type", s(collection.nsid()));
    match collection {
        Collection::Like | Collection::Repost => map(vec![ty, created, ("subject", strong_ref(rng, other_did, other_rkey))]),
        Collection::Post => {
            let mut fields = vec![ty, created, ("text", s(&text(rng))), ("langs", Ipld::List(vec![s("en")]))];
            if rng.gen_bool(0.35) {
                let root = strong_ref(rng, other_did, other_rkey);
                fields.push(("reply", map(vec![("root", root.clone()), ("parent", root)])));
            }
            map(fields)
        }
        Collection::Follow | Collection::Block => map(vec![ty, created, ("subject", s(other_did))]),
        Collection::ListItem => map(vec![ty, created, ("subject", s(other_did)), ("list", s(&format!("at://{other_did}/app.bsky.graph.list/{other_rkey}")))]),
        Collection::Profile => map(vec![ty, created, ("displayName", s(&text(rng).chars().take(40).collect::<String>())), ("description", s(&text(rng)))]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn records_encode_and_carry_their_type() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for c in Collection::CREATED.into_iter().chain([Collection::Profile]) {
            let r = record(c, &mut rng, "2026-11-21T12:00:00.000Z", "did:plc:abc", "3lbbbbbbbbbbb");
            let bytes = atproto::cbor::encode(&r).unwrap();
            assert!(bytes.len() > 40 && bytes.len() < 1200, "{c:?}: {}", bytes.len());
            let Ipld::Map(m) = r else { panic!() };
            assert_eq!(m["$type"], Ipld::String(c.nsid().into()));
        }
    }
}
