//! Reading a schema document from JSON into the typed model ([`super::schema`]), refusing
//! documents that are not valid Lexicon with an error naming the place and the rule.
//!
//! Rules enforced: `lexicon` is 1; `id` is an NSID; `defs` is an object of valid names;
//! record, query, procedure, subscription and permission-set appear only as `main`; `ref`,
//! `union`, `unknown` and `params` never appear as a named definition; each type appears only
//! where the spec allows it (e.g. `params` properties are booleans, integers, strings,
//! unknowns or arrays of those); a record's `record` is an object schema; an object's
//! `required` names are among its `properties`; string formats and record keys are known
//! ones; every reference is well formed. Every known field must have the right JSON type;
//! fields this model does not know (descriptions in other languages, future additions) are
//! ignored. Nesting is bounded, so hostile documents cannot exhaust the stack.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::LexiconError;
use super::formats::StringFormat;
use super::record_key::RecordKeyType;
use super::reference::{is_def_name, DefRef, MAIN};
use super::schema::{
    ArraySchema, BlobSchema, Body, BooleanSchema, BytesSchema, Def, Field, IntegerSchema, LexiconDoc, ObjectSchema, Permission, PermissionSetDef, RecordDef,
    StringSchema, SubscriptionDef, UnionSchema, XrpcDef,
};
use crate::syntax::Nsid;

/// How deeply schemas may nest (objects in arrays in objects …).
const MAX_SCHEMA_DEPTH: usize = 64;

/// A refusal: where in the document, and why.
struct Fail {
    path: String,
    message: String,
}

type R<T> = Result<T, Fail>;

fn fail<T>(path: &str, message: impl Into<String>) -> R<T> {
    Err(Fail { path: path.to_owned(), message: message.into() })
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}/{key}")
    }
}

/// Parses and checks one schema document.
pub fn parse_doc(value: &Value) -> Result<LexiconDoc, LexiconError> {
    let id_hint = value.get("id").and_then(Value::as_str).unwrap_or("?").to_owned();
    doc(value).map_err(|f| LexiconError::InvalidLexicon { id: id_hint, path: f.path, message: f.message })
}

fn doc(value: &Value) -> R<LexiconDoc> {
    let Some(m) = value.as_object() else {
        return fail("", "a lexicon document must be a JSON object");
    };
    match m.get("lexicon") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => return fail("lexicon", "must be the integer 1"),
        None => return fail("", "missing \"lexicon\" (the language version, 1)"),
    }
    let id = match m.get("id") {
        Some(Value::String(s)) => s.parse::<Nsid>().map_err(|e| Fail { path: "id".into(), message: e.to_string() })?,
        Some(_) => return fail("id", "must be a string (an NSID)"),
        None => return fail("", "missing \"id\""),
    };
    let revision = opt_int(m, "revision", "")?;
    let description = opt_string(m, "description", "")?;
    let defs_value = m.get("defs").ok_or_else(|| Fail { path: String::new(), message: "missing \"defs\"".into() })?;
    let Some(defs_map) = defs_value.as_object() else {
        return fail("defs", "must be an object");
    };
    let parser = Parser { id: id.as_str() };
    let mut defs = BTreeMap::new();
    for (name, def) in defs_map {
        let path = format!("defs/{name}");
        if !is_def_name(name) {
            return fail(&path, "definition names are 1-128 ASCII letters, digits, '_' or '-'");
        }
        defs.insert(name.clone(), parser.def(name, def, &path)?);
    }
    Ok(LexiconDoc { id, revision, description, defs })
}

/// Where a schema appears, which decides the types allowed there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A named definition (not a primary type, not a token).
    Def,
    /// An object property or array item.
    Data,
    /// A `params` property.
    Param,
    /// The items of a `params` array.
    ParamItem,
    /// The schema of an XRPC body or subscription message.
    Body,
}

