//! A NUL character in any text the service is sent (a field, a path
//! segment, a query value) gets the contract's 4xx before any query, on
//! both backends alike: PostgreSQL cannot take a NUL in text and answered
//! these with a 500, and SQLite's admin search matched every user.

use crate::helpers::{assert_json, Backend, TestApp, PASSWORD};
use crate::on_both_backends;
use reqwest::{Method, StatusCode};
use serde_json::json;

const NULL_CHARACTERS: &str = "Null characters are not allowed.";

on_both_backends!(
    a_nul_in_a_field_is_a_field_error_in_json_and_in_forms,
    a_nul_in_a_client_path_segment_names_no_device,
    a_nul_in_the_admin_search_is_a_field_error,
);

async fn a_nul_in_a_field_is_a_field_error_in_json_and_in_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let login = json!({"username": "al\u{0}ice", "password": PASSWORD, "client": "web"});
    assert_json(
        app.post_json("/login", login).await,
        StatusCode::BAD_REQUEST,
        json!({"username": [NULL_CHARACTERS]}),
    )
    .await;
    let form = app
        .http
        .post(app.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username=al%00ice&password={PASSWORD}&client=web"))
        .send()
        .await
        .expect("request");
    assert_json(
        form,
        StatusCode::BAD_REQUEST,
        json!({"username": [NULL_CHARACTERS]}),
    )
    .await;
    let register = json!({"username": "bob", "password": "long-enough\u{0}password"});
    assert_json(
        app.register(register).await,
        StatusCode::BAD_REQUEST,
        json!({"password": [NULL_CHARACTERS]}),
    )
    .await;
    assert_json(
        app.post_json(
            "/password/reset",
            json!({"email": "al\u{0}ice@example.com"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        json!({"email": [NULL_CHARACTERS]}),
    )
    .await;
}

async fn a_nul_in_a_client_path_segment_names_no_device(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_key().await;
    let alice = app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    assert_json(
        app.delete_with_token("/tokens/web%00", &key).await,
        StatusCode::NOT_FOUND,
        json!({"detail": "Not found."}),
    )
    .await;
    let path = format!("/admin/users/{alice}/tokens/web%00");
    assert_json(
        app.admin_request(Method::DELETE, &path, &admin, None).await,
        StatusCode::NOT_FOUND,
        json!({"detail": "Not found."}),
    )
    .await;
    assert_eq!(
        app.whoami_status(&key).await,
        StatusCode::OK,
        "web is untouched"
    );
}

async fn a_nul_in_the_admin_search_is_a_field_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_key().await;
    app.create_user("alice", "", false);
    assert_json(
        app.admin_get("/admin/users?search=%00", &admin).await,
        StatusCode::BAD_REQUEST,
        json!({"search": [NULL_CHARACTERS]}),
    )
    .await;
}
