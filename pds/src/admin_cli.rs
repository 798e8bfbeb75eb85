//! `pds admin …`: what the reference's `pdsadmin` does, over this PDS's HTTP API with basic
//! auth `admin:PDS_ADMIN_PASSWORD`.

use anyhow::{bail, Context};
use base64::Engine;
use clap::Subcommand;
use xrpc_client::methods as m;

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
    pds: xrpc_client::Client,
}

fn random_password() -> String {
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl AdminClient {
    pub fn new(base: &str, password: &str) -> AdminClient {
        AdminClient { pds: xrpc_client::Client::new(base).with_auth(xrpc_client::Auth::Admin(password.into())) }
    }

    pub async fn run(&self, cmd: AdminCommand) -> anyhow::Result<()> {
        let pds = &self.pds;
        match cmd {
            AdminCommand::ListAccounts => {
                let mut cursor: Option<String> = None;
                loop {
                    let page: m::SearchAccountsOutput = pds.query("com.atproto.admin.searchAccounts", &m::SearchAccountsParams { limit: 100, cursor }).await?;
                    for a in &page.accounts {
                        let repo: m::RepoStatusOutput = pds.query("com.atproto.sync.getRepoStatus", &m::DidParam { did: a.did.clone() }).await?;
                        println!("{}\t{}\t{}\t{}", a.did, a.handle, a.email.as_deref().unwrap_or("-"), repo.status.as_deref().unwrap_or("active"));
                    }
                    cursor = page.cursor;
                    if cursor.is_none() || page.accounts.is_empty() {
                        break;
                    }
                }
            }
            AdminCommand::CreateAccount { email, handle, password } => {
                let describe: m::DescribeServerOutput = pds.query("com.atproto.server.describeServer", &()).await?;
                let invite_code = if describe.invite_code_required {
                    let code: m::CreateInviteCodeOutput =
                        pds.procedure("com.atproto.server.createInviteCode", &m::CreateInviteCodeInput { use_count: 1 }).await?;
                    Some(code.code)
                } else {
                    None
                };
                let (password, generated) = match password {
                    Some(p) => (p, false),
                    None => (random_password(), true),
                };
                let input = m::CreateAccountInput { handle, email, password: password.clone(), invite_code };
                let out: m::CreateAccountOutput = pds.procedure("com.atproto.server.createAccount", &input).await?;
                println!("Account created: {} ({})", out.handle, out.did);
                if generated {
                    println!("Password: {password}");
                }
            }
            AdminCommand::DeleteAccount { did } => {
                pds.procedure::<_, m::Empty>("com.atproto.admin.deleteAccount", &m::DeleteAccountInput { did: did.clone() }).await?;
                println!("{did} deleted");
            }
            AdminCommand::Takedown { did } => {
                let takedown = m::StatusAttr { applied: true, reference: Some(crate::auth::now_secs().to_string()) };
                pds.procedure::<_, m::Empty>(
                    "com.atproto.admin.updateSubjectStatus",
                    &m::UpdateSubjectStatusInput { subject: m::RepoRef::new(&did), takedown },
                )
                .await?;
                println!("{did} taken down");
            }
            AdminCommand::Untakedown { did } => {
                let takedown = m::StatusAttr { applied: false, reference: None };
                pds.procedure::<_, m::Empty>(
                    "com.atproto.admin.updateSubjectStatus",
                    &m::UpdateSubjectStatusInput { subject: m::RepoRef::new(&did), takedown },
                )
                .await?;
                println!("{did} restored");
            }
            AdminCommand::ResetPassword { did, password } => {
                let (password, generated) = match password {
                    Some(p) => (p, false),
                    None => (random_password(), true),
                };
                let input = m::UpdateAccountPasswordInput { did: did.clone(), password: password.clone() };
                pds.procedure::<_, m::Empty>("com.atproto.admin.updateAccountPassword", &input).await?;
                println!("Password reset for {did}");
                if generated {
                    println!("New password: {password}");
                }
            }
            AdminCommand::CreateInviteCode { uses } => {
                let out: m::CreateInviteCodeOutput =
                    pds.procedure("com.atproto.server.createInviteCode", &m::CreateInviteCodeInput { use_count: uses }).await?;
                println!("{}", out.code);
            }
            AdminCommand::Backup { directory } => {
                let manifest: backup::Manifest = pds.post("/admin/backup", &m::BackupInput { directory: directory.clone() }).await?;
                println!(
                    "Backup in {}: the database up to seq {} and {} blobs ({} bytes)",
                    directory.display(),
                    manifest.high_water,
                    manifest.files,
                    manifest.file_bytes
                );
            }
            AdminCommand::Restore { backup, env_file } => restore(&backup, env_file.as_deref()).await?,
            AdminCommand::RequestCrawl { relays, hostname } => {
                if relays.is_empty() {
                    bail!("no relays given (pass hosts, or set PDS_CRAWLERS)");
                }
                for relay in relays {
                    let base = if relay.starts_with("http") { relay.clone() } else { format!("https://{relay}") };
                    let asked = xrpc_client::Client::new(&base)
                        .procedure::<_, m::Empty>("com.atproto.sync.requestCrawl", &m::RequestCrawl { hostname: hostname.clone() })
                        .await;
                    match asked {
                        Ok(_) => println!("{relay}: crawl requested"),
                        Err(e) => println!("{relay}: {e}"),
                    }
                }
            }
        }
        Ok(())
    }
}
