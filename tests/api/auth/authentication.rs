//! Every row of the contract's 401 table, and what a valid token gets.

use crate::helpers::on_both_backends;
use crate::helpers::{assert_json, assert_unauthorized, Backend, Sent, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[on_both_backends]
async fn each_malformed_header_gets_its_own_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: &[(Option<&[u8]>, &str)] = &[
        (None, "Authentication credentials were not provided."),
        (
            Some(b"Basic YWxpY2U6c2VjcmV0"),
            "Authentication credentials were not provided.",
        ),
        (
            Some(b"Token"),
            "Invalid token header. No credentials provided.",
        ),
        (
            Some(b"Token a b"),
            "Invalid token header. Token string should not contain spaces.",
        ),
        (
            Some(b"Token caf\xc3\xa9"),
            "Invalid token header. Token string should not contain invalid characters.",
        ),
        (Some(b"Token mt_doesnotexist"), "Invalid token."),
    ];
    for (header, detail) in cases {
        let mut request = app.request(Method::GET, "/whoami");
        if let Some(value) = header {
            let value = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
            request = request.header("Authorization", value);
        }
        let response = request.sent().await;
        assert_unauthorized(response, detail).await;
    }
}

#[on_both_backends]
async fn unknown_and_revoked_keys_are_invalid(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    let forged = format!("mt_{}", "A".repeat(43));
    assert_unauthorized(app.whoami(&forged).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    assert_eq!(
        app.post_with_token("/logout", &key).await.status(),
        StatusCode::OK
    );
    assert_unauthorized(app.whoami(&key).await, "Invalid token.").await;
}

#[on_both_backends]
async fn a_deactivated_users_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    app.set_active_in_db("alice", false);
    assert_unauthorized(app.whoami(&key).await, "User inactive or deleted.").await;
}

#[on_both_backends]
async fn the_keyword_is_case_insensitive_and_bearer_is_accepted(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    for scheme in ["Token", "token", "TOKEN", "Bearer", "bearer"] {
        let response = app
            .request(Method::GET, "/whoami")
            .header("Authorization", format!("{scheme} {key}"))
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

#[on_both_backends]
async fn public_endpoints_ignore_authorization_headers(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let health = app
        .request(Method::GET, "/healthz")
        .header("Authorization", "Token a b")
        .sent()
        .await;
    assert_json(health, StatusCode::OK, json!({"status": "ok"})).await;
    let login = app
        .request(Method::POST, "/login")
        .header("Authorization", "Token mt_bogus")
        .json(&json!({"username": "alice", "password": crate::helpers::PASSWORD, "client": "web"}))
        .sent()
        .await;
    assert_eq!(login.status(), StatusCode::OK);
}

#[on_both_backends]
async fn whoami_describes_the_user_and_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("Alice", "alice@example.com", true);
    let key = app.login("alice", "cli").await;
    assert_json(
        app.whoami(&key).await,
        StatusCode::OK,
        json!({"id": id, "username": "Alice", "email": "alice@example.com", "email_verified": false, "is_admin": true, "client": "cli", "scopes": [], "two_factor": false}),
    )
    .await;
}
