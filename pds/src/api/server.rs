//! `com.atproto.server.*`: accounts, sessions, app passwords, invite codes, account status
//! and service auth.

use std::collections::HashMap;

use atproto::did_doc::DidDocument;
use atproto::firehose::{AccountEvent, IdentityEvent, SubscribeReposFrame};
use atproto::keys::{KeyType, Keypair};
use atproto::plc::PlcState;
use atproto::syntax::Handle;
use atproto::xrpc::XrpcError;
use rocksdb::WriteBatch;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{internal, ok_empty, ok_json, Req, XrpcResult};
use crate::auth::{self, Access};
use crate::repos::now_iso;
use crate::state::AppState;
use crate::store::accounts::{Account, AppPassword, InviteCode, RefreshToken};
use crate::store::EventBody;

// ---------- shared helpers

/// The account behind a handle, email or DID.
pub fn account_by_identifier(s: &AppState, ident: &str) -> Result<Option<Account>, XrpcError> {
    let ident = ident.trim();
    let did = if ident.starts_with("did:") {
        Some(ident.to_string())
    } else if ident.contains('@') {
        s.store.did_for_email(ident).map_err(internal)?
    } else {
        s.store.did_for_handle(&ident.to_ascii_lowercase()).map_err(internal)?
    };
    match did {
        None => Ok(None),
        Some(did) => s.store.account(&did).map_err(internal),
    }
}

/// The account's repository signing key. Parsed keys are kept (by their stored hex) because
/// deriving the public point costs a scalar multiplication on every write otherwise.
pub fn signing_key(account: &Account) -> Result<Keypair, XrpcError> {
    static PARSED: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Keypair>>> = std::sync::OnceLock::new();
    let cache = PARSED.get_or_init(Default::default);
    if let Some(key) = cache.lock().unwrap().get(&account.signing_key_hex) {
        return Ok(key.clone());
    }
    let key = Keypair::from_hex(KeyType::K256, &account.signing_key_hex).map_err(internal)?;
    let mut cache = cache.lock().unwrap();
    if cache.len() >= 100_000 {
        cache.clear();
    }
    cache.insert(account.signing_key_hex.clone(), key.clone());
    Ok(key)
}

/// The account's DID document as this PDS publishes it in PLC.
pub fn did_doc(s: &AppState, account: &Account) -> Value {
    match signing_key(account) {
        Ok(key) => serde_json::to_value(DidDocument::new_plc(&account.did, &account.handle, &key.public(), &s.config.public_url())).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

pub fn identity_event(did: &str, handle: Option<String>) -> EventBody {
    let did = did.to_string();
    Box::new(move |seq| SubscribeReposFrame::Identity(IdentityEvent { seq, did, time: now_iso(), handle }).encode())
}

pub fn account_event(did: &str, active: bool, status: Option<&str>) -> EventBody {
    let did = did.to_string();
    let status = status.map(str::to_string);
    Box::new(move |seq| SubscribeReposFrame::Account(AccountEvent { seq, did, time: now_iso(), active, status }).encode())
}

/// The authenticated account, which must exist; `require_active` refuses deactivated and
/// taken-down accounts the way the reference does for repo writes.
pub fn authed_account(s: &AppState, access: &Access, require_active: bool) -> Result<Account, XrpcError> {
    let account = s.store.account(&access.did).map_err(internal)?.ok_or_else(|| XrpcError::auth_required_named("AccountNotFound", "Account not found"))?;
    match account.status.as_deref() {
        Some("takendown") => Err(XrpcError::auth_required_named("AccountTakedown", "Account has been taken down")),
        Some("deactivated") if require_active => Err(XrpcError::auth_required_named("AccountDeactivated", "Account is deactivated")),
        _ => Ok(account),
    }
}

fn status_fields(account: &Account) -> Value {
    match &account.status {
        None => json!({"active": true}),
        Some(st) => json!({"active": false, "status": st}),
    }
}

/// Checks a new handle against syntax, the service domains and existing accounts.
pub fn check_new_handle(s: &AppState, handle: &str) -> Result<String, XrpcError> {
    let parsed: Handle = handle.parse().map_err(|_| XrpcError::invalid_request_named("InvalidHandle", "Input/handle must be a valid handle"))?;
    let handle = parsed.normalized().to_string();
    let Some(domain) = s.config.service_handle_domains.iter().find(|d| handle.ends_with(d.as_str())) else {
        return Err(XrpcError::invalid_request_named("UnsupportedDomain", "Not a supported handle domain"));
    };
    let front = &handle[..handle.len() - domain.len()];
    if front.contains('.') {
        return Err(XrpcError::invalid_request_named("InvalidHandle", "Invalid characters in handle"));
    }
    if front.len() < 3 {
        return Err(XrpcError::invalid_request_named("InvalidHandle", "Handle too short"));
    }
    if front.len() > 18 {
        return Err(XrpcError::invalid_request_named("InvalidHandle", "Handle too long"));
    }
    if s.store.did_for_handle(&handle).map_err(internal)?.is_some() {
        return Err(XrpcError::invalid_request_named("HandleNotAvailable", "Handle already taken"));
    }
    Ok(handle)
}

async fn hash(password: String) -> Result<String, XrpcError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password)).await.map_err(internal)
}

