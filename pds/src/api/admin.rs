//! Operator endpoints (`com.atproto.admin.*`) behind basic auth `admin:PDS_ADMIN_PASSWORD`,
//! used by `pds admin`.

use atproto::xrpc::XrpcError;
use rocksdb::WriteBatch;
use serde::Deserialize;
use serde_json::{json, Value};

use super::server::{account_event, invite_codes_json, set_status};
use super::{internal, ok_empty, ok_json, Req, XrpcResult};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::DbBlocks;

fn account_info(s: &AppState, a: &Account) -> Result<Value, XrpcError> {
    let invites = s.store.invite_codes_for(&a.did).map_err(internal)?;
    let mut v = json!({
        "did": a.did,
        "handle": a.handle,
        "email": a.email,
        "indexedAt": a.created_at,
        "invitesDisabled": false,
        "invites": invite_codes_json(&invites),
    });
    if let Some(code) = &a.invite_code {
        if let Some(c) = s.store.invite_code(code).map_err(internal)? {
            v["invitedBy"] = invite_codes_json(&[c])[0].clone();
        }
    }
    if a.status.as_deref() == Some("deactivated") {
        v["deactivatedAt"] = a.created_at.clone().into();
    }
    Ok(v)
}

fn find(s: &AppState, did: &str) -> Result<Account, XrpcError> {
    s.store.account(did).map_err(internal)?.ok_or_else(|| XrpcError::not_found("Account not found"))
}

pub async fn get_account_info(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let account = find(s, req.params.required("did")?)?;
    ok_json(account_info(s, &account)?)
}

pub async fn get_account_infos(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let mut infos = Vec::new();
    for did in req.params.all("dids") {
        if let Some(a) = s.store.account(did).map_err(internal)? {
            infos.push(account_info(s, &a)?);
        }
    }
    ok_json(json!({"infos": infos}))
}

/// Accounts in DID order (optionally only those with `email`), paged by DID.
pub async fn search_accounts(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let limit = req.params.limit(50, 100)?;
    let email = req.params.get("email").map(str::to_ascii_lowercase);
    let mut cursor = req.params.get("cursor").map(str::to_string);
    let mut accounts = Vec::new();
    'pages: loop {
        let page = s.store.list_accounts(cursor.as_deref(), 500).map_err(internal)?;
        let done = page.len() < 500;
        for a in page {
            cursor = Some(a.did.clone());
            if email.as_deref().is_none_or(|e| a.email.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(e))) {
                accounts.push(account_info(s, &a)?);
                if accounts.len() == limit {
                    break 'pages;
                }
            }
        }
        if done {
            break;
        }
    }
    let mut out = json!({"accounts": accounts});
    if accounts.len() == limit {
        out["cursor"] = cursor.into();
    }
    ok_json(out)
}

#[derive(Deserialize)]
struct DidInput {
    did: String,
}

/// Removes the account, its repository, records index and blobs; emits `#account deleted`.
pub async fn delete_account(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let input: DidInput = req.json()?;
    let account = find(s, &input.did)?;
    remove_account(s, &account, WriteBatch::default()).await?;
    ok_empty()
}

/// Deletes everything `account` has here in one batch (with the caller's `batch` rows), emits
/// `#account deleted`, and removes its blob files.
pub async fn remove_account(s: &AppState, account: &Account, mut batch: WriteBatch) -> Result<(), XrpcError> {
    let did = account.did.clone();
    let mut repo = s.repos.exclusive(&did).await;
    DbBlocks::new(s.store.db.clone(), &did).delete_all(&mut batch);
    s.store.index_delete_all(&mut batch, &did);
    batch.delete_cf(s.store.cf(crate::store::CF_REPOS), &did);
    for (cid, _) in s.store.list_blobs(&did, None, usize::MAX).map_err(internal)? {
        s.store.delete_blob(&mut batch, &did, &cid);
    }
    s.store.delete_account(&mut batch, account);
    s.store.commit(batch, vec![account_event(&did, false, Some("deleted"))]).await?;
    *repo = None;
    drop(repo);
    let _ = tokio::fs::remove_dir_all(s.config.blobstore_location.join(&did)).await;
    tracing::info!(%did, "account deleted");
    Ok(())
}

