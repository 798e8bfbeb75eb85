//! The official clients drive this PDS through an account's whole life: the TypeScript
//! `@atproto/api` (Node >= 22) and the Python `atproto` SDK, installed by
//! `scripts/clients.sh` (pinned versions, cached under `~/.cache/sonde-clients`).
//! The scripts are `pds/tests/clients/life.{mjs,py}`; each exits non-zero if any step fails.
//!
//! Installing needs the npm and PyPI registries. When that fails the test is skipped with a
//! notice, except under CI (`CI=true`), where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `NODE`, `PYTHON`, `NODE_PATH` from `scripts/clients.sh`, or `None` (skip) outside CI.
fn install_clients() -> Option<Vec<(String, String)>> {
    let out = Command::new("bash").arg(workspace().join("scripts/clients.sh")).output().expect("run bash");
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("scripts/clients.sh failed under CI:\n{why}");
        }
        println!("skipping: the official clients could not be installed (scripts/clients.sh):\n{why}");
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

async fn run_script(interpreter: &str, script: &str, env: &common::Env, clients: &[(String, String)]) {
    let script = workspace().join("pds/tests/clients").join(script);
    let (pds, plc) = (env.pds.url(), env.plc.url());
    let data = env.dir.path().join("pds");
    let mut cmd = tokio::process::Command::new(interpreter);
    cmd.arg(&script)
        .envs(clients.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PDS_URL", &pds)
        .env("PLC_URL", &plc)
        .env("ADMIN_PASSWORD", common::ADMIN_PASSWORD)
        .env("PDS_DATA_DIRECTORY", &data)
        .env("STRICT_GAPS", "1")
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), cmd.output())
        .await
        .expect("client script finishes within 5 minutes")
        .expect("run client script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "{} failed:\n{stdout}\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("FAIL "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_clients_drive_an_account_through_its_life() {
    let Some(clients) = tokio::task::spawn_blocking(install_clients).await.unwrap() else { return };
    let get = |k: &str| clients.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    let env = common::start(&[("PDS_INVITE_REQUIRED", "false"), ("PDS_RATE_LIMIT_CREATE_SESSION", "0")]).await;
    run_script(&get("NODE"), "life.mjs", &env, &clients).await;
    run_script(&get("PYTHON"), "life.py", &env, &clients).await;
    env.pds.shutdown().await;
}
