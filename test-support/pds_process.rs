//! Runs the project's `pds` binary (and its PLC directory) on loopback ports for other
//! services' integration tests. It is a source file included with `#[path]` rather than a
//! crate, because no service may depend on another service's crate; the binary is the one
//! `cargo test --workspace` builds beside the test's own.
//!
//! Outside CI a missing binary skips the test with a notice; under CI (`CI=true`) it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The `pds` binary beside `own_binary` (a test's `env!("CARGO_BIN_EXE_…")`).
pub fn pds_binary(own_binary: &str) -> Option<PathBuf> {
    let bin = PathBuf::from(own_binary).with_file_name("pds");
    let what = format!("{} (built by `cargo test --workspace`)", bin.display());
    atproto::fixtures::available(bin.exists(), &what).then_some(bin)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits up to 20 s for `GET {url}/_health` to succeed.
pub async fn wait_healthy(url: &str) {
    for _ in 0..400 {
        if reqwest::get(format!("{url}/_health")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

/// A running service, killed when dropped.
pub struct Service {
    pub url: String,
    /// `host:port`, as the service names itself.
    pub host: String,
    _child: Child,
}

async fn run(command: &mut Command, port: u16) -> Service {
    let child = command.stdout(Stdio::null()).kill_on_drop(true).spawn().unwrap();
    let host = format!("127.0.0.1:{port}");
    let url = format!("http://{host}");
    wait_healthy(&url).await;
    Service { url, host, _child: child }
}

/// `pds plc serve` with its data under `data`.
pub async fn start_plc(bin: &Path, data: &Path) -> Service {
    let port = free_port();
    run(Command::new(bin).args(["plc", "serve", "--port", &port.to_string(), "--data"]).arg(data), port).await
}

/// `pds serve` in dev mode with open sign-up under `.test`, its data under `data`, using the
/// PLC directory at `plc_url` and announcing itself to `crawlers` (a relay URL) if given.
pub async fn start_pds(bin: &Path, data: &Path, plc_url: &str, crawlers: Option<&str>) -> Service {
    let port = free_port();
    let rotation: String = (0..32).map(|i| format!("{:02x}", i + 1)).collect();
    let mut command = Command::new(bin);
    command.args(["serve", "--bind", "127.0.0.1"]).env_clear().envs([
        ("PDS_HOSTNAME", format!("127.0.0.1:{port}")),
        ("PDS_PORT", port.to_string()),
        ("PDS_DATA_DIRECTORY", data.display().to_string()),
        ("PDS_JWT_SECRET", "jwt".into()),
        ("PDS_ADMIN_PASSWORD", "admin".into()),
        ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", rotation),
        ("PDS_DID_PLC_URL", plc_url.into()),
        ("PDS_SERVICE_HANDLE_DOMAINS", ".test".into()),
        ("PDS_INVITE_REQUIRED", "false".into()),
        ("PDS_DEV_MODE", "true".into()),
        ("RUST_LOG", "warn".into()),
    ]);
    if let Some(crawlers) = crawlers {
        command.env("PDS_CRAWLERS", crawlers);
    }
    run(&mut command, port).await
}
