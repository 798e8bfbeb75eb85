//! No secret reaches the logs or `/metrics`: the `pds` binary runs at `debug` (its own crate at
//! `trace`) through sign-up, logins right and wrong, an app password, a write, a refresh and
//! admin calls right and wrong; then its whole log and its metrics are searched for every
//! secret it handled.

mod common;

use common::{Auth, ADMIN_PASSWORD};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_or_exported() {
    let common::Binary { vars, log, client, mut child, dir: _dir, plc: _plc } = common::binary("debug,pds=trace").await;

    let password = "correct-horse-battery-staple-17";
    let wrong_password = "not-the-password-but-close-17";
    let wrong_admin = "not-the-admin-password-93";
    let made = client
        .post("com.atproto.server.createAccount", Auth::None, json!({"handle": "secret.test", "email": "secret@example.com", "password": password}))
        .await
        .ok();
    let (did, access, refresh) = (made["did"].as_str().unwrap(), made["accessJwt"].as_str().unwrap(), made["refreshJwt"].as_str().unwrap());
    client
        .post("com.atproto.server.createSession", Auth::None, json!({"identifier": "secret.test", "password": wrong_password}))
        .await
        .err(401, "AuthenticationRequired");
    let session = client.post("com.atproto.server.createSession", Auth::None, json!({"identifier": "secret.test", "password": password})).await.ok();
    let app = client.post("com.atproto.server.createAppPassword", Auth::Bearer(access), json!({"name": "an app"})).await.ok();
    let app_password = app["password"].as_str().unwrap();
    let app_session = client.post("com.atproto.server.createSession", Auth::None, json!({"identifier": did, "password": app_password})).await.ok();
    client.post_text(access, did, "a post").await;
    let refreshed = client.post("com.atproto.server.refreshSession", Auth::Bearer(refresh), json!({})).await.ok();
    client.invite(1).await;
    client.post("com.atproto.server.createInviteCode", Auth::Admin(wrong_admin), json!({"useCount": 1})).await.err(401, "AuthenticationRequired");
    // A bearer token that is not one, on a write (its value must not be echoed either).
    let forged = format!("{access}x");
    client.post_text_status(&forged, did).await;
    let metrics = client.get_path("/metrics", None).await.text().await.unwrap();
    child.kill().await.unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.lines().count() > 10, "the log holds the run at debug level:\n{logged}");

    let mut secrets = vec![
        ("the JWT secret", vars["PDS_JWT_SECRET"].clone()),
        ("the admin password", ADMIN_PASSWORD.to_owned()),
        ("a wrong admin password", wrong_admin.to_owned()),
        ("the rotation key", vars["PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX"].clone()),
        ("the password", password.to_owned()),
        ("a wrong password", wrong_password.to_owned()),
        ("the app password", app_password.to_owned()),
        ("a forged token", forged.clone()),
    ];
    for (what, v) in [
        ("an access token", &made["accessJwt"]),
        ("a refresh token", &made["refreshJwt"]),
        ("a session", &session["accessJwt"]),
        ("an app session", &app_session["accessJwt"]),
        ("a refreshed session", &refreshed["refreshJwt"]),
    ] {
        secrets.push((what, v.as_str().unwrap().to_owned()));
    }
    for (what, secret) in &secrets {
        // A JWT's signature is what makes it a credential; its header and claims are not secret.
        let needle = secret.rsplit('.').next().unwrap();
        assert!(!logged.contains(needle), "{what} is in the log");
        assert!(!metrics.contains(needle), "{what} is in /metrics");
    }
}
