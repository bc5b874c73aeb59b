//! A NUL character in any text the service is sent (a field, a path
//! segment, a query value) gets the contract's 4xx before any query, on
//! both backends alike: PostgreSQL cannot take a NUL in text and answered
//! these with a 500, and SQLite's admin search matched every user. Bytes
//! that are not UTF-8 in a form or query value are refused the same way.

use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{assert_bad_request, assert_not_found, Backend, Sent, TestApp, PASSWORD};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const NULL_CHARACTERS: &str = "Null characters are not allowed.";
const NOT_UTF8: &str = "Not a valid string: the value is not UTF-8.";

#[on_both_backends]
async fn a_nul_in_a_field_is_a_field_error_in_json_and_in_forms(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let login = json!({"username": "al\u{0}ice", "password": PASSWORD, "client": "web"});
    assert_bad_request(
        app.post_json("/login", login).await,
        json!({"username": [NULL_CHARACTERS]}),
    )
    .await;
    let form = app
        .request(Method::POST, "/login")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username=al%00ice&password={PASSWORD}&client=web"))
        .sent()
        .await;
    assert_bad_request(form, json!({"username": [NULL_CHARACTERS]})).await;
    let register = json!({"username": "bob", "password": "long-enough\u{0}password"});
    assert_bad_request(
        app.register(register).await,
        json!({"password": [NULL_CHARACTERS]}),
    )
    .await;
    assert_bad_request(
        app.post_json(
            "/password/reset",
            json!({"email": "al\u{0}ice@example.com"}),
        )
        .await,
        json!({"email": [NULL_CHARACTERS]}),
    )
    .await;
}

#[on_both_backends]
async fn a_nul_in_a_client_path_segment_names_no_device(backend: Backend) {
    let (app, admin, alice, key) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    assert_not_found(app.delete_with_token("/tokens/web%00", &key).await).await;
    let path = format!("/admin/users/{alice}/tokens/web%00");
    assert_not_found(app.admin_request(Method::DELETE, &path, &admin, None).await).await;
    app.assert_whoami(&key, StatusCode::OK, "web is untouched")
        .await;
}

#[on_both_backends]
async fn a_nul_in_the_admin_search_is_a_field_error(backend: Backend) {
    let (app, admin) = TestApp::spawn_with_admin_key(backend).await;
    app.create_user("alice", "", false);
    assert_bad_request(
        app.admin_get("/admin/users?search=%00", &admin).await,
        json!({"search": [NULL_CHARACTERS]}),
    )
    .await;
}

async fn post_form(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.request(Method::POST, path)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .sent()
        .await
}

/// Bytes that are not UTF-8 used to become U+FFFD, so that different
/// passwords were one: a user whose password is eight U+FFFD and `zQ` could
/// sign in with any eight invalid bytes and `zQ`.
#[on_both_backends]
async fn form_values_that_are_not_utf8_are_field_errors_not_replacements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let replaced = format!("{}zQ", "\u{FFFD}".repeat(8));
    let registered = app
        .register(json!({"username": "lossy", "password": replaced}))
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert_bad_request(
        post_form(
            &app,
            "/login",
            "username=lossy&password=%FE%FD%FC%FB%FA%F9%F8%F7zQ&client=web",
        )
        .await,
        json!({"password": [NOT_UTF8]}),
    )
    .await;
    assert_bad_request(
        post_form(
            &app,
            "/register",
            "username=other&password=%FF%FF%FF%FF%FF%FF%FF%FFzQ&email=%C3%A9%FF@example.com",
        )
        .await,
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
        .sent()
        .await;
    assert_bad_request(patch, json!({"is_active": [NOT_UTF8]})).await;
    app.assert_whoami(&key, StatusCode::OK, "still active")
        .await;
}

