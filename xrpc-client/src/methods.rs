//! Inputs and outputs of the XRPC methods Sonde's programs call, in the lexicons' shapes
//! (`../shared/lexicons`), with only the fields the callers read. Unknown fields of an answer
//! are ignored, as a client must for forward compatibility.

use serde::{Deserialize, Serialize};

/// An empty input or output (`{}`; an empty body reads as it too).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `com.atproto.sync.requestCrawl` input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestCrawl {
    pub hostname: String,
}

/// `com.atproto.server.describeServer` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServerOutput {
    pub did: String,
    #[serde(default)]
    pub available_user_domains: Vec<String>,
    #[serde(default)]
    pub invite_code_required: bool,
}

/// `com.atproto.server.createAccount` input (the fields an operator gives).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountInput {
    pub handle: String,
    pub email: String,
    pub password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

/// `com.atproto.server.createAccount` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountOutput {
    pub did: String,
    pub handle: String,
}

/// `com.atproto.server.createInviteCode` input.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInviteCodeInput {
    pub use_count: u32,
}

/// `com.atproto.server.createInviteCode` output.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateInviteCodeOutput {
    pub code: String,
}

/// `com.atproto.admin.searchAccounts` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct SearchAccountsParams {
    pub limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `com.atproto.admin.searchAccounts` output.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchAccountsOutput {
    #[serde(default)]
    pub cursor: Option<String>,
    pub accounts: Vec<AccountView>,
}

/// `com.atproto.admin.defs#accountView` (the fields listed).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountView {
    pub did: String,
    pub handle: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// `com.atproto.sync.getRepoStatus` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct DidParam {
    pub did: String,
}

/// `com.atproto.sync.getRepoStatus` output.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoStatusOutput {
    pub active: bool,
    #[serde(default)]
    pub status: Option<String>,
}

/// `com.atproto.admin.deleteAccount` input.
pub type DeleteAccountInput = DidParam;

/// `com.atproto.admin.updateSubjectStatus` input, for a repository's takedown.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateSubjectStatusInput {
    pub subject: RepoRef,
    pub takedown: StatusAttr,
}

/// `com.atproto.admin.defs#repoRef`.
#[derive(Debug, Clone, Serialize)]
pub struct RepoRef {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    pub did: String,
}

impl RepoRef {
    pub fn new(did: &str) -> RepoRef {
        RepoRef { kind: "com.atproto.admin.defs#repoRef", did: did.into() }
    }
}

/// `com.atproto.admin.defs#statusAttr`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusAttr {
    pub applied: bool,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `com.atproto.admin.updateAccountPassword` input.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateAccountPasswordInput {
    pub did: String,
    pub password: String,
}

/// The input of Sonde's `POST /admin/backup` (PDS and relay): where the service writes it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInput {
    pub directory: std::path::PathBuf,
}

/// `com.atproto.server.createSession` input.
#[derive(Debug, Clone, Serialize)]
pub struct CreateSessionInput {
    pub identifier: String,
    pub password: String,
}

/// The session `createAccount` and `createSession` answer with (the fields a client keeps).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOutput {
    pub did: String,
    pub handle: String,
    pub access_jwt: String,
}

/// `com.atproto.repo.createRecord` and `putRecord` input. The record is any data-model value
/// in its JSON form, whatever its lexicon.
#[derive(Debug, Clone, Serialize)]
pub struct WriteRecordInput {
    pub repo: String,
    pub collection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rkey: Option<String>,
    pub record: serde_json::Value,
}

/// `com.atproto.repo.deleteRecord` input, and `getRecord` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct RecordKey {
    pub repo: String,
    pub collection: String,
    pub rkey: String,
}

/// `com.atproto.repo.createRecord` and `putRecord` output.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordRef {
    pub uri: String,
    pub cid: String,
}

/// `com.atproto.repo.uploadBlob` output: the blob reference, as records embed it.
#[derive(Debug, Clone, Deserialize)]
pub struct UploadBlobOutput {
    pub blob: serde_json::Value,
}
