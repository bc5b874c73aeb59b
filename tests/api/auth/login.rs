//! `POST /login`: credentials in JSON, form or Basic; one token per client.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_non_field_error, header, issued_keys, signed_in_body,
    Backend, Sent, TestApp, PASSWORD,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use multitoken::domain::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

#[on_both_backends]
async fn a_login_returns_a_prefixed_key_that_is_not_cached(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let before = Timestamp::now();
    let body = signed_in_body(app.post_login("alice", PASSWORD, "web").await, "web").await;
    let key = body["auth_token"].as_str().expect("key");
    let expires_at = body["expires_at"].as_str().expect("expires_at");
    let expected = before.plus(Duration::from_secs(14 * 86_400)).to_rfc3339();
    assert!(
        expires_at >= expected.as_str() && expires_at.ends_with('Z'),
        "{expires_at} vs {expected}"
    );
    assert_eq!(app.whoami_status(key).await, StatusCode::OK);
}

#[on_both_backends]
async fn form_bodies_and_basic_credentials_log_in_too(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let form = app
        .request(Method::POST, "/login")
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(format!("username=alice&password={PASSWORD}&client=web"))
        .sent()
        .await;
    assert_eq!(form.status(), StatusCode::OK);
    let basic = app
        .request(Method::POST, "/login")
        .basic_auth("alice", Some(PASSWORD))
        .json(&json!({"client": "ios"}))
        .sent()
        .await;
    assert_eq!(basic.status(), StatusCode::OK);
    let body: Value = basic.json().await.expect("json");
    assert_eq!(body["client"], "ios");
    assert_eq!(
        app.whoami_status(body["auth_token"].as_str().expect("key"))
            .await,
        StatusCode::OK
    );
}

#[on_both_backends]
async fn bad_basic_credentials_get_a_basic_challenge(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    for credentials in [
        STANDARD.encode("alice:wrong-password"),
        STANDARD.encode("nobody:x"),
        "%%%".to_owned(),
    ] {
        let response = app
            .request(Method::POST, "/login")
            .header("Authorization", format!("Basic {credentials}"))
            .json(&json!({"client": "web"}))
            .sent()
            .await;
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Basic realm=\"api\"")
        );
        assert_detail(
            response,
            StatusCode::UNAUTHORIZED,
            "Invalid username/password.",
        )
        .await;
    }
}

/// L3 of security round three: a NUL in Basic credentials reached
/// PostgreSQL, which refuses it in text: a 500 there, a 401 on SQLite.
#[on_both_backends]
async fn a_nul_in_basic_credentials_is_the_basic_refusal_on_login_and_token(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    for path in ["/login", "/token"] {
        for credentials in [
            "ali\0ce:x".to_owned(),
            format!("alice\0:{PASSWORD}"),
            format!("alice:{PASSWORD}\0"),
            "\0:\0".to_owned(),
        ] {
            let response = app
                .request(Method::POST, path)
                .header(
                    "Authorization",
                    format!("Basic {}", STANDARD.encode(&credentials)),
                )
                .json(&json!({"client": "web"}))
                .sent()
                .await;
            assert_eq!(
                header(&response, "www-authenticate"),
                Some("Basic realm=\"api\""),
                "{path} {credentials:?}"
            );
            assert_detail(
                response,
                StatusCode::UNAUTHORIZED,
                "Invalid username/password.",
            )
            .await;
        }
        // And the right credentials still sign in there.
        let response = app
            .request(Method::POST, path)
            .basic_auth("alice", Some(PASSWORD))
            .json(&json!({"client": "web"}))
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[on_both_backends]
async fn the_username_matches_without_regard_to_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("Alice", "", false);
    for typed in ["alice", "ALICE", "aLiCe"] {
        assert_eq!(
            app.login_status(typed, PASSWORD, "web").await,
            StatusCode::OK,
            "{typed}"
        );
    }
}

#[on_both_backends]
async fn wrong_unknown_and_inactive_users_get_one_message(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    app.create_user("gone", "", false);
    let output = app.cli(&["user", "deactivate", "gone"], "");
    assert!(output.status.success(), "{output:?}");
    for (username, password) in [
        ("alice", "wrong-password"),
        ("nobody", PASSWORD),
        ("gone", PASSWORD),
    ] {
        let response = app.post_login(username, password, "web").await;
        assert_non_field_error(response, BAD_CREDENTIALS).await;
    }
}

#[on_both_backends]
async fn missing_and_invalid_fields_are_all_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let required = ["This field is required."];
    let empty = app.post_json("/login", json!({})).await;
    assert_bad_request(
        empty,
        json!({"username": required, "password": required, "client": required}),
    )
    .await;
    let blank = app
        .post_json(
            "/login",
            json!({"username": "", "password": "x", "client": "my phone"}),
        )
        .await;
    assert_bad_request(
        blank,
        json!({
            "username": required,
            "client": ["Enter a valid client name: 1-64 letters, digits, '.', '_' or '-'."],
        }),
    )
    .await;
    let long_client = app.post_login("alice", "x", &"c".repeat(65)).await;
    assert_eq!(long_client.status(), StatusCode::BAD_REQUEST);
    let wrong_type = app
        .post_json(
            "/login",
            json!({"username": 5, "password": "x", "client": "web"}),
        )
        .await;
    assert_bad_request(wrong_type, json!({"username": ["Not a valid string."]})).await;
}

