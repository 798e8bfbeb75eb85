//! Server configuration from the reference PDS's environment names (`PDS_*`).
//!
//! [`Config::from_env`] reads a key/value source (the process environment, optionally
//! preceded by an `--env-file`), and reports every missing or malformed required setting in
//! one error, so an operator fixes `pds.env` in one pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use atproto::keys::{KeyType, Keypair};

/// The settings `pds serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Public hostname (`PDS_HOSTNAME`), e.g. `pds.coop.example`.
    pub hostname: String,
    pub port: u16,
    pub data_directory: PathBuf,
    pub blobstore_location: PathBuf,
    pub blob_upload_limit: u64,
    pub jwt_secret: String,
    pub admin_password: String,
    pub rotation_key: Keypair,
    pub plc_url: String,
    /// Handle suffixes this PDS hands out, each starting with `.` (`.coop.example`).
    pub service_handle_domains: Vec<String>,
    pub invite_required: bool,
    pub crawlers: Vec<String>,
    pub repo_backfill_limit_ms: u64,
    pub bsky_app_view: Option<ServiceRef>,
    pub report_service: Option<ServiceRef>,
    pub dev_mode: bool,
    /// `PDS_RATE_LIMIT_CREATE_SESSION` per 5 minutes per IP; 0 disables.
    pub create_session_limit: u32,
    /// `PDS_RATE_LIMIT_CREATE_ACCOUNT` per 5 minutes per IP; 0 disables.
    pub create_account_limit: u32,
    /// `PDS_EMAIL_SMTP_URL` (`smtp://user:pass@host:587`, `smtps://…`); without it, mail is
    /// written to `<data>/mail-outbox/` for the operator to read.
    pub email_smtp_url: Option<String>,
    /// `PDS_EMAIL_FROM_ADDRESS`; defaults to `noreply@<hostname>`.
    pub email_from_address: String,
    /// `PDS_BLOB_GRACE_PERIOD_MS`: how long an uploaded blob may stay unreferenced by any
    /// record before it is deleted (default one hour).
    pub blob_grace_period_ms: u64,
    /// `PDS_DISK_MIN_FREE_BYTES`: writes are refused (503 `NotEnoughResources`) while less than
    /// this is free on the data or blob directory's disk (default 256 MiB), so a full disk never
    /// reaches the database mid-write. See [`telemetry::disk`].
    pub disk_min_free_bytes: u64,
    /// `PDS_LEXICON_DIRECTORY`: Lexicon schemas (`com/atproto/...json`, `app/bsky/...json`)
    /// records are validated against. Without it, every record is stored with
    /// `validationStatus: unknown`.
    pub lexicon_directory: Option<PathBuf>,
}

/// A service the PDS talks to: its URL and DID.
#[derive(Debug, Clone)]
pub struct ServiceRef {
    pub url: String,
    pub did: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required settings: {}", .0.join(", "))]
    Missing(Vec<String>),
    #[error("invalid settings:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error("env file {path}: {message}")]
    EnvFile { path: PathBuf, message: String },
}

/// Reads an env file (`KEY=VALUE` lines; comments, `export `, quoting and `${VAR}` as
/// `dotenvy` reads them), without touching the process environment.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let err = |message: String| ConfigError::EnvFile { path: path.into(), message };
    dotenvy::from_path_iter(path).map_err(|e| err(e.to_string()))?.map(|item| item.map_err(|e| err(e.to_string()))).collect()
}

