//! Walking record data against its schema: objects, arrays, refs and unions, following refs
//! through the catalog and handing single values to [`super::scalars`] and [`super::blob`].
//!
//! Errors carry the path from `Record` (`Record/embed/images/0/alt`). Rules beyond the
//! per-type ones:
//! - an object's properties not in its schema are allowed and not checked; a property that
//!   is `null` is accepted only when listed in `nullable`, and a missing one only when not
//!   `required`;
//! - a union value must be an object with a string `$type`; a `$type` among the refs (`nsid`
//!   and `nsid#main` are the same) is validated against that definition; any other `$type` is
//!   refused by a closed union and accepted unchecked by an open one;
//! - a plain ref to an object may omit `$type`; when present it must name that object;
//! - recursion is bounded by [`crate::cbor::MAX_DEPTH`], so hostile data cannot exhaust the
//!   stack.

use serde_json::{Map, Value};

use super::blob;
use super::catalog::Lexicons;
use super::error::ValidationError;
use super::reference::DefRef;
use super::scalars;
use super::schema::{ArraySchema, Def, Field, ObjectSchema, RecordDef, UnionSchema};
use crate::cbor::MAX_DEPTH;

/// The root of every record path.
pub const RECORD_PATH: &str = "Record";

/// Validates record data against its record definition; `collection` is the NSID the record
/// is stored under, which `$type` must equal when present.
pub(crate) fn record(lex: &Lexicons, collection: &str, def: &RecordDef, value: &Value) -> Result<(), ValidationError> {
    let mut w = Walker { lex, path: RECORD_PATH.to_owned() };
    let Some(map) = value.as_object() else {
        return Err(w.fail("must be an object"));
    };
    match map.get("$type") {
        None => {}
        Some(Value::String(t)) if t == collection => {}
        Some(t) => {
            let message = match t {
                Value::String(t) => format!("must be {collection}, got {t:?}"),
                _ => "must be a string".to_owned(),
            };
            return Err(w.at("$type", |w| w.fail(message)));
        }
    }
    w.object(&def.record, map, 0)
}

/// Validates any data against a field schema (a query's output body, say); errors carry paths
/// from `root`.
pub(crate) fn data(lex: &Lexicons, root: &str, schema: &Field, value: &Value) -> Result<(), ValidationError> {
    Walker { lex, path: root.to_owned() }.field(schema, value, 0)
}

struct Walker<'a> {
    lex: &'a Lexicons,
    /// Where the value being checked is.
    path: String,
}

impl Walker<'_> {
    fn fail(&self, message: impl Into<String>) -> ValidationError {
        ValidationError { path: self.path.clone(), message: message.into() }
    }

    /// Runs `f` with `key` appended to the path.
    fn at<T>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let len = self.path.len();
        self.path.push('/');
        self.path.push_str(key);
        let out = f(self);
        self.path.truncate(len);
        out
    }

    fn field(&mut self, schema: &Field, value: &Value, depth: usize) -> Result<(), ValidationError> {
        if depth > MAX_DEPTH {
            return Err(self.fail(format!("is nested deeper than {MAX_DEPTH} levels")));
        }
        let checked = match schema {
            Field::Null => scalars::null(value),
            Field::Boolean(s) => scalars::boolean(s, value),
            Field::Integer(s) => scalars::integer(s, value),
            Field::String(s) => scalars::string(s, value),
            Field::Bytes(s) => scalars::bytes(s, value),
            Field::CidLink => scalars::cid_link(value),
            Field::Blob(s) => blob::check(s, value),
            Field::Unknown => scalars::unknown(value),
            Field::Array(a) => return self.array(a, value, depth),
            Field::Object(o) => {
                return match value.as_object() {
                    Some(m) => self.object(o, m, depth),
                    None => Err(self.fail("must be an object")),
                }
            }
            Field::Ref(r) => return self.reference(r, value, depth),
            Field::Union(u) => return self.union(u, value, depth),
        };
        checked.map_err(|m| self.fail(m))
    }

    fn array(&mut self, a: &ArraySchema, value: &Value, depth: usize) -> Result<(), ValidationError> {
        let Some(items) = value.as_array() else {
            return Err(self.fail("must be an array"));
        };
        let len = items.len() as u64;
        if let Some(max) = a.max_length {
            if len > max {
                return Err(self.fail(format!("must not have more than {max} elements")));
            }
        }
        if let Some(min) = a.min_length {
            if len < min {
                return Err(self.fail(format!("must not have fewer than {min} elements")));
            }
        }
        for (i, item) in items.iter().enumerate() {
            self.at(&i.to_string(), |w| w.field(&a.items, item, depth + 1))?;
        }
        Ok(())
    }

    fn object(&mut self, o: &ObjectSchema, map: &Map<String, Value>, depth: usize) -> Result<(), ValidationError> {
        for (key, schema) in &o.properties {
            match map.get(key) {
                None if o.required.contains(key) => {
                    return Err(self.fail(format!("must have the property {key:?}")));
                }
                None => {}
                Some(Value::Null) if o.nullable.contains(key) => {}
                Some(v) => self.at(key, |w| w.field(schema, v, depth + 1))?,
            }
        }
        Ok(())
    }

    /// A value that must match the definition `target` refers to.
    fn reference(&mut self, target: &DefRef, value: &Value, depth: usize) -> Result<(), ValidationError> {
        let Some(def) = self.lex.def(target) else {
            return Err(self.fail(format!("refers to {target}, which is not a loaded lexicon definition")));
        };
        match def {
            Def::Field(Field::Object(o)) => self.typed_object(target, o, value, depth),
            Def::Record(r) => self.typed_object(target, &r.record, value, depth),
            Def::Field(f) => self.field(f, value, depth + 1),
            other => Err(self.fail(format!("refers to {target}, a {}, which cannot describe data", other.type_name()))),
        }
    }

    /// An object reached through a ref, whose `$type` (optional) must name `target`.
    fn typed_object(&mut self, target: &DefRef, o: &ObjectSchema, value: &Value, depth: usize) -> Result<(), ValidationError> {
        let Some(map) = value.as_object() else {
            return Err(self.fail("must be an object"));
        };
        match map.get("$type") {
            None => {}
            Some(Value::String(t)) if DefRef::from_type(t).as_ref() == Some(target) => {}
            Some(t) => {
                let message = match t {
                    Value::String(t) => format!("must be {target}, got {t:?}"),
                    _ => "must be a string".to_owned(),
                };
                return Err(self.at("$type", |w| w.fail(message)));
            }
        }
        self.object(o, map, depth + 1)
    }

    fn union(&mut self, u: &UnionSchema, value: &Value, depth: usize) -> Result<(), ValidationError> {
        let ty = match value.as_object().and_then(|m| m.get("$type")) {
            Some(Value::String(t)) => t,
            _ => return Err(self.fail("must be an object which includes the \"$type\" property")),
        };
        let matched = DefRef::from_type(ty).and_then(|ty| u.refs.iter().find(|r| **r == ty));
        match matched {
            Some(r) => self.reference(r, value, depth + 1),
            None if u.closed => {
                let refs: Vec<String> = u.refs.iter().map(DefRef::to_string).collect();
                Err(self.fail(format!("$type must be one of {}, got {ty:?}", refs.join(", "))))
            }
            None => Ok(()),
        }
    }
}
