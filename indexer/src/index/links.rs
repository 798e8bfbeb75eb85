//! Backlinks for any lexicon, in Constellation's shape: every string in a record that is an
//! AT-URI or a DID, with the path it sits at (`.subject.uri`, `.facets[].features[].did`).

use atproto::Ipld;

/// One link: where in the record, and to what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub path: String,
    pub target: String,
}

/// Every link in `value`, in path order, each (path, target) once.
pub fn extract(value: &Ipld) -> Vec<Link> {
    let mut out = Vec::new();
    walk(value, &mut String::new(), &mut out, 0);
    out.sort();
    out.dedup();
    out
}

fn walk(value: &Ipld, path: &mut String, out: &mut Vec<Link>, depth: usize) {
    if depth > atproto::cbor::MAX_DEPTH {
        return;
    }
    match value {
        Ipld::String(s) if is_target(s) => out.push(Link { path: path.clone(), target: s.clone() }),
        Ipld::Map(m) => {
            for (k, v) in m {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                walk(v, path, out, depth + 1);
                path.truncate(len);
            }
        }
        Ipld::List(items) => {
            let len = path.len();
            path.push_str("[]");
            for v in items {
                walk(v, path, out, depth + 1);
            }
            path.truncate(len);
        }
        _ => {}
    }
}

fn is_target(s: &str) -> bool {
    (s.starts_with("at://") && s.parse::<atproto::syntax::AtUri>().is_ok()) || (s.starts_with("did:") && s.parse::<atproto::syntax::Did>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_constellation_paths() {
        let v = atproto::json::record_from_json(&serde_json::json!({
            "subject": {"uri": "at://did:plc:a/app.bsky.feed.post/1", "cid": "x"},
            "facets": [{"features": [{"did": "did:plc:b"}, {"did": "did:plc:b"}]}],
            "note": "did you know", "who": "did:plc:c"
        }))
        .unwrap();
        let got: Vec<(String, String)> = extract(&v).into_iter().map(|l| (l.path, l.target)).collect();
        assert_eq!(
            got,
            [
                (".facets[].features[].did".into(), "did:plc:b".into()),
                (".subject.uri".into(), "at://did:plc:a/app.bsky.feed.post/1".into()),
                (".who".into(), "did:plc:c".into())
            ]
        );
    }
}
