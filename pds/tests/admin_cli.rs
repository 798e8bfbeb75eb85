//! `pds admin …`, the operator CLI, run as a process against a PDS on loopback: invite codes,
//! account creation (with a generated password), listing, takedown and its reversal, password
//! reset, and deletion; a wrong admin password is refused with a clear error.

mod common;

use common::{Auth, ADMIN_PASSWORD};
use serde_json::json;

fn admin(url: &str, password: &str, args: &[String]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pds"))
        .args(["admin", "--url", url, "--admin-password", password])
        .args(args)
        .env_remove("PDS_ADMIN_PASSWORD")
        .env_remove("PDS_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The value after `label` on its line of `text`.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines().find_map(|l| l.strip_prefix(label)).unwrap_or_else(|| panic!("no {label:?} in {text}")).trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_cli_manages_accounts() {
    let env = common::start(&[]).await; // invites required (the default)
    let url = env.pds.url();
    let c = &env.client;
    let run_as = |password: &'static str, args: &[&str]| {
        let (url, args) = (url.clone(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        async move { tokio::task::spawn_blocking(move || admin(&url, password, &args)).await.unwrap() }
    };
    let run = |args: &[&str]| run_as(ADMIN_PASSWORD, args);

    let (ok, text) = run_as("wrong", &["list-accounts"]).await;
    assert!(!ok && text.contains("401"), "{text}");

    let (ok, code) = run(&["create-invite-code", "--uses", "2"]).await;
    assert!(ok, "{code}");
    let code = code.trim().to_string();
    c.post(
        "com.atproto.server.createAccount",
        Auth::None,
        json!({"handle": "invited.test", "email": "invited@example.com", "password": "pw-invited", "inviteCode": code}),
    )
    .await
    .ok();

    let (ok, text) = run(&["create-account", "member@example.com", "member.test"]).await;
    assert!(ok, "{text}");
    let password = field(&text, "Password:").to_string();
    let did = text.split('(').nth(1).unwrap().split(')').next().unwrap().to_string();
    let login = json!({"identifier": "member.test", "password": password});
    c.post("com.atproto.server.createSession", Auth::None, login.clone()).await.ok();

    let (ok, list) = run(&["list-accounts"]).await;
    assert!(ok, "{list}");
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.lines().any(|l| l.starts_with(&did) && l.contains("member.test") && l.ends_with("active")), "{list}");

    let (ok, text) = run(&["takedown", &did]).await;
    assert!(ok, "{text}");
    c.post("com.atproto.server.createSession", Auth::None, login.clone()).await.err(401, "AccountTakedown");
    let (_, list) = run(&["list-accounts"]).await;
    assert!(list.lines().any(|l| l.starts_with(&did) && l.ends_with("takendown")), "{list}");
    let (ok, text) = run(&["untakedown", &did]).await;
    assert!(ok, "{text}");
    c.post("com.atproto.server.createSession", Auth::None, login.clone()).await.ok();

    let (ok, text) = run(&["reset-password", &did, "--password", "new-member-pw"]).await;
    assert!(ok, "{text}");
    c.post("com.atproto.server.createSession", Auth::None, login).await.err(401, "AuthenticationRequired");
    let login = json!({"identifier": "member.test", "password": "new-member-pw"});
    c.post("com.atproto.server.createSession", Auth::None, login.clone()).await.ok();

    let (ok, text) = run(&["delete-account", &did]).await;
    assert!(ok, "{text}");
    c.post("com.atproto.server.createSession", Auth::None, login).await.err(401, "AuthenticationRequired");
    let (_, list) = run(&["list-accounts"]).await;
    assert_eq!(list.lines().count(), 1, "{list}");
    env.pds.shutdown().await;
}