impl Place {
    fn allows(self, ty: &str) -> bool {
        match self {
            Place::Def => {
                matches!(ty, "boolean" | "integer" | "string" | "bytes" | "cid-link" | "blob" | "array" | "object")
            }
            Place::Data => {
                matches!(ty, "null" | "boolean" | "integer" | "string" | "bytes" | "cid-link" | "blob" | "array" | "object" | "ref" | "union" | "unknown")
            }
            Place::Param => matches!(ty, "boolean" | "integer" | "string" | "unknown" | "array"),
            Place::ParamItem => matches!(ty, "boolean" | "integer" | "string" | "unknown"),
            Place::Body => matches!(ty, "object" | "ref" | "union"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Place::Def => "a named definition",
            Place::Data => "a property or array item",
            Place::Param => "a params property",
            Place::ParamItem => "a params array item",
            Place::Body => "a body or message schema",
        }
    }
}

const PRIMARY: [&str; 5] = ["record", "query", "procedure", "subscription", "permission-set"];

struct Parser<'a> {
    /// The document's NSID, against which `#local` references resolve.
    id: &'a str,
}

impl Parser<'_> {
    fn def(&self, name: &str, value: &Value, path: &str) -> R<Def> {
        let m = object(value, path)?;
        let ty = type_of(m, path)?;
        if PRIMARY.contains(&ty) && name != MAIN {
            return fail(path, format!("a {ty} must be the main definition"));
        }
        Ok(match ty {
            "record" => Def::Record(self.record(m, path)?),
            "query" => Def::Query(self.xrpc(m, path, false)?),
            "procedure" => Def::Procedure(self.xrpc(m, path, true)?),
            "subscription" => Def::Subscription(self.subscription(m, path)?),
            "permission-set" => Def::PermissionSet(permission_set(m, path)?),
            "token" => Def::Token,
            _ => Def::Field(self.field(value, path, Place::Def, 0)?),
        })
    }

    fn record(&self, m: &Map<String, Value>, path: &str) -> R<RecordDef> {
        let key = match opt_string(m, "key", path)? {
            None => RecordKeyType::Any,
            Some(k) => RecordKeyType::parse(&k).ok_or_else(|| Fail {
                path: child(path, "key"),
                message: format!("unknown record key type {k:?} (expected tid, nsid, any or literal:<key>)"),
            })?,
        };
        let rpath = child(path, "record");
        let rv = m.get("record").ok_or_else(|| Fail { path: path.into(), message: "missing \"record\"".into() })?;
        let rm = object(rv, &rpath)?;
        match rm.get("type") {
            Some(Value::String(t)) if t == "object" => {}
            _ => return fail(&rpath, "a record's schema must be an object schema (\"type\": \"object\")"),
        }
        Ok(RecordDef { key, record: self.object(rm, &rpath, 0)? })
    }

    fn xrpc(&self, m: &Map<String, Value>, path: &str, has_input: bool) -> R<XrpcDef> {
        let input = if has_input { self.opt_body(m, "input", path)? } else { None };
        Ok(XrpcDef { parameters: self.opt_params(m, path)?, input, output: self.opt_body(m, "output", path)?, errors: errors(m, path)? })
    }

    fn subscription(&self, m: &Map<String, Value>, path: &str) -> R<SubscriptionDef> {
        let message = match m.get("message") {
            None => None,
            Some(v) => {
                let mpath = child(path, "message");
                let mm = object(v, &mpath)?;
                match mm.get("schema") {
                    None => None,
                    Some(s) => Some(self.field(s, &child(&mpath, "schema"), Place::Body, 0)?),
                }
            }
        };
        Ok(SubscriptionDef { parameters: self.opt_params(m, path)?, message, errors: errors(m, path)? })
    }

    fn opt_params(&self, m: &Map<String, Value>, path: &str) -> R<Option<ObjectSchema>> {
        let Some(v) = m.get("parameters") else { return Ok(None) };
        let ppath = child(path, "parameters");
        let pm = object(v, &ppath)?;
        if type_of(pm, &ppath)? != "params" {
            return fail(&ppath, "must be of type params");
        }
        self.properties(pm, &ppath, Place::Param, 0).map(Some)
    }

    fn opt_body(&self, m: &Map<String, Value>, key: &str, path: &str) -> R<Option<Body>> {
        let Some(v) = m.get(key) else { return Ok(None) };
        let bpath = child(path, key);
        let bm = object(v, &bpath)?;
        let encoding = opt_string(bm, "encoding", &bpath)?.ok_or_else(|| Fail { path: bpath.clone(), message: "missing \"encoding\"".into() })?;
        let schema = match bm.get("schema") {
            None => None,
            Some(s) => Some(self.field(s, &child(&bpath, "schema"), Place::Body, 0)?),
        };
        opt_string(bm, "description", &bpath)?;
        Ok(Some(Body { encoding, schema }))
    }

    /// A data schema of a type allowed at `place`.
    fn field(&self, value: &Value, path: &str, place: Place, depth: usize) -> R<Field> {
        if depth > MAX_SCHEMA_DEPTH {
            return fail(path, "schema nested too deeply");
        }
        let m = object(value, path)?;
        let ty = type_of(m, path)?;
        if !place.allows(ty) {
            let known = Place::Data.allows(ty) || PRIMARY.contains(&ty) || matches!(ty, "token" | "params");
            return if known { fail(path, format!("type {ty:?} is not allowed as {}", place.describe())) } else { fail(path, format!("unknown type {ty:?}")) };
        }
        opt_string(m, "description", path)?;
        Ok(match ty {
            "null" => Field::Null,
            "boolean" => Field::Boolean(BooleanSchema { default: opt_bool(m, "default", path)?, const_value: opt_bool(m, "const", path)? }),
            "integer" => Field::Integer(IntegerSchema {
                default: opt_int(m, "default", path)?,
                minimum: opt_int(m, "minimum", path)?,
                maximum: opt_int(m, "maximum", path)?,
                enum_values: opt_list(m, "enum", path, |v| as_int(v).ok_or("an integer"))?,
                const_value: opt_int(m, "const", path)?,
            }),
            "string" => Field::String(string(m, path)?),
            "bytes" => Field::Bytes(BytesSchema { min_length: opt_uint(m, "minLength", path)?, max_length: opt_uint(m, "maxLength", path)? }),
            "cid-link" => Field::CidLink,
            "blob" => Field::Blob(BlobSchema {
                accept: opt_list(m, "accept", path, |v| v.as_str().map(str::to_owned).ok_or("a string"))?,
                max_size: opt_uint(m, "maxSize", path)?,
            }),
            "array" => {
                let ipath = child(path, "items");
                let items = m.get("items").ok_or_else(|| Fail { path: path.into(), message: "missing \"items\"".into() })?;
                let item_place = if matches!(place, Place::Param) { Place::ParamItem } else { Place::Data };
                Field::Array(Box::new(ArraySchema {
                    items: self.field(items, &ipath, item_place, depth + 1)?,
                    min_length: opt_uint(m, "minLength", path)?,
                    max_length: opt_uint(m, "maxLength", path)?,
                }))
            }
            "object" => Field::Object(self.object(m, path, depth)?),
            "ref" => {
                let r = opt_string(m, "ref", path)?.ok_or_else(|| Fail { path: path.into(), message: "missing \"ref\"".into() })?;
                Field::Ref(self.reference(&r, &child(path, "ref"))?)
            }
            "union" => {
                let refs = m.get("refs").ok_or_else(|| Fail { path: path.into(), message: "missing \"refs\"".into() })?;
                let rpath = child(path, "refs");
                let Some(list) = refs.as_array() else { return fail(&rpath, "must be an array of strings") };
                let mut out = Vec::with_capacity(list.len());
                for (i, r) in list.iter().enumerate() {
                    let ipath = child(&rpath, &i.to_string());
                    let Some(r) = r.as_str() else { return fail(&ipath, "must be a string") };
                    out.push(self.reference(r, &ipath)?);
                }
                Field::Union(UnionSchema { refs: out, closed: opt_bool(m, "closed", path)?.unwrap_or(false) })
            }
            _ => Field::Unknown, // "unknown"; other names were refused by `place.allows`
        })
    }

    fn object(&self, m: &Map<String, Value>, path: &str, depth: usize) -> R<ObjectSchema> {
        let mut o = self.properties(m, path, Place::Data, depth)?;
        o.nullable = opt_list(m, "nullable", path, |v| v.as_str().map(str::to_owned).ok_or("a string"))?.unwrap_or_default();
        Ok(o)
    }

    /// The `properties` and `required` of an object or params schema.
    fn properties(&self, m: &Map<String, Value>, path: &str, place: Place, depth: usize) -> R<ObjectSchema> {
        let ppath = child(path, "properties");
        let props = m.get("properties").ok_or_else(|| Fail { path: path.into(), message: "missing \"properties\"".into() })?;
        let props = object(props, &ppath)?;
        let mut properties = BTreeMap::new();
        for (k, v) in props {
            properties.insert(k.clone(), self.field(v, &child(&ppath, k), place, depth + 1)?);
        }
        let required = opt_list(m, "required", path, |v| v.as_str().map(str::to_owned).ok_or("a string"))?.unwrap_or_default();
        if let Some(missing) = required.iter().find(|r| !properties.contains_key(*r)) {
            return fail(&child(path, "required"), format!("required property {missing:?} is not among the properties"));
        }
        Ok(ObjectSchema { required, nullable: Vec::new(), properties })
    }

    fn reference(&self, r: &str, path: &str) -> R<DefRef> {
        DefRef::parse(r, self.id).map_err(|message| Fail { path: path.into(), message })
    }
}