fn session_json(s: &AppState, account: &Account, session: &auth::Session) -> Value {
    let mut v = json!({
        "accessJwt": session.access_jwt,
        "refreshJwt": session.refresh_jwt,
        "handle": account.handle,
        "did": account.did,
        "didDoc": did_doc(s, account),
        "email": account.email,
        "emailConfirmed": account.email_confirmed_at.is_some(),
    });
    merge(&mut v, status_fields(account));
    v
}

fn merge(a: &mut Value, b: Value) {
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        a.extend(b);
    }
}

/// Issues a session and stores its refresh token in `batch`.
fn open_session(s: &AppState, batch: &mut WriteBatch, did: &str, app_password: Option<(&str, bool)>) -> auth::Session {
    let session = s.auth.issue(did, app_password.map(|(_, p)| p));
    let token = RefreshToken { did: did.into(), expires_at: session.refresh_expires_at, app_password: app_password.map(|(n, _)| n.to_string()) };
    s.store.put_refresh_token(batch, &session.jti, &token);
    session
}

/// The shape check the reference makes before sending mail: `local@domain`, no spaces.
pub fn plausible_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        && !email.chars().any(char::is_whitespace)
}

// ---------- describeServer

pub async fn describe_server(s: &AppState, _req: &Req) -> XrpcResult {
    ok_json(json!({
        "did": s.config.service_did(),
        "availableUserDomains": s.config.service_handle_domains,
        "inviteCodeRequired": s.config.invite_required,
        "phoneVerificationRequired": false,
        "links": {},
        "contact": {},
    }))
}

// ---------- createAccount

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountInput {
    email: Option<String>,
    handle: String,
    did: Option<String>,
    invite_code: Option<String>,
    password: Option<String>,
    recovery_key: Option<String>,
    plc_op: Option<Value>,
}

pub async fn create_account(s: &AppState, req: &Req) -> XrpcResult {
    if let Err(limited) = s.account_limiter.check(req.ip.map(|ip| ip.to_string())) {
        return Ok(*limited);
    }
    let input: CreateAccountInput = req.json()?;
    if input.did.is_some() || input.plc_op.is_some() {
        return Err(XrpcError::invalid_request("Creating an account for an existing DID (migration) is not supported by this PDS yet"));
    }
    let email = input.email.map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).ok_or_else(|| XrpcError::invalid_request("Email is required"))?;
    if !plausible_email(&email) {
        return Err(XrpcError::invalid_request("This email address is not supported, please use a different email."));
    }
    let password = input.password.filter(|p| !p.is_empty()).ok_or_else(|| XrpcError::invalid_request("Password is required"))?;
    let password_hash = hash(password).await?;

    let _guard = s.account_lock.lock().await;
    let handle = check_new_handle(s, &input.handle)?;
    if s.store.did_for_email(&email).map_err(internal)?.is_some() {
        return Err(XrpcError::invalid_request(format!("Email already taken: {email}")));
    }
    let mut invite: Option<InviteCode> = None;
    if s.config.invite_required {
        let code = input.invite_code.as_deref().ok_or_else(|| XrpcError::invalid_request_named("InvalidInviteCode", "No invite code provided"))?;
        let found = s.store.invite_code(code).map_err(internal)?;
        match found {
            Some(c) if !c.disabled && (c.uses.len() as u32) < c.available => invite = Some(c),
            _ => return Err(XrpcError::invalid_request_named("InvalidInviteCode", "Provided invite code not available")),
        }
    }

    // A DID made in the directory for an account we then cannot store would be half an
    // account: refuse on a full disk before making it.
    s.store.disk.check().map_err(super::disk_full)?;

    // The identity: a did:plc created through the directory with our rotation key.
    let signing = Keypair::generate(KeyType::K256);
    let mut rotation_keys = Vec::new();
    if let Some(rk) = &input.recovery_key {
        rotation_keys.push(rk.clone());
    }
    rotation_keys.push(s.config.rotation_key.did_key());
    let state = PlcState::atproto(rotation_keys, &signing.did_key(), &handle, &s.config.public_url());
    let (did, op) = atproto::plc::genesis(state, &s.config.rotation_key);
    s.plc.submit(&did, &op).await.map_err(|e| {
        tracing::warn!(error = %e, %did, "PLC genesis refused");
        XrpcError::upstream_failure(format!("PLC directory refused the new DID: {e}"))
    })?;

    let now = now_iso();
    let account = Account {
        did: did.clone(),
        handle: handle.clone(),
        email: Some(email),
        password_hash,
        signing_key_hex: signing.to_bytes().iter().map(|b| format!("{b:02x}")).collect(),
        created_at: now.clone(),
        status: None,
        invite_code: invite.as_ref().map(|c| c.code.clone()),
        email_confirmed_at: None,
    };
    let session = s.auth.issue(&did, None);
    let token = RefreshToken { did: did.clone(), expires_at: session.refresh_expires_at, app_password: None };
    let events = vec![identity_event(&did, Some(handle.clone())), account_event(&did, true, None)];
    let acc = account.clone();
    let jti = session.jti.clone();
    s.repos
        .create(
            &did,
            &signing,
            move |store, batch| {
                store.put_account(batch, &acc, None);
                store.put_refresh_token(batch, &jti, &token);
                if let Some(mut c) = invite {
                    c.uses.push((acc.did.clone(), now));
                    store.put_invite_code(batch, &c);
                }
            },
            events,
        )
        .await
        .map_err(super::repo::write_error)?;
    metrics::counter!("pds_accounts_created_total").increment(1);
    tracing::info!(%did, %handle, "account created");
    ok_json(json!({
        "handle": handle,
        "did": did,
        "didDoc": did_doc(s, &account),
        "accessJwt": session.access_jwt,
        "refreshJwt": session.refresh_jwt,
    }))
}