impl Config {
    /// Builds the configuration from `vars` (later sources already merged over earlier ones).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut missing = Vec::new();
        let mut invalid = Vec::new();
        let mut required = |k: &str| {
            let v = get(k).map(str::to_string);
            if v.is_none() {
                missing.push(k.to_string());
            }
            v.unwrap_or_default()
        };
        let hostname = required("PDS_HOSTNAME");
        let jwt_secret = required("PDS_JWT_SECRET");
        let admin_password = required("PDS_ADMIN_PASSWORD");
        let rotation_hex = required("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX");
        let data_dir = get("PDS_DATA_DIRECTORY").map(PathBuf::from);
        let blob_dir = get("PDS_BLOBSTORE_DISK_LOCATION").map(PathBuf::from);
        if data_dir.is_none() {
            missing.push("PDS_DATA_DIRECTORY".into());
        }
        if blob_dir.is_none() && data_dir.is_none() {
            missing.push("PDS_BLOBSTORE_DISK_LOCATION".into());
        }
        let mut num = |k: &str, default: u64| -> u64 {
            match get(k) {
                None => default,
                Some(v) => v.parse().unwrap_or_else(|_| {
                    invalid.push(format!("{k}={v:?} is not a non-negative integer"));
                    default
                }),
            }
        };
        let port = num("PDS_PORT", 2583);
        let blob_upload_limit = num("PDS_BLOB_UPLOAD_LIMIT", 5 * 1024 * 1024);
        let repo_backfill_limit_ms = num("PDS_REPO_BACKFILL_LIMIT_MS", 24 * 60 * 60 * 1000);
        let create_session_limit = num("PDS_RATE_LIMIT_CREATE_SESSION", 30) as u32;
        let create_account_limit = num("PDS_RATE_LIMIT_CREATE_ACCOUNT", 100) as u32;
        let blob_grace_period_ms = num("PDS_BLOB_GRACE_PERIOD_MS", 60 * 60 * 1000);
        let disk_min_free_bytes = num("PDS_DISK_MIN_FREE_BYTES", 256 << 20);
        let flag = |k: &str, default: bool| get(k).map_or(default, |v| matches!(v, "true" | "1" | "yes"));
        let list =
            |k: &str| -> Vec<String> { get(k).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default() };
        let service = |url: &str, did: &str, invalid: &mut Vec<String>| match (get(url), get(did)) {
            (Some(u), Some(d)) => Some(ServiceRef { url: u.trim_end_matches('/').into(), did: d.into() }),
            (None, None) => None,
            _ => {
                invalid.push(format!("{url} and {did} must be set together"));
                None
            }
        };
        let bsky_app_view = service("PDS_BSKY_APP_VIEW_URL", "PDS_BSKY_APP_VIEW_DID", &mut invalid);
        let report_service = service("PDS_REPORT_SERVICE_URL", "PDS_REPORT_SERVICE_DID", &mut invalid);
        let rotation_key = if rotation_hex.is_empty() {
            None
        } else {
            match Keypair::from_hex(KeyType::K256, &rotation_hex) {
                Ok(k) => Some(k),
                Err(_) => {
                    invalid.push("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX is not a 64-digit hex k256 private key".into());
                    None
                }
            }
        };
        if port > u16::MAX as u64 {
            invalid.push(format!("PDS_PORT={port} is out of range"));
        }
        let mut domains = list("PDS_SERVICE_HANDLE_DOMAINS");
        if domains.is_empty() && !hostname.is_empty() {
            domains.push(format!(".{hostname}"));
        }
        let domains = domains.into_iter().map(|d| if d.starts_with('.') { d } else { format!(".{d}") }).collect();
        if !missing.is_empty() {
            return Err(ConfigError::Missing(missing));
        }
        // HS256 session tokens are only as strong as this secret (RFC 7518 §3.2: a key of at
        // least the hash's 256 bits).
        if !jwt_secret.is_empty() && jwt_secret.len() < MIN_JWT_SECRET {
            invalid.push(format!(
                "PDS_JWT_SECRET is {} bytes; it must be at least {MIN_JWT_SECRET} (generate one with `openssl rand --hex 16`)",
                jwt_secret.len()
            ));
        }
        if !invalid.is_empty() {
            return Err(ConfigError::Invalid(invalid));
        }
        let data_directory = data_dir.expect("checked");
        Ok(Config {
            blobstore_location: blob_dir.unwrap_or_else(|| data_directory.join("blocks")),
            data_directory,
            port: port as u16,
            blob_upload_limit,
            jwt_secret,
            admin_password,
            rotation_key: rotation_key.expect("checked"),
            plc_url: get("PDS_DID_PLC_URL").unwrap_or("https://plc.directory").trim_end_matches('/').into(),
            service_handle_domains: domains,
            invite_required: flag("PDS_INVITE_REQUIRED", true),
            crawlers: list("PDS_CRAWLERS"),
            repo_backfill_limit_ms,
            bsky_app_view,
            report_service,
            dev_mode: flag("PDS_DEV_MODE", false),
            create_session_limit,
            create_account_limit,
            email_smtp_url: get("PDS_EMAIL_SMTP_URL").map(String::from),
            email_from_address: get("PDS_EMAIL_FROM_ADDRESS")
                .map_or_else(|| format!("noreply@{}", hostname.split(':').next().unwrap_or_default()), String::from),
            blob_grace_period_ms,
            disk_min_free_bytes,
            lexicon_directory: get("PDS_LEXICON_DIRECTORY").map(PathBuf::from),
            hostname,
        })
    }

    /// The process environment, over an optional env file.
    pub fn load(env_file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut vars = match env_file {
            Some(p) => read_env_file(p)?,
            None => HashMap::new(),
        };
        vars.extend(std::env::vars());
        Config::from_vars(&vars)
    }

    /// The service DID: `did:web:<hostname>`.
    pub fn service_did(&self) -> String {
        format!("did:web:{}", self.hostname.replace(':', "%3A"))
    }

    /// The public URL: `https://<hostname>`, or `http://` in dev mode / for localhost.
    pub fn public_url(&self) -> String {
        if self.dev_mode || self.hostname == "localhost" || self.hostname.starts_with("localhost:") || self.hostname.starts_with("127.0.0.1") {
            format!("http://{}", self.hostname)
        } else {
            format!("https://{}", self.hostname)
        }
    }
}