fn string(m: &Map<String, Value>, path: &str) -> R<StringSchema> {
    let format = match opt_string(m, "format", path)? {
        None => None,
        Some(f) => Some(StringFormat::from_name(&f).ok_or_else(|| Fail { path: child(path, "format"), message: format!("unknown string format {f:?}") })?),
    };
    let strings = |key| opt_list(m, key, path, |v| v.as_str().map(str::to_owned).ok_or("a string"));
    Ok(StringSchema {
        format,
        default: opt_string(m, "default", path)?,
        min_length: opt_uint(m, "minLength", path)?,
        max_length: opt_uint(m, "maxLength", path)?,
        min_graphemes: opt_uint(m, "minGraphemes", path)?,
        max_graphemes: opt_uint(m, "maxGraphemes", path)?,
        enum_values: strings("enum")?,
        const_value: opt_string(m, "const", path)?,
        known_values: strings("knownValues")?.unwrap_or_default(),
    })
}

fn permission_set(m: &Map<String, Value>, path: &str) -> R<PermissionSetDef> {
    let title = opt_string(m, "title", path)?;
    let detail = opt_string(m, "detail", path)?;
    let ppath = child(path, "permissions");
    let Some(list) = m.get("permissions") else { return fail(path, "missing \"permissions\"") };
    let Some(list) = list.as_array() else { return fail(&ppath, "must be an array") };
    let mut permissions = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let ipath = child(&ppath, &i.to_string());
        let pm = object(p, &ipath)?;
        if type_of(pm, &ipath)? != "permission" {
            return fail(&ipath, "must be of type permission");
        }
        let resource = opt_string(pm, "resource", &ipath)?.ok_or_else(|| Fail { path: ipath, message: "missing \"resource\"".into() })?;
        let mut fields = pm.clone();
        fields.remove("type");
        fields.remove("resource");
        permissions.push(Permission { resource, fields });
    }
    Ok(PermissionSetDef { title, detail, permissions })
}

