//! Where the device grant meets keys bound to the device (DPoP) and key
//! rotation: a proof at `/oauth/token` binds the key it issues; a bound key
//! gets access JWTs from the `refresh_token` grant only with its proof; with
//! `ROTATE_REFRESH_TOKENS` that grant rotates the key as `/tokens/rotate` does.

use super::device_grant::{approve, fast_polls};
use crate::helpers::dpop::DeviceKey;
use crate::helpers::on_both_backends;
use crate::helpers::{Backend, Sent, TestApp};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Codes for `client`, approved by alice's phone; the device code.
async fn approved_codes(app: &TestApp, client: &str) -> String {
    let phone = app.login("alice", "phone").await;
    let response = app
        .request(Method::POST, "/oauth/device_authorization")
        .form(&[("client_id", client)])
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let codes: Value = response.json().await.expect("json");
    let user_code = codes["user_code"].as_str().expect("user_code");
    let approved = approve(app, &phone, user_code, json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    codes["device_code"]
        .as_str()
        .expect("device_code")
        .to_owned()
}

/// `POST /oauth/token` with `form`, and a `DPoP` header when `proof` is some.
async fn token(app: &TestApp, form: &[(&str, &str)], proof: Option<String>) -> Response {
    let mut request = app.request(Method::POST, "/oauth/token").form(form);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.sent().await
}

#[on_both_backends]
async fn a_proof_at_the_token_endpoint_binds_the_device_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast_polls).await;
    app.create_user("alice", "", false);
    let device_code = approved_codes(&app, "tv").await;
    let tv = DeviceKey::es256();
    let url = app.url("/oauth/token");
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code.as_str()),
        ("client_id", "tv"),
    ];
    let response = token(&app, &form, Some(tv.proof("POST", &url))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let key = body["access_token"].as_str().expect("access_token");
    let whoami_url = app.url("/whoami");
    assert_eq!(
        app.whoami_as("Bearer", key, None).await.status(),
        StatusCode::UNAUTHORIZED,
        "a bound key alone is refused"
    );
    let proof = tv.proof_for("GET", &whoami_url, key);
    assert_eq!(
        app.whoami_as("DPoP", key, Some(proof)).await.status(),
        StatusCode::OK
    );
    let other = DeviceKey::es256().proof_for("GET", &whoami_url, key);
    assert_eq!(
        app.whoami_as("DPoP", key, Some(other)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a proof by another key"
    );
}

#[on_both_backends]
async fn a_bad_proof_at_the_token_endpoint_issues_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        fast_polls(settings);
        settings.dpop.dpop_required_clients = "cli".into();
    })
    .await;
    app.create_user("alice", "", false);
    let device_code = approved_codes(&app, "tv").await;
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code.as_str()),
        ("client_id", "tv"),
    ];
    let wrong_url = DeviceKey::es256().proof("POST", &app.url("/login"));
    let response = token(&app, &form, Some(wrong_url)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The grant was not spent by the refused request: a good proof gets the key.
    let tv = DeviceKey::es256();
    let response = token(
        &app,
        &form,
        Some(tv.proof("POST", &app.url("/oauth/token"))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let device_code = approved_codes(&app, "cli").await;
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code.as_str()),
        ("client_id", "cli"),
    ];
    let response = token(&app, &form, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[on_both_backends]
async fn the_refresh_token_grant_needs_the_bound_keys_proof(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let cli = DeviceKey::es256();
    let response = app
        .request(Method::POST, "/login")
        .header("DPoP", cli.proof("POST", &app.url("/login")))
        .json(&json!({"username": "alice", "password": crate::helpers::PASSWORD, "client": "cli"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let key = body["auth_token"].as_str().expect("auth_token");
    let form = [("grant_type", "refresh_token"), ("refresh_token", key)];
    let url = app.url("/oauth/token");
    let response = token(&app, &form, None).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a copied bound key gets no access JWT"
    );
    let stranger = DeviceKey::es256().proof_for("POST", &url, key);
    assert_eq!(
        token(&app, &form, Some(stranger)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = token(&app, &form, Some(cli.proof_for("POST", &url, key))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[on_both_backends]
async fn the_refresh_token_grant_rotates_the_key_when_asked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tokens.rotate_refresh_tokens = true;
    })
    .await;
    app.create_user("alice", "", false);
    let old = app.login("alice", "cli").await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old.as_str()),
    ];
    let response = token(&app, &form, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let new = body["refresh_token"].as_str().expect("refresh_token");
    assert_ne!(new, old);
    assert_eq!(
        app.whoami_as("Token", new, None).await.status(),
        StatusCode::OK
    );
    let devices = app.devices(new).await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    let events = app.own_events(new).await;
    let rotated = events
        .iter()
        .filter(|event| event["type"] == "rotated")
        .count();
    assert_eq!(rotated, 1, "{events:?}");
}