/// The shortest `PDS_JWT_SECRET` accepted, in bytes.
pub const MIN_JWT_SECRET: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_env_file_as_the_reference_pds_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pds.env");
        std::fs::write(
            &path,
            "# the co-op's PDS\nPDS_HOSTNAME=pds.coop.example\nexport PDS_PORT=3000\nPDS_ADMIN_PASSWORD=\"with spaces\"\nPDS_JWT_SECRET='single'\n\n",
        )
        .unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(vars.len(), 4);
        assert_eq!((vars["PDS_HOSTNAME"].as_str(), vars["PDS_PORT"].as_str()), ("pds.coop.example", "3000"));
        assert_eq!((vars["PDS_ADMIN_PASSWORD"].as_str(), vars["PDS_JWT_SECRET"].as_str()), ("with spaces", "single"));
        let missing = read_env_file(&dir.path().join("nope.env")).unwrap_err().to_string();
        assert!(missing.contains("nope.env"), "{missing}");
    }

    #[test]
    fn lists_every_missing_setting() {
        let err = Config::from_vars(&HashMap::new()).unwrap_err().to_string();
        for k in ["PDS_HOSTNAME", "PDS_JWT_SECRET", "PDS_ADMIN_PASSWORD", "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", "PDS_DATA_DIRECTORY"] {
            assert!(err.contains(k), "{err}");
        }
    }

    #[test]
    fn reads_a_complete_environment_and_refuses_a_short_jwt_secret() {
        let key = Keypair::generate(KeyType::K256);
        let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let vars: HashMap<String, String> = [
            ("PDS_HOSTNAME", "pds.coop.example"),
            ("PDS_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("PDS_ADMIN_PASSWORD", "a"),
            ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", hex.as_str()),
            ("PDS_DATA_DIRECTORY", "/tmp/x"),
            ("PDS_SERVICE_HANDLE_DOMAINS", "coop.example, .other.example"),
            ("PDS_INVITE_REQUIRED", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut short = vars.clone();
        short.insert("PDS_JWT_SECRET".into(), "0123456789abcdef0123456789abcde".into());
        let err = Config::from_vars(&short).unwrap_err().to_string();
        assert!(err.contains("PDS_JWT_SECRET is 31 bytes; it must be at least 32"), "{err}");
        let c = Config::from_vars(&vars).unwrap();
        assert_eq!(c.service_handle_domains, vec![".coop.example", ".other.example"]);
        assert!(!c.invite_required);
        assert_eq!(c.port, 2583);
        assert_eq!(c.service_did(), "did:web:pds.coop.example");
        assert_eq!(c.rotation_key.did_key(), key.did_key());
    }
}