// ---------- sessions

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionInput {
    identifier: String,
    password: String,
    #[serde(default)]
    allow_takendown: bool,
}

pub async fn create_session(s: &AppState, req: &Req) -> XrpcResult {
    let input: CreateSessionInput = req.json()?;
    // Keyed by identifier and IP, as the reference does: one client cannot lock others out.
    let key = req.ip.map(|ip| format!("{}-{ip}", input.identifier.to_ascii_lowercase()));
    if let Err(limited) = s.session_limiter.check(key) {
        return Ok(*limited);
    }
    let invalid = || XrpcError::auth_required("Invalid identifier or password");
    let account = account_by_identifier(s, &input.identifier)?.ok_or_else(invalid)?;
    let (hash, app_passwords) = (account.password_hash.clone(), s.store.app_passwords(&account.did).map_err(internal)?);
    let password = input.password.clone();
    let matched = tokio::task::spawn_blocking(move || -> Option<Option<(String, bool)>> {
        if auth::verify_password(&password, &hash) {
            return Some(None);
        }
        app_passwords.into_iter().find(|p| auth::verify_password(&password, &p.password_hash)).map(|p| Some((p.name, p.privileged)))
    })
    .await
    .map_err(internal)?;
    let Some(app_password) = matched else {
        return Err(invalid());
    };
    if account.status.as_deref() == Some("takendown") && !input.allow_takendown {
        return Err(XrpcError::auth_required_named("AccountTakedown", "Account has been taken down"));
    }
    let mut batch = WriteBatch::default();
    let session = open_session(s, &mut batch, &account.did, app_password.as_ref().map(|(n, p)| (n.as_str(), *p)));
    s.store.commit(batch, vec![]).await?;
    ok_json(session_json(s, &account, &session))
}

pub async fn refresh_session(s: &AppState, req: &Req) -> XrpcResult {
    let refresh = s.auth.refresh(&req.headers)?;
    let stored = s.store.refresh_token(&refresh.jti).map_err(internal)?;
    let Some(stored) = stored.filter(|t| t.did == refresh.did) else {
        return Err(XrpcError::expired_token("Token has been revoked"));
    };
    let account = s.store.account(&refresh.did).map_err(internal)?.ok_or_else(|| XrpcError::auth_required_named("AccountNotFound", "Account not found"))?;
    if account.status.as_deref() == Some("takendown") {
        return Err(XrpcError::auth_required_named("AccountTakedown", "Account has been taken down"));
    }
    let privileged = match &stored.app_password {
        None => None,
        Some(name) => match s.store.app_passwords(&account.did).map_err(internal)?.into_iter().find(|p| &p.name == name) {
            Some(p) => Some((name.as_str(), p.privileged)),
            None => return Err(XrpcError::expired_token("Token has been revoked")),
        },
    };
    let mut batch = WriteBatch::default();
    s.store.delete_refresh_token(&mut batch, &refresh.jti);
    let session = open_session(s, &mut batch, &account.did, privileged);
    s.store.commit(batch, vec![]).await?;
    ok_json(session_json(s, &account, &session))
}

