//! `/auth/verify`'s identity headers are kept with a cached key and reused
//! (PostgreSQL with the token cache): they must still follow every change
//! of the user they describe, on the very next check.

use crate::helpers::on_both_backends;
use crate::helpers::{header, Backend, Sent, TestApp};
use reqwest::StatusCode;
use serde_json::json;

/// The identity headers a check of `key` answers with, in a fixed order.
async fn identity(app: &TestApp, key: &str) -> [Option<String>; 6] {
    let response = app
        .http
        .get(app.url("/auth/verify"))
        .bearer_auth(key)
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    [
        "x-auth-request-user",
        "remote-user",
        "x-auth-request-email",
        "remote-email",
        "x-multitoken-admin",
        "x-multitoken-client",
    ]
    .map(|name| header(&response, name).map(str::to_owned))
}

fn expected(user: &str, email: Option<&str>, admin: bool) -> [Option<String>; 6] {
    let email = email.map(str::to_owned);
    [
        Some(user.to_owned()),
        Some(user.to_owned()),
        email.clone(),
        email,
        Some(admin.to_string()),
        Some("web".to_owned()),
    ]
}

#[on_both_backends]
async fn identity_headers_follow_a_change_of_the_user_on_the_next_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    let root = app.admin_key().await;
    let key = app.login("alice", "web").await;
    let before = expected("alice", Some("alice@example.com"), false);
    // The first check caches the key, the next ones are served from it.
    for _ in 0..3 {
        assert_eq!(identity(&app, &key).await, before);
    }

    let changed = app
        .admin_patch(
            alice,
            &root,
            json!({"email": "alice@example.org", "is_admin": true}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let after = expected("alice", Some("alice@example.org"), true);
    for _ in 0..3 {
        assert_eq!(identity(&app, &key).await, after);
    }

    let cleared = app.admin_patch(alice, &root, json!({"email": ""})).await;
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(
        identity(&app, &key).await,
        expected("alice", None, true),
        "no e-mail headers once the address is gone"
    );
}
