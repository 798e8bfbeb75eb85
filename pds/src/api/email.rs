//! The flows that prove control of an account's email with a one-time token:
//! `requestAccountDelete`/`deleteAccount`, `requestPasswordReset`/`resetPassword`,
//! `requestEmailConfirmation`/`confirmEmail` and `requestEmailUpdate`/`updateEmail`.

use atproto::xrpc::XrpcError;
use rocksdb::WriteBatch;
use serde::Deserialize;
use serde_json::json;

use super::server::authed_account;
use super::{internal, ok_empty, ok_json, Req, XrpcResult};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::email_tokens::{Purpose, TokenProblem};

/// Issues a token for `purpose`, stores it and mails it to `to`.
async fn send_token(s: &AppState, account: &Account, to: &str, purpose: Purpose) -> Result<(), XrpcError> {
    let mut batch = WriteBatch::default();
    let token = s.store.issue_email_token(&mut batch, &account.did, purpose);
    s.store.commit(batch, vec![]).await?;
    let (subject, what) = match purpose {
        Purpose::DeleteAccount => ("Account deletion request", "delete your account"),
        Purpose::ResetPassword => ("Password reset requested", "reset your password"),
        Purpose::ConfirmEmail => ("Confirm your email", "confirm your email address"),
        Purpose::UpdateEmail => ("Email update requested", "change your email address"),
    };
    let body = format!(
        "Hello @{},\n\nUse this code to {what} on {}: {token}\n\nIt expires in 15 minutes. If you did not ask for it, ignore this message.\n",
        account.handle, s.config.hostname
    );
    s.mailer.send(to, subject, body).await.map_err(|e| {
        tracing::error!(error = %e, did = %account.did, "could not send email");
        XrpcError::upstream_failure("Could not send email")
    })
}

fn require_email(account: &Account) -> Result<&str, XrpcError> {
    account.email.as_deref().ok_or_else(|| XrpcError::invalid_request("Account does not have an email address"))
}

/// Takes `token` for `purpose` into `batch`: the account it belongs to.
fn take_token(s: &AppState, batch: &mut WriteBatch, token: &str, purpose: Purpose) -> Result<String, XrpcError> {
    match s.store.take_email_token(batch, token, purpose).map_err(internal)? {
        Ok(did) => Ok(did),
        Err(TokenProblem::Invalid) => Err(XrpcError::invalid_token("Token is invalid")),
        Err(TokenProblem::Expired) => Err(XrpcError::expired_token("Token is expired")),
    }
}

async fn password_matches(account: &Account, password: String) -> Result<bool, XrpcError> {
    let hash = account.password_hash.clone();
    tokio::task::spawn_blocking(move || crate::auth::verify_password(&password, &hash)).await.map_err(internal)
}

pub async fn request_account_delete(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let email = require_email(&account)?.to_string();
    send_token(s, &account, &email, Purpose::DeleteAccount).await?;
    ok_empty()
}

#[derive(Deserialize)]
struct DeleteAccountInput {
    did: String,
    password: String,
    token: String,
}

pub async fn delete_account(s: &AppState, req: &Req) -> XrpcResult {
    let input: DeleteAccountInput = req.json()?;
    let account = s.store.account(&input.did).map_err(internal)?.ok_or_else(|| XrpcError::invalid_request("account not found"))?;
    if !password_matches(&account, input.password).await? {
        return Err(XrpcError::auth_required("Invalid did or password"));
    }
    let mut batch = WriteBatch::default();
    if take_token(s, &mut batch, &input.token, Purpose::DeleteAccount)? != account.did {
        return Err(XrpcError::invalid_token("Token is invalid"));
    }
    super::admin::remove_account(s, &account, batch).await?;
    ok_empty()
}

#[derive(Deserialize)]
struct EmailInput {
    email: String,
}

