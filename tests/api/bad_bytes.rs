//! A NUL character in any text the service is sent (a field, a path
//! segment, a query value) gets the contract's 4xx before any query, on
//! both backends alike: PostgreSQL cannot take a NUL in text and answered
//! these with a 500, and SQLite's admin search matched every user. Bytes
//! that are not UTF-8 in a form or query value are refused the same way.

use crate::helpers::{assert_json, Backend, TestApp, PASSWORD};
use crate::on_both_backends;
use reqwest::{Method, StatusCode};
use serde_json::json;

const NULL_CHARACTERS: &str = "Null characters are not allowed.";
const NOT_UTF8: &str = "Not a valid string: the value is not UTF-8.";

on_both_backends!(
    a_nul_in_a_field_is_a_field_error_in_json_and_in_forms,
    a_nul_in_a_client_path_segment_names_no_device,
    a_nul_in_the_admin_search_is_a_field_error,
    form_values_that_are_not_utf8_are_field_errors_not_replacements,
    a_query_value_that_is_not_utf8_is_a_field_error,
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

async fn post_form(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

/// Bytes that are not UTF-8 used to become U+FFFD, so that different
/// passwords were one: a user whose password is eight U+FFFD and `zQ` could
/// sign in with any eight invalid bytes and `zQ`.
async fn form_values_that_are_not_utf8_are_field_errors_not_replacements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let replaced = format!("{}zQ", "\u{FFFD}".repeat(8));
    let registered = app
        .register(json!({"username": "lossy", "password": replaced}))
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert_json(
        post_form(
            &app,
            "/login",
            "username=lossy&password=%FE%FD%FC%FB%FA%F9%F8%F7zQ&client=web",
        )
        .await,
        StatusCode::BAD_REQUEST,
        json!({"password": [NOT_UTF8]}),
    )
    .await;
    assert_json(
        post_form(
            &app,
            "/register",
            "username=other&password=%FF%FF%FF%FF%FF%FF%FF%FFzQ&email=%C3%A9%FF@example.com",
        )
        .await,
        StatusCode::BAD_REQUEST,
        json!({"password": [NOT_UTF8], "email": [NOT_UTF8]}),
    )
    .await;
    // A field name that is not UTF-8 names no field: ignored, as unknown
    // fields are. Valid multi-byte UTF-8 is of course fine.
    let key = app.login_as("lossy", &replaced, "web").await;
    let response = post_form(
        &app,
        "/register",
        "%FF=1&username=Ren%C3%A9&password=fresh-Violet-Kettle-42",
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let admin = app.admin_key().await;
    let lossy: serde_json::Value = app.whoami(&key).await.json().await.expect("json");
    let patch = app
        .with_token(
            Method::PATCH,
            &format!("/admin/users/{}", lossy["id"]),
            &admin,
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("is_active=%FF")
        .send()
        .await
        .expect("request");
    assert_json(
        patch,
        StatusCode::BAD_REQUEST,
        json!({"is_active": [NOT_UTF8]}),
    )
    .await;
    assert_eq!(
        app.whoami_status(&key).await,
        StatusCode::OK,
        "still active"
    );
}

async fn a_query_value_that_is_not_utf8_is_a_field_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_key().await;
    assert_json(
        app.admin_get("/admin/users?search=%FF", &admin).await,
        StatusCode::BAD_REQUEST,
        json!({"search": [NOT_UTF8]}),
    )
    .await;
    let page = app
        .admin_get("/admin/users?%FF=x&search=r%C3%B6", &admin)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
}
