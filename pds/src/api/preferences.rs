//! `app.bsky.actor.getPreferences` / `putPreferences`: an account's private app settings,
//! kept by the PDS itself (never forwarded to the AppView), in the `accounts` column family
//! under `prefs:<did>`.

use atproto::xrpc::XrpcError;
use rocksdb::WriteBatch;
use serde_json::{json, Value};

use super::server::authed_account;
use super::{internal, ok_empty, ok_json, Req, XrpcResult};
use crate::state::AppState;
use crate::store::CF_ACCOUNTS;

/// Readable and writable only with the account password, not an app password.
const PERSONAL_DETAILS: &str = "app.bsky.actor.defs#personalDetailsPref";
const NAMESPACE: &str = "app.bsky";

pub fn key(did: &str) -> String {
    format!("prefs:{did}")
}

fn pref_type(p: &Value) -> Option<&str> {
    p.get("$type").and_then(Value::as_str)
}

fn stored(s: &AppState, did: &str) -> Result<Vec<Value>, XrpcError> {
    Ok(s.store.get_json(CF_ACCOUNTS, key(did)).map_err(internal)?.unwrap_or_default())
}

pub async fn get_preferences(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    authed_account(s, &access, false)?;
    let full = !access.is_app_password();
    let prefs: Vec<Value> = stored(s, &access.did)?.into_iter().filter(|p| full || pref_type(p) != Some(PERSONAL_DETAILS)).collect();
    ok_json(json!({"preferences": prefs}))
}

pub async fn put_preferences(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    authed_account(s, &access, false)?;
    let input: Value = req.json()?;
    let prefs = input.get("preferences").and_then(Value::as_array).ok_or_else(|| XrpcError::invalid_request("Input must have the property \"preferences\""))?;
    let full = !access.is_app_password();
    for p in prefs {
        let Some(t) = pref_type(p) else {
            return Err(XrpcError::invalid_request("Preference is missing a $type"));
        };
        if !t.starts_with(&format!("{NAMESPACE}.")) {
            return Err(XrpcError::invalid_request(format!("Some preferences are not in the {NAMESPACE} namespace")));
        }
        if t == PERSONAL_DETAILS && !full {
            return Err(XrpcError::invalid_request("Do not have authorization to set preferences."));
        }
    }
    // An app password cannot see personal details, so its put keeps them.
    let mut next: Vec<Value> = if full { Vec::new() } else { stored(s, &access.did)?.into_iter().filter(|p| pref_type(p) == Some(PERSONAL_DETAILS)).collect() };
    next.extend(prefs.iter().cloned());
    let mut batch = WriteBatch::default();
    s.store.put_json(&mut batch, CF_ACCOUNTS, key(&access.did), &next);
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}