#[derive(Deserialize)]
struct PasswordInput {
    did: String,
    password: String,
}

pub async fn update_account_password(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let input: PasswordInput = req.json()?;
    let account = find(s, &input.did)?;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&input.password)).await.map_err(internal)?;
    let mut updated = account.clone();
    updated.password_hash = hash;
    let mut batch = WriteBatch::default();
    s.store.put_account(&mut batch, &updated, Some(&account));
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}

fn subject_did(subject: &Value) -> Result<&str, XrpcError> {
    subject.get("did").and_then(Value::as_str).ok_or_else(|| XrpcError::invalid_request("Only repoRef subjects are supported"))
}

/// Takedown (and reversal) of an account: `takedown.applied` sets status `takendown`.
pub async fn update_subject_status(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let input: Value = req.json()?;
    let subject = input.get("subject").ok_or_else(|| XrpcError::invalid_request("Input must have the property \"subject\""))?;
    let account = find(s, subject_did(subject)?)?;
    if let Some(takedown) = input.get("takedown") {
        let applied = takedown.get("applied").and_then(Value::as_bool).unwrap_or(false);
        match (applied, account.status.as_deref()) {
            (true, Some("takendown")) | (false, None) | (false, Some("deactivated")) => {}
            (true, _) => set_status(s, &account, Some("takendown")).await?,
            (false, Some(_)) => set_status(s, &account, None).await?,
        }
    }
    ok_json(json!({"subject": subject, "takedown": input.get("takedown")}))
}

pub async fn get_subject_status(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let did = req.params.required("did")?;
    let account = find(s, did)?;
    ok_json(json!({
        "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did},
        "takedown": {"applied": account.status.as_deref() == Some("takendown")},
    }))
}

#[derive(Deserialize)]
struct DisableInput {
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
}

pub async fn disable_invite_codes(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let input: DisableInput = req.json()?;
    let mut batch = WriteBatch::default();
    for code in &input.codes {
        if let Some(mut c) = s.store.invite_code(code).map_err(internal)? {
            c.disabled = true;
            s.store.put_invite_code(&mut batch, &c);
        }
    }
    for account in &input.accounts {
        for mut c in s.store.invite_codes_for(account).map_err(internal)? {
            c.disabled = true;
            s.store.put_invite_code(&mut batch, &c);
        }
    }
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}

#[derive(Deserialize)]
pub struct BackupInput {
    /// A new or empty directory on the PDS's own filesystem.
    directory: std::path::PathBuf,
}

/// `POST /admin/backup {"directory": D}`: an online backup of the database and the blobs into
/// D, taken while writes go on (see [`crate::backups`]). Sonde's own route beside XRPC, since
/// no lexicon describes backups; behind the admin password like every admin method.
pub async fn backup(
    axum::extract::State(s): axum::extract::State<std::sync::Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::Json<backup::Manifest>, XrpcError> {
    s.auth.admin(&headers)?;
    let input: BackupInput = serde_json::from_slice(&body).map_err(|e| XrpcError::invalid_request(format!("expected {{\"directory\": PATH}}: {e}")))?;
    let state = s.clone();
    let started = std::time::Instant::now();
    let manifest = tokio::task::spawn_blocking(move || crate::backups::backup(&state.store, &state.config.blobstore_location, &input.directory))
        .await
        .map_err(internal)?
        .map_err(|e| match e {
            backup::BackupError::NotEmpty(_) => XrpcError::invalid_request(e.to_string()),
            other => {
                tracing::error!(error = %other, "backup failed");
                XrpcError::new(500, "InternalServerError", Some(format!("backup failed: {other}")))
            }
        })?;
    tracing::info!(high_water = manifest.high_water, blobs = manifest.files, seconds = started.elapsed().as_secs_f64(), "backup taken");
    Ok(axum::Json(manifest))
}