fn errors(m: &Map<String, Value>, path: &str) -> R<Vec<String>> {
    let Some(v) = m.get("errors") else { return Ok(Vec::new()) };
    let epath = child(path, "errors");
    let Some(list) = v.as_array() else { return fail(&epath, "must be an array") };
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let ipath = child(&epath, &i.to_string());
        let em = object(e, &ipath)?;
        out.push(opt_string(em, "name", &ipath)?.ok_or_else(|| Fail { path: ipath, message: "missing \"name\"".into() })?);
    }
    Ok(out)
}

// JSON helpers: each names the offending key in its error.

fn object<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| Fail { path: path.into(), message: "must be an object".into() })
}

fn type_of<'a>(m: &'a Map<String, Value>, path: &str) -> R<&'a str> {
    match m.get("type") {
        Some(Value::String(t)) => Ok(t),
        Some(_) => fail(&child(path, "type"), "must be a string"),
        None => fail(path, "missing \"type\""),
    }
}

fn opt_string(m: &Map<String, Value>, key: &str, path: &str) -> R<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => fail(&child(path, key), "must be a string"),
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str, path: &str) -> R<Option<bool>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => fail(&child(path, key), "must be a boolean"),
    }
}

fn as_int(v: &Value) -> Option<i64> {
    super::data::integer(v)
}

