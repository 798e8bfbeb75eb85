//! `pds admin …`: what the reference's `pdsadmin` does, over this PDS's HTTP API with basic
//! auth `admin:PDS_ADMIN_PASSWORD`.

use anyhow::{bail, Context};
use base64::Engine;
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List accounts (DID, handle, email, status).
    ListAccounts,
    /// Create an account (making a single-use invite code first when needed).
    CreateAccount {
        email: String,
        handle: String,
        /// Defaults to a random password, printed once.
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete an account and its data.
    DeleteAccount { did: String },
    /// Take an account down.
    Takedown { did: String },
    /// Reverse a takedown.
    Untakedown { did: String },
    /// Set a new password (random unless given; printed once).
    ResetPassword {
        did: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Create an invite code.
    CreateInviteCode {
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
    /// Ask relays (default: PDS_CRAWLERS) to crawl this PDS.
    RequestCrawl {
        /// Relay hosts or URLs.
        relays: Vec<String>,
        /// This PDS's public hostname (PDS_HOSTNAME).
        #[arg(long, env = "PDS_HOSTNAME")]
        hostname: String,
    },
    /// Take an online backup (database checkpoint and blobs) while the PDS keeps serving.
    Backup {
        /// Where the PDS writes it: a new or empty directory on the PDS's own machine (an
        /// absolute path; the PDS process writes it, not this command).
        directory: std::path::PathBuf,
    },
    /// Restore a backup into fresh data and blob directories; run it with the PDS stopped,
    /// then start the PDS on them. Needs no server and no admin password. The firehose goes on
    /// above every sequence number the old PDS can have published, and announces every account
    /// again (#identity, #account, #sync) so consumers resync.
    Restore {
        /// The backup directory (`pds admin backup`'s DIR).
        backup: std::path::PathBuf,
        /// The PDS's settings (PDS_DATA_DIRECTORY, PDS_BLOBSTORE_DISK_LOCATION, ...), as for
        /// `pds serve`; the environment overrides it.
        #[arg(long)]
        env_file: Option<std::path::PathBuf>,
    },
}

/// `pds admin restore`: offline, straight into the directories the settings name.
pub async fn restore(backup: &std::path::Path, env_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = crate::Config::load(env_file).context("reading the PDS settings")?;
    let done = crate::backups::restore(backup, &config).await.with_context(|| format!("restoring {}", backup.display()))?;
    println!(
        "Restored {} accounts and {} blobs into {} and {} from the backup of {} ms since the epoch (highest seq then {}). The firehose goes on at seq {} with a resync for every account.",
        done.accounts,
        done.manifest.files,
        config.data_directory.display(),
        config.blobstore_location.display(),
        done.manifest.created_at_ms,
        done.manifest.high_water,
        done.first_seq
    );
    Ok(())
}

pub struct AdminClient {
    base: String,
    auth: String,
    http: reqwest::Client,
}

fn random_password() -> String {
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl AdminClient {
    pub fn new(base: &str, password: &str) -> AdminClient {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
        AdminClient { base: base.trim_end_matches('/').into(), auth: format!("Basic {auth}"), http: reqwest::Client::new() }
    }

    async fn call(&self, method: reqwest::Method, nsid: &str, query: &[(&str, &str)], body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}/xrpc/{nsid}", self.base)).query(query).header("authorization", &self.auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("calling {nsid}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            let e = atproto::xrpc::XrpcError::from_response_body(status.as_u16(), &bytes);
            bail!("{nsid}: {e}");
        }
        Ok(if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    async fn get(&self, nsid: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, nsid, query, None).await
    }

    async fn post(&self, nsid: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, nsid, &[], Some(body)).await
    }

    pub async fn run(&self, cmd: AdminCommand) -> anyhow::Result<()> {
        match cmd {
            AdminCommand::ListAccounts => {
                let mut cursor: Option<String> = None;
                loop {
                    let mut q = vec![("limit", "100")];
                    if let Some(c) = &cursor {
                        q.push(("cursor", c));
                    }
                    let page = self.get("com.atproto.admin.searchAccounts", &q).await?;
                    let accounts = page["accounts"].as_array().cloned().unwrap_or_default();
                    for a in &accounts {
                        let did = a["did"].as_str().unwrap_or_default();
                        let repo = self.get("com.atproto.sync.getRepoStatus", &[("did", did)]).await?;
                        println!(
                            "{did}\t{}\t{}\t{}",
                            a["handle"].as_str().unwrap_or("-"),
                            a["email"].as_str().unwrap_or("-"),
                            repo["status"].as_str().unwrap_or("active")
                        );
                    }
                    cursor = page["cursor"].as_str().map(String::from);
                    if cursor.is_none() || accounts.is_empty() {
                        break;
                    }
                }
            }
            AdminCommand::CreateAccount { email, handle, password } => {
                let describe = self.get("com.atproto.server.describeServer", &[]).await?;
                let mut body = json!({"email": email, "handle": handle});
                if describe["inviteCodeRequired"].as_bool().unwrap_or(false) {
                    let code = self.post("com.atproto.server.createInviteCode", json!({"useCount": 1})).await?;
                    body["inviteCode"] = code["code"].clone();
                }
                let (password, generated) = match password {
                    Some(p) => (p, false),
                    None => (random_password(), true),
                };
                body["password"] = password.clone().into();
                let out = self.post("com.atproto.server.createAccount", body).await?;
                println!("Account created: {} ({})", out["handle"].as_str().unwrap_or(""), out["did"].as_str().unwrap_or(""));
                if generated {
                    println!("Password: {password}");
                }
            }
            AdminCommand::DeleteAccount { did } => {
                self.post("com.atproto.admin.deleteAccount", json!({"did": did})).await?;
                println!("{did} deleted");
            }
            AdminCommand::Takedown { did } => {
                let r = format!("{}", crate::auth::now_secs());
                self.post(
                    "com.atproto.admin.updateSubjectStatus",
                    json!({"subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did}, "takedown": {"applied": true, "ref": r}}),
                )
                .await?;
                println!("{did} taken down");
            }
            AdminCommand::Untakedown { did } => {
                self.post(
                    "com.atproto.admin.updateSubjectStatus",
                    json!({"subject": {"$type": "com.atproto.admin.defs#repoRef", "did": did}, "takedown": {"applied": false}}),
                )
                .await?;
                println!("{did} restored");
            }
            AdminCommand::ResetPassword { did, password } => {
                let (password, generated) = match password {
                    Some(p) => (p, false),
                    None => (random_password(), true),
                };
                self.post("com.atproto.admin.updateAccountPassword", json!({"did": did, "password": password})).await?;
                println!("Password reset for {did}");
                if generated {
                    println!("New password: {password}");
                }
            }
            AdminCommand::CreateInviteCode { uses } => {
                let out = self.post("com.atproto.server.createInviteCode", json!({"useCount": uses})).await?;
                println!("{}", out["code"].as_str().unwrap_or_default());
            }
            AdminCommand::Backup { directory } => {
                let resp = self
                    .http
                    .post(format!("{}/admin/backup", self.base))
                    .header("authorization", &self.auth)
                    .json(&json!({"directory": directory}))
                    .send()
                    .await?;
                let status = resp.status();
                let bytes = resp.bytes().await?;
                if !status.is_success() {
                    bail!("backup: {}", atproto::xrpc::XrpcError::from_response_body(status.as_u16(), &bytes));
                }
                let m: backup::Manifest = serde_json::from_slice(&bytes).context("reading the backup's manifest")?;
                println!("Backup in {}: the database up to seq {} and {} blobs ({} bytes)", directory.display(), m.high_water, m.files, m.file_bytes);
            }
            AdminCommand::Restore { backup, env_file } => restore(&backup, env_file.as_deref()).await?,
            AdminCommand::RequestCrawl { relays, hostname } => {
                if relays.is_empty() {
                    bail!("no relays given (pass hosts, or set PDS_CRAWLERS)");
                }
                for relay in relays {
                    let base = if relay.starts_with("http") { relay.clone() } else { format!("https://{relay}") };
                    let resp = self
                        .http
                        .post(format!("{}/xrpc/com.atproto.sync.requestCrawl", base.trim_end_matches('/')))
                        .json(&json!({"hostname": hostname}))
                        .send()
                        .await?;
                    println!("{relay}: {}", resp.status());
                }
            }
        }
        Ok(())
    }
}