pub async fn get_session(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let mut v = json!({
        "handle": account.handle,
        "did": account.did,
        "didDoc": did_doc(s, &account),
        "email": account.email,
        "emailConfirmed": account.email_confirmed_at.is_some(),
    });
    merge(&mut v, status_fields(&account));
    ok_json(v)
}

pub async fn delete_session(s: &AppState, req: &Req) -> XrpcResult {
    let refresh = s.auth.refresh(&req.headers)?;
    let mut batch = WriteBatch::default();
    s.store.delete_refresh_token(&mut batch, &refresh.jti);
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}

// ---------- app passwords

#[derive(Deserialize)]
struct NameInput {
    name: String,
    #[serde(default)]
    privileged: bool,
}

pub async fn create_app_password(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let input: NameInput = req.json()?;
    let name = input.name.trim().to_string();
    if name.is_empty() {
        return Err(XrpcError::invalid_request("App password name is required"));
    }
    let existing = s.store.app_passwords(&account.did).map_err(internal)?;
    if existing.iter().any(|p| p.name == name) {
        return Err(XrpcError::invalid_request("could not create app-specific password"));
    }
    let password = auth::new_app_password();
    let created_at = now_iso();
    let entry = AppPassword { name: name.clone(), password_hash: hash(password.clone()).await?, created_at: created_at.clone(), privileged: input.privileged };
    let mut batch = WriteBatch::default();
    s.store.put_app_password(&mut batch, &account.did, &entry);
    s.store.commit(batch, vec![]).await?;
    ok_json(json!({"name": name, "password": password, "createdAt": created_at, "privileged": input.privileged}))
}

pub async fn list_app_passwords(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let passwords: Vec<Value> = s
        .store
        .app_passwords(&access.did)
        .map_err(internal)?
        .into_iter()
        .map(|p| json!({"name": p.name, "createdAt": p.created_at, "privileged": p.privileged}))
        .collect();
    ok_json(json!({"passwords": passwords}))
}

pub async fn revoke_app_password(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let input: NameInput = req.json()?;
    let mut batch = WriteBatch::default();
    s.store.delete_app_password(&mut batch, &access.did, &input.name);
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}

// ---------- invite codes

fn new_invite_code(hostname: &str) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let part = || (0..5).map(|_| CHARS[rand::random::<usize>() % CHARS.len()] as char).collect::<String>();
    format!("{}-{}-{}", hostname.replace('.', "-"), part(), part())
}

