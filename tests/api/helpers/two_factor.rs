//! Two-factor authentication from the client's side: TOTP codes, the
//! set-up and confirmation that turn it on, a login that sends a code.

use super::Sent;
use super::{unix_now, TestApp, PASSWORD};
use multitoken::domain::two_factor::TotpSecret;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// A TOTP code `steps` time steps from now (30 s each).
pub fn code(secret: &TotpSecret, steps: i64) -> String {
    let at = unix_now().as_secs().saturating_add_signed(steps * 30);
    secret.code_at(at).expect("code")
}

/// A six-digit code that matches none of the steps a server may accept
/// now or in the next half minute.
pub fn wrong_code(secret: &TotpSecret) -> String {
    let near: Vec<String> = (-1..=2).map(|steps| code(secret, steps)).collect();
    (0..10)
        .map(|digit| digit.to_string().repeat(6))
        .find(|candidate| !near.contains(candidate))
        .expect("a wrong code")
}

pub async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> Response {
    app.http
        .post(app.url(path))
        .header("Authorization", format!("Token {key}"))
        .json(&body)
        .sent()
        .await
}

pub async fn login_with_otp(app: &TestApp, username: &str, otp: Option<&str>) -> Response {
    let mut body = json!({"username": username, "password": PASSWORD, "client": "phone"});
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    app.post_json("/login", body).await
}

/// Sets up and confirms two-factor for `username`: its secret and
/// recovery codes. The confirming code is of the current step.
pub async fn enable(app: &TestApp, username: &str) -> (TotpSecret, Vec<String>, u64) {
    let key = app.login(username, "setup").await;
    let response = post(app, "/2fa/totp/setup", &key, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let setup: Value = response.json().await.expect("json");
    let secret =
        TotpSecret::from_base32(setup["secret"].as_str().expect("secret")).expect("base32");
    let confirmed_at = unix_now().as_secs();
    let response = post(
        app,
        "/2fa/totp/confirm",
        &key,
        json!({"code": secret.code_at(confirmed_at).expect("code")}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let codes = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect();
    (secret, codes, confirmed_at)
}