/// Always answers 200, so the endpoint does not reveal which addresses have accounts.
pub async fn request_password_reset(s: &AppState, req: &Req) -> XrpcResult {
    let input: EmailInput = req.json()?;
    let did = s.store.did_for_email(&input.email).map_err(internal)?;
    if let Some(account) = did.and_then(|d| s.store.account(&d).ok().flatten()) {
        let email = require_email(&account)?.to_string();
        send_token(s, &account, &email, Purpose::ResetPassword).await?;
    }
    ok_empty()
}

#[derive(Deserialize)]
struct ResetPasswordInput {
    token: String,
    password: String,
}

pub async fn reset_password(s: &AppState, req: &Req) -> XrpcResult {
    let input: ResetPasswordInput = req.json()?;
    let mut batch = WriteBatch::default();
    let did = take_token(s, &mut batch, &input.token, Purpose::ResetPassword)?;
    let account = s.store.account(&did).map_err(internal)?.ok_or_else(|| XrpcError::invalid_token("Token is invalid"))?;
    let password = input.password;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password)).await.map_err(internal)?;
    let mut updated = account.clone();
    updated.password_hash = hash;
    s.store.put_account(&mut batch, &updated, Some(&account));
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}

pub async fn request_email_confirmation(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let email = require_email(&account)?.to_string();
    send_token(s, &account, &email, Purpose::ConfirmEmail).await?;
    ok_empty()
}

#[derive(Deserialize)]
struct ConfirmEmailInput {
    email: String,
    token: String,
}

pub async fn confirm_email(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let input: ConfirmEmailInput = req.json()?;
    let account = s.store.account(&access.did).map_err(internal)?.ok_or_else(|| XrpcError::invalid_request_named("AccountNotFound", "Account not found"))?;
    if !account.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(input.email.trim())) {
        return Err(XrpcError::invalid_request_named("InvalidEmail", "Invalid email"));
    }
    let mut batch = WriteBatch::default();
    if take_token(s, &mut batch, &input.token, Purpose::ConfirmEmail)? != account.did {
        return Err(XrpcError::invalid_token("Token is invalid"));
    }
    let mut updated = account.clone();
    updated.email_confirmed_at = Some(crate::repos::now_iso());
    s.store.put_account(&mut batch, &updated, Some(&account));
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}

/// A token is needed to change a confirmed address; it goes to the current address.
pub async fn request_email_update(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let account = authed_account(s, &access, false)?;
    let token_required = account.email_confirmed_at.is_some();
    if token_required {
        let email = require_email(&account)?.to_string();
        send_token(s, &account, &email, Purpose::UpdateEmail).await?;
    }
    ok_json(json!({"tokenRequired": token_required}))
}

#[derive(Deserialize)]
struct UpdateEmailInput {
    email: String,
    token: Option<String>,
}

pub async fn update_email(s: &AppState, req: &Req) -> XrpcResult {
    let access = s.auth.access_full(&req.headers)?;
    let input: UpdateEmailInput = req.json()?;
    let email = input.email.trim().to_string();
    if !super::server::plausible_email(&email) {
        return Err(XrpcError::invalid_request("This email address is not supported, please use a different email."));
    }
    let _accounts = s.account_lock.lock().await;
    let account = authed_account(s, &access, false)?;
    let mut batch = WriteBatch::default();
    if account.email_confirmed_at.is_some() {
        let token = input.token.as_deref().ok_or_else(|| XrpcError::invalid_request_named("TokenRequired", "Confirmation token required"))?;
        if take_token(s, &mut batch, token, Purpose::UpdateEmail)? != account.did {
            return Err(XrpcError::invalid_token("Token is invalid"));
        }
    }
    if account.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&email)) {
        return ok_empty();
    }
    if s.store.did_for_email(&email).map_err(internal)?.is_some() {
        return Err(XrpcError::invalid_request("This email address is already in use, please use a different email."));
    }
    let mut updated = account.clone();
    updated.email = Some(email);
    updated.email_confirmed_at = None;
    s.store.put_account(&mut batch, &updated, Some(&account));
    s.store.commit(batch, vec![]).await?;
    ok_empty()
}