#[on_both_backends]
async fn logging_in_again_replaces_only_that_clients_token(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    let web_again = app.login("alice", "web").await;
    assert_ne!(web, web_again);
    crate::helpers::assert_unauthorized(app.whoami(&web).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&web_again).await, StatusCode::OK);
    assert_eq!(app.whoami_status(&ios).await, StatusCode::OK);
    let clients = app.device_clients(&ios).await;
    assert_eq!(clients.len(), 2);
}

#[on_both_backends]
async fn the_client_limit_refuses_new_clients_but_not_relogins(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |settings| settings.tokens.max_clients_per_user = 2).await;
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
    app.login("alice", "ios").await;
    let third = app.post_login("alice", PASSWORD, "cli").await;
    assert_detail(
        third,
        StatusCode::FORBIDDEN,
        "Maximum number of clients per user exceeded.",
    )
    .await;
    let ios = app.login("alice", "ios").await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::OK);
    // Freeing a slot lets a new client in.
    assert_eq!(
        app.delete_with_token("/tokens/web", &ios).await.status(),
        StatusCode::NO_CONTENT
    );
    app.login("alice", "cli").await;
}

#[on_both_backends]
async fn concurrent_logins_of_one_client_leave_exactly_one_token(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let attempts = (0..8).map(|_| app.post_login("alice", PASSWORD, "web"));
    let responses = futures_util::future::join_all(attempts).await;
    let keys = issued_keys(responses, "concurrent logins").await;
    let working = app.live_keys(&keys).await;
    assert_eq!(
        working.len(),
        1,
        "exactly one of the concurrent logins' keys works"
    );
    assert_eq!(app.device_clients(&working[0]).await, ["web"]);
}

#[on_both_backends]
async fn keys_are_stored_only_as_digests(backend: Backend) {
    use diesel::prelude::*;
    use multitoken::db::schema::tokens;
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    let digests: Vec<Vec<u8>> = tokens::table
        .select(tokens::digest)
        .load(&mut app.connection())
        .expect("load");
    assert_eq!(
        digests,
        vec![multitoken::domain::TokenDigest::of(&key).0.to_vec()]
    );
    if let multitoken::db::Database::Sqlite { path } = &app.db.database {
        let secret = &key.as_bytes()[3..];
        for file in [path.clone(), format!("{path}-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{file} holds the key in clear"
            );
        }
    }
}
