//! Graph records: follows, blocks, lists and list items.

use atproto::Ipld;
use serde::Deserialize;

use super::{check_type, typed, union_type, Facts, BLOCK, FOLLOW, LIST, LISTITEM};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectDid {
    subject: String,
    #[allow(dead_code)]
    created_at: String,
}

/// The subject DID of a follow or block.
pub fn subject_did(value: &Ipld) -> Result<String, String> {
    let t = union_type(value);
    if t.is_some_and(|t| t != FOLLOW && t != BLOCK) {
        return Err(format!("unexpected $type {t:?}"));
    }
    let r: SubjectDid = typed(value)?;
    r.subject.parse::<atproto::syntax::Did>().map_err(|e| format!("subject: {e}"))?;
    Ok(r.subject)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ListRecord {
    purpose: String,
    name: String,
    created_at: String,
}

pub fn list(value: &Ipld) -> Result<Facts, String> {
    check_type(value, LIST)?;
    typed::<ListRecord>(value)?;
    Ok(Facts::List)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListItemRecord {
    subject: String,
    list: String,
    #[allow(dead_code)]
    created_at: String,
}

pub fn list_item(value: &Ipld) -> Result<Facts, String> {
    check_type(value, LISTITEM)?;
    let r: ListItemRecord = typed(value)?;
    r.subject.parse::<atproto::syntax::Did>().map_err(|e| format!("subject: {e}"))?;
    r.list.parse::<atproto::syntax::AtUri>().map_err(|e| format!("list: {e}"))?;
    Ok(Facts::ListItem { list: r.list, subject: r.subject })
}