fn opt_int(m: &Map<String, Value>, key: &str, path: &str) -> R<Option<i64>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => as_int(v).map(Some).ok_or_else(|| Fail { path: child(path, key), message: "must be an integer".into() }),
    }
}

fn opt_uint(m: &Map<String, Value>, key: &str, path: &str) -> R<Option<u64>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => as_int(v)
            .and_then(|i| u64::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| Fail { path: child(path, key), message: "must be a non-negative integer".into() }),
    }
}

fn opt_list<T>(m: &Map<String, Value>, key: &str, path: &str, item: impl Fn(&Value) -> Result<T, &'static str>) -> R<Option<Vec<T>>> {
    let Some(v) = m.get(key) else { return Ok(None) };
    let lpath = child(path, key);
    let Some(list) = v.as_array() else { return fail(&lpath, "must be an array") };
    list.iter()
        .enumerate()
        .map(|(i, v)| item(v).map_err(|what| Fail { path: child(&lpath, &i.to_string()), message: format!("must be {what}") }))
        .collect::<R<Vec<T>>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(doc: Value) -> String {
        parse_doc(&doc).unwrap_err().to_string()
    }

    fn with_def(def: Value) -> Value {
        json!({"lexicon": 1, "id": "com.example.test", "defs": {"main": def}})
    }

    #[test]
    fn refusals_name_the_place() {
        let e = refused(with_def(json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": -1}}})));
        assert!(e.contains("defs/main/properties/a/maxLength"), "{e}");
        let e = refused(with_def(json!({"type": "object", "required": ["b"], "properties": {}})));
        assert!(e.contains("\"b\" is not among the properties"), "{e}");
        let e = refused(with_def(json!({"type": "string", "format": "email"})));
        assert!(e.contains("unknown string format"), "{e}");
        let e = refused(with_def(json!({"type": "record", "key": "uuid", "record": {"type": "object", "properties": {}}})));
        assert!(e.contains("record key type"), "{e}");
        let e = refused(with_def(json!({"type": "union", "refs": []})));
        assert!(e.contains("not allowed as a named definition"), "{e}");
        let e = refused(with_def(json!({"type": "object", "properties": {"u": {"type": "union", "refs": ["#bad name"]}}})));
        assert!(e.contains("defs/main/properties/u/refs/0"), "{e}");
        let e = refused(with_def(json!({"type": "query", "parameters": {"type": "params", "properties": {"o": {"type": "object", "properties": {}}}}})));
        assert!(e.contains("not allowed as a params property"), "{e}");
        let e = refused(with_def(json!({"type": "object", "properties": {"t": {"type": "token"}}})));
        assert!(e.contains("not allowed as a property"), "{e}");
        assert!(refused(json!([])).contains("must be a JSON object"));
    }

    #[test]
    fn local_refs_resolve_against_the_document() {
        let doc = parse_doc(&with_def(json!({"type": "object", "properties": {"r": {"type": "ref", "ref": "#other"}}}))).unwrap();
        let Some(Def::Field(Field::Object(o))) = doc.main() else { panic!("{doc:?}") };
        assert_eq!(o.properties["r"], Field::Ref(DefRef::parse("com.example.test#other", "").unwrap()));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut items = json!({"type": "integer"});
        for _ in 0..1_000 {
            items = json!({"type": "array", "items": items});
        }
        let e = refused(with_def(items));
        assert!(e.contains("nested too deeply"), "{e}");
    }
}