#[on_both_backends]
async fn a_query_value_that_is_not_utf8_is_a_field_error(backend: Backend) {
    let (app, admin) = TestApp::spawn_with_admin_key(backend).await;
    assert_bad_request(
        app.admin_get("/admin/users?search=%FF", &admin).await,
        json!({"search": [NOT_UTF8]}),
    )
    .await;
    let page = app
        .admin_get("/admin/users?%FF=x&search=r%C3%B6", &admin)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
}

/// Random text, heavy in what breaks storage and parsers: NUL and other
/// control characters, lone combining marks, right-to-left marks, quotes,
/// `%`, `_` and `\` (SQL `LIKE` wildcards and escapes), and long runs.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\u{0}".to_owned()),
        "[\\x01-\\x1f\\x7f]",
        "[%_\\\\'\"]",
        "[\\u{0300}\\u{200b}\\u{202e}\\u{feff}\\u{fffd}]",
        "\\PC{1,4}",
        "[a-z0-9]{1,8}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// The contract's rule for any text in any input: a 2xx or 4xx with a JSON
/// body, never a 5xx, on both backends; and a NUL in a field is refused
/// with a field error. Checked on generated inputs (a fixed seed, so a
/// failure repeats) sent to every kind of input the API has.
#[on_both_backends]
async fn any_text_in_any_input_gets_json_and_never_a_server_error(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.throttles.login_throttle = throttle("100000/1m");
        s.throttles.register_throttle = s.throttles.login_throttle;
        s.throttles.password_reset_throttle = s.throttles.login_throttle;
        s.throttles.revoke_throttle = s.throttles.login_throttle;
    })
    .await;
    let admin = app.admin_key().await;
    let key = app.login("root", "cli").await;
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    for case in 0..48 {
        let text = hostile_text()
            .new_tree(&mut runner)
            .expect("a generated value")
            .current();
        let posts = [
            (
                "/login",
                json!({"username": text, "password": text, "client": text}),
            ),
            (
                "/register",
                json!({"username": text, "password": text, "email": text}),
            ),
            ("/password/reset", json!({"email": text})),
            (
                "/password/reset/confirm",
                json!({"uid": text, "token": text, "new_password": text}),
            ),
            ("/revoke", json!({"token": text})),
        ];
        let mut responses = Vec::new();
        for (path, body) in posts {
            responses.push((path.to_owned(), app.post_json(path, body).await));
        }
        let authenticated = [
            (
                Method::GET,
                format!("/admin/users?search={}", encode(&text)),
            ),
            (Method::GET, format!("/admin/users?page={}", encode(&text))),
            (Method::DELETE, format!("/tokens/{}", encode(&text))),
            (Method::GET, format!("/auth/verify?scope={}", encode(&text))),
        ];
        for (method, path) in authenticated {
            let response = app.admin_request(method, &path, &admin, None).await;
            responses.push((path, response));
        }
        let introspection = app
            .with_token(Method::POST, "/introspect", &key)
            .form(&[("token", text.as_str())])
            .sent()
            .await;
        responses.push(("/introspect".to_owned(), introspection));
        for (path, response) in responses {
            let status = response.status();
            assert!(
                status.is_success() || status.is_client_error(),
                "case {case}: {path} with {text:?} answered {status}"
            );
            let body = response.bytes().await.expect("body");
            if status != StatusCode::NO_CONTENT && !path.starts_with("/auth/verify") {
                let parsed: Result<Value, _> = serde_json::from_slice(&body);
                assert!(
                    parsed.is_ok(),
                    "case {case}: {path} with {text:?}: not JSON: {body:?}"
                );
                if text.contains('\u{0}') && path == "/login" {
                    let errors = parsed.unwrap_or_default();
                    assert_eq!(status, StatusCode::BAD_REQUEST, "{errors}");
                    assert!(
                        errors.to_string().contains(NULL_CHARACTERS),
                        "case {case}: a NUL in /login: {errors}"
                    );
                }
            }
        }
    }
    // The admin's key lasted: the inputs were judged, not refused as a whole.
    assert_eq!(app.whoami_status(&admin).await, StatusCode::OK);
}