fn invite_json(c: &InviteCode) -> Value {
    json!({
        "code": c.code,
        "available": c.available,
        "disabled": c.disabled,
        "forAccount": c.for_account,
        "createdBy": c.created_by,
        "createdAt": c.created_at,
        "uses": c.uses.iter().map(|(d, at)| json!({"usedBy": d, "usedAt": at})).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInviteInput {
    use_count: u32,
    for_account: Option<String>,
    #[serde(default)]
    for_accounts: Vec<String>,
    code_count: Option<u32>,
}

async fn make_invites(s: &AppState, input: CreateInviteInput, count: u32) -> Result<Vec<(String, Vec<String>)>, XrpcError> {
    if input.use_count == 0 {
        return Err(XrpcError::invalid_request("useCount must be at least 1"));
    }
    let mut targets = input.for_accounts.clone();
    if let Some(a) = &input.for_account {
        targets.push(a.clone());
    }
    if targets.is_empty() {
        targets.push("admin".into());
    }
    let mut batch = WriteBatch::default();
    let mut out = Vec::new();
    for account in targets {
        let mut codes = Vec::new();
        for _ in 0..count.clamp(1, 1000) {
            let c = InviteCode {
                code: new_invite_code(&s.config.hostname),
                available: input.use_count,
                disabled: false,
                for_account: account.clone(),
                created_by: "admin".into(),
                created_at: now_iso(),
                uses: vec![],
            };
            s.store.put_invite_code(&mut batch, &c);
            codes.push(c.code);
        }
        out.push((account, codes));
    }
    s.store.commit(batch, vec![]).await?;
    Ok(out)
}

pub async fn create_invite_code(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let input: CreateInviteInput = req.json()?;
    let out = make_invites(s, input, 1).await?;
    ok_json(json!({"code": out[0].1[0]}))
}

pub async fn create_invite_codes(s: &AppState, req: &Req) -> XrpcResult {
    s.auth.admin(&req.headers)?;
    let input: CreateInviteInput = req.json()?;
    let count = input.code_count.unwrap_or(1);
    let out = make_invites(s, input, count).await?;
    ok_json(json!({"codes": out.into_iter().map(|(a, c)| json!({"account": a, "codes": c})).collect::<Vec<_>>()}))
}

pub async fn get_account_invite_codes(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let codes: Vec<Value> = s.store.invite_codes_for(&access.did).map_err(internal)?.iter().map(invite_json).collect();
    ok_json(json!({"codes": codes}))
}

pub fn invite_codes_json(codes: &[InviteCode]) -> Vec<Value> {
    codes.iter().map(invite_json).collect()
}

// ---------- account status

pub async fn check_account_status(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let root = s.store.repo_root(&account.did).map_err(internal)?;
    let records = s
        .store
        .collections(&account.did)
        .map_err(internal)?
        .iter()
        .try_fold(0usize, |n, c| s.store.list_records(&account.did, c, usize::MAX, None, true).map(|r| n + r.len()))
        .map_err(internal)?;
    let blobs = s.store.list_blobs(&account.did, None, usize::MAX).map_err(internal)?;
    let expected = blobs.iter().filter(|(_, m)| !m.refs.is_empty()).count();
    let imported = blobs.iter().filter(|(_, m)| !m.refs.is_empty() && !m.missing).count();
    // The blocks of the current repository (what its CAR export holds), as migration tools
    // compare them; superseded blocks kept for history are not counted.
    let blocks = crate::api::sync::export_blocks(s, &account.did, None).await?.1.len();
    ok_json(json!({
        "activated": account.active(),
        "validDid": did_points_here(s, &account).await,
        "repoCommit": root.as_ref().map(|r| r.cid.clone()),
        "repoRev": root.as_ref().map(|r| r.rev.clone()),
        "repoBlocks": blocks,
        "indexedRecords": records,
        "privateStateValues": 0,
        "expectedBlobs": expected,
        "importedBlobs": imported,
    }))
}

/// Whether the account's current DID document names this PDS and the account's signing key
/// (after a migration, until the PLC update lands, it does not).
async fn did_points_here(s: &AppState, account: &Account) -> bool {
    let Ok(doc) = s.resolver.refresh(&account.did).await else { return false };
    let key_matches = match (doc.signing_key(), signing_key(account)) {
        (Ok(published), Ok(ours)) => published.to_did_key() == ours.did_key(),
        _ => false,
    };
    key_matches && doc.pds_endpoint().map(|e| e.trim_end_matches('/')) == Some(s.config.public_url().as_str())
}

/// Sets `account.status` and emits `#account` (and `#sync` on activation).
pub async fn set_status(s: &AppState, account: &Account, status: Option<&str>) -> Result<(), XrpcError> {
    let mut updated = account.clone();
    updated.status = status.map(str::to_string);
    let mut batch = WriteBatch::default();
    s.store.put_account(&mut batch, &updated, Some(account));
    let mut events = vec![account_event(&account.did, status.is_none(), status)];
    if status.is_none() {
        if let Some(ev) = crate::api::sync::sync_event(s, &account.did).await? {
            events.push(ev);
        }
    }
    s.store.commit(batch, events).await?;
    Ok(())
}

pub async fn activate_account(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    if account.status.as_deref() == Some("deactivated") {
        set_status(s, &account, None).await?;
    }
    ok_empty()
}

pub async fn deactivate_account(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    if account.active() {
        set_status(s, &account, Some("deactivated")).await?;
    }
    ok_empty()
}

// ---------- getServiceAuth

pub async fn get_service_auth(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let aud = req.params.required("aud")?;
    let lxm = req.params.get("lxm");
    let now = auth::now_secs();
    let exp = match req.params.get("exp") {
        None => now + 60,
        Some(e) => {
            let e: u64 = e.parse().map_err(|_| XrpcError::invalid_request("exp must be an integer"))?;
            if e <= now {
                return Err(XrpcError::invalid_request_named("BadExpiration", "expiration is in past"));
            }
            if e - now > 60 * 60 {
                return Err(XrpcError::invalid_request_named("BadExpiration", "cannot request a token with an expiration more than an hour in the future"));
            }
            if lxm.is_none() && e - now > 60 {
                return Err(XrpcError::invalid_request_named(
                    "BadExpiration",
                    "cannot request a method-less token with an expiration more than a minute in the future",
                ));
            }
            e
        }
    };
    let key = signing_key(&account)?;
    ok_json(json!({"token": auth::service_jwt(&key, &account.did, aud, lxm, exp)}))
}
