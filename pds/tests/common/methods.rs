//! Every XRPC method the PDS serves, with the credential it needs (the auth matrix checks the
//! table against the PDS's dispatch table) and whether it is a query.

use Needs::*;

/// The credential a method needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Needs {
    /// Nothing (the method is public, or authenticates by its input: a password, an emailed token).
    Public,
    /// A session or app-password access token.
    Access,
    /// A session access token, not an app password's.
    Full,
    Refresh,
    /// `admin:<PDS_ADMIN_PASSWORD>` basic auth.
    Admin,
}

pub const METHODS: &[(&str, Needs)] = &[
    ("com.atproto.server.describeServer", Public),
    ("com.atproto.server.createAccount", Public),
    ("com.atproto.server.createSession", Public),
    ("com.atproto.server.refreshSession", Refresh),
    ("com.atproto.server.getSession", Access),
    ("com.atproto.server.deleteSession", Refresh),
    ("com.atproto.server.createAppPassword", Full),
    ("com.atproto.server.listAppPasswords", Access),
    ("com.atproto.server.revokeAppPassword", Full),
    ("com.atproto.server.createInviteCode", Admin),
    ("com.atproto.server.createInviteCodes", Admin),
    ("com.atproto.server.getAccountInviteCodes", Full),
    ("com.atproto.server.checkAccountStatus", Access),
    ("com.atproto.server.activateAccount", Full),
    ("com.atproto.server.deactivateAccount", Full),
    ("com.atproto.server.getServiceAuth", Access),
    ("com.atproto.repo.createRecord", Access),
    ("com.atproto.repo.putRecord", Access),
    ("com.atproto.repo.deleteRecord", Access),
    ("com.atproto.repo.applyWrites", Access),
    ("com.atproto.repo.getRecord", Public),
    ("com.atproto.repo.listRecords", Public),
    ("com.atproto.repo.describeRepo", Public),
    ("com.atproto.repo.uploadBlob", Access),
    ("com.atproto.repo.listMissingBlobs", Access),
    ("com.atproto.repo.importRepo", Full),
    ("com.atproto.sync.getLatestCommit", Public),
    ("com.atproto.sync.getRepo", Public),
    ("com.atproto.sync.getRecord", Public),
    ("com.atproto.sync.getBlocks", Public),
    ("com.atproto.sync.getRepoStatus", Public),
    ("com.atproto.sync.listRepos", Public),
    ("com.atproto.sync.listBlobs", Public),
    ("com.atproto.sync.getBlob", Public),
    ("com.atproto.identity.resolveHandle", Public),
    ("com.atproto.identity.updateHandle", Access),
    ("com.atproto.admin.getAccountInfo", Admin),
    ("com.atproto.admin.getAccountInfos", Admin),
    ("com.atproto.admin.searchAccounts", Admin),
    ("com.atproto.admin.deleteAccount", Admin),
    ("com.atproto.admin.updateAccountPassword", Admin),
    ("com.atproto.admin.updateSubjectStatus", Admin),
    ("com.atproto.admin.getSubjectStatus", Admin),
    ("com.atproto.admin.disableInviteCodes", Admin),
    ("com.atproto.server.requestAccountDelete", Full),
    ("com.atproto.server.deleteAccount", Public),
    ("com.atproto.server.requestPasswordReset", Public),
    ("com.atproto.server.resetPassword", Public),
    ("com.atproto.server.requestEmailConfirmation", Full),
    ("com.atproto.server.confirmEmail", Full),
    ("com.atproto.server.requestEmailUpdate", Full),
    ("com.atproto.server.updateEmail", Full),
    ("app.bsky.actor.getPreferences", Access),
    ("app.bsky.actor.putPreferences", Access),
];

/// Writes into a repository, tried with other accounts' tokens.
pub const REPO_WRITES: &[&str] =
    &["com.atproto.repo.createRecord", "com.atproto.repo.putRecord", "com.atproto.repo.deleteRecord", "com.atproto.repo.applyWrites"];

const QUERIES: &[&str] = &[
    "getSession",
    "listAppPasswords",
    "getAccountInviteCodes",
    "checkAccountStatus",
    "getServiceAuth",
    "getRecord",
    "listRecords",
    "describeRepo",
    "listMissingBlobs",
    "getLatestCommit",
    "getRepo",
    "getBlocks",
    "getRepoStatus",
    "listRepos",
    "listBlobs",
    "getBlob",
    "resolveHandle",
    "getAccountInfo",
    "getAccountInfos",
    "searchAccounts",
    "getSubjectStatus",
    "getPreferences",
    "describeServer",
];

pub fn is_query(nsid: &str) -> bool {
    QUERIES.contains(&nsid.rsplit('.').next().unwrap())
}
