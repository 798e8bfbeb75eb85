//! References to definitions: the three written forms in schemas (`#local`, `nsid`,
//! `nsid#def`), their one canonical form ([`DefRef`]), and matching data `$type` values
//! against them.
//!
//! `nsid` alone means `nsid#main`, so `app.bsky.embed.images`, `app.bsky.embed.images#main`
//! and (inside that document) `#main` are the same [`DefRef`].

use std::fmt;

use crate::syntax::Nsid;

/// The name of the definition an NSID alone refers to.
pub const MAIN: &str = "main";

/// A resolved reference to one definition: the document's NSID and the definition's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefRef {
    nsid: String,
    name: String,
}

impl DefRef {
    /// A reference from a schema, resolved against `base`, the `id` of the document it is
    /// written in (only `#local` references use it).
    pub fn parse(reference: &str, base: &str) -> Result<DefRef, String> {
        let (nsid, name) = match reference.split_once('#') {
            Some(("", name)) => (base, name),
            Some((nsid, name)) => (nsid, name),
            None => (reference, MAIN),
        };
        if nsid.parse::<Nsid>().is_err() {
            return Err(format!("reference {reference:?} does not name a valid NSID"));
        }
        if !is_def_name(name) {
            return Err(format!("reference {reference:?} has an invalid definition name"));
        }
        Ok(DefRef { nsid: nsid.to_owned(), name: name.to_owned() })
    }

    /// The definition a data `$type` value names (`nsid` or `nsid#def`; never `#local`), or
    /// `None` if it is not of that form.
    pub fn from_type(ty: &str) -> Option<DefRef> {
        if ty.starts_with('#') {
            return None;
        }
        DefRef::parse(ty, "").ok()
    }

    /// The NSID of the document holding the definition.
    pub fn nsid(&self) -> &str {
        &self.nsid
    }

    /// The definition's name within its document (`main` for an NSID alone).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a document's `main` definition.
    pub fn is_main(&self) -> bool {
        self.name == MAIN
    }
}

/// `nsid` for a `main` definition, else `nsid#name` (the form `$type` values take).
impl fmt::Display for DefRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_main() {
            f.write_str(&self.nsid)
        } else {
            write!(f, "{}#{}", self.nsid, self.name)
        }
    }
}

/// Whether `name` can name a definition: 1–128 ASCII letters, digits, `_` or `-`.
pub fn is_def_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_resolve_to_one_canonical_ref() {
        let base = "app.bsky.embed.images";
        let a = DefRef::parse("#main", base).unwrap();
        let b = DefRef::parse("app.bsky.embed.images", "x.y.z").unwrap();
        let c = DefRef::parse("app.bsky.embed.images#main", "x.y.z").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.to_string(), "app.bsky.embed.images");
        let local = DefRef::parse("#image", base).unwrap();
        assert_eq!((local.nsid(), local.name()), (base, "image"));
        assert_eq!(local.to_string(), "app.bsky.embed.images#image");
    }

    #[test]
    fn bad_references_are_refused() {
        for r in ["", "#", "nope", "a.b.c#", "a.b.c#x#y", "one-two-three", "a.b.c#bad name"] {
            assert!(DefRef::parse(r, "x.y.z").is_err(), "{r:?} accepted");
        }
        assert_eq!(DefRef::from_type("#main"), None);
        assert_eq!(DefRef::from_type("a.b.c#main"), DefRef::from_type("a.b.c"));
    }
}
