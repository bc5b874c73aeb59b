//! `POST /register` and the password rules wherever a password is set.

use crate::helpers::mail::NEW_PASSWORD;
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_failed_with, assert_json, header, Backend, Sent,
    TestApp,
};
use multitoken::config::Registration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const REQUIRED: &str = "This field is required.";
const TAKEN: &str = "A user with that username already exists.";
const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const NUMERIC: &str = "This password is entirely numeric.";
const COMMON: &str = "This password is too common.";
const SIMILAR: &str = "The password is too similar to the username.";

#[on_both_backends]
async fn a_registration_creates_a_user_who_can_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .register(
            json!({"username": "Alice", "password": NEW_PASSWORD, "email": "alice@example.com"}),
        )
        .await;
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let body: Value = {
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json")
    };
    let id = body["id"].as_i64().expect("integer id");
    assert_eq!(
        body,
        json!({"id": id, "username": "Alice", "email": "alice@example.com"})
    );
    let key = app.login_as("alice", NEW_PASSWORD, "web").await;
    assert_json(
        app.whoami(&key).await,
        StatusCode::OK,
        json!({"id": id, "username": "Alice", "email": "alice@example.com", "email_verified": false, "is_admin": false, "client": "web", "scopes": [], "two_factor": false}),
    )
    .await;
    // The e-mail is optional.
    let response = app
        .register(json!({"username": "bob", "password": NEW_PASSWORD}))
        .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["email"], "");
    assert!(body.get("auth_token").is_none(), "{body}");
}

#[on_both_backends]
async fn a_registration_with_a_client_is_logged_in_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .request(Method::POST, "/register")
        .header("User-Agent", "Signup/1.0")
        .json(&json!({"username": "alice", "password": NEW_PASSWORD, "client": "ios"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let key = body["auth_token"].as_str().expect("auth_token").to_owned();
    assert!(key.starts_with("mt_"), "{key}");
    let proof = body["device_proof"].as_str().expect("device_proof");
    assert!(proof.ends_with(".ios"), "{proof}");
    assert_eq!(
        body,
        json!({"id": body["id"], "username": "alice", "email": "", "auth_token": key, "device_proof": proof})
    );
    let devices = app.devices(&key).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["client"], "ios");
    assert_eq!(devices[0]["user_agent"], "Signup/1.0");
    assert_eq!(devices[0]["current"], true);
}

#[on_both_backends]
async fn a_form_body_registers_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .request(Method::POST, "/register/")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=carol&password={NEW_PASSWORD}&email=carol%40example.com"
        ))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.login_as("carol", NEW_PASSWORD, "web").await;
}

#[on_both_backends]
async fn missing_fields_are_all_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_bad_request(
        app.register(json!({})).await,
        json!({"username": [REQUIRED], "password": [REQUIRED]}),
    )
    .await;
    assert_bad_request(
        app.register(json!({"username": "", "password": "", "email": 5}))
            .await,
        json!({"username": [REQUIRED], "password": [REQUIRED], "email": ["Not a valid string."]}),
    )
    .await;
}

#[on_both_backends]
async fn every_invalid_field_and_broken_password_rule_is_reported_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_bad_request(app.register(json!({"username": "a b", "password": "1234", "email": "nope", "client": "my phone"}))
            .await, json!({
            "username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."],
            "password": [TOO_SHORT, COMMON, NUMERIC],
            "email": ["Enter a valid email address."],
            "client": ["Enter a valid client name: 1-64 letters, digits, '.', '_' or '-'."],
        })).await;
    assert_bad_request(
        app.register(json!({"username": "u".repeat(151), "password": "98765432109"}))
            .await,
        json!({
            "username": ["Ensure this field has no more than 150 characters."],
            "password": [NUMERIC],
        }),
    )
    .await;
    assert_bad_request(
        app.register(json!({"username": "margaret", "password": "Margaret-99"}))
            .await,
        json!({"password": [SIMILAR]}),
    )
    .await;
    assert_bad_request(app.register(json!({"username": "bob", "password": "smithereens", "email": "bob.smithers@example.com"}))
            .await, json!({"password": ["The password is too similar to the email address."]})).await;
    let list = app.cli(&["user", "list"], "");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "",
        "nobody was created"
    );
}

#[on_both_backends]
async fn common_passwords_are_refused_without_regard_to_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for common in ["password", "PassWord1", "QWERTY123", "iloveyou", "letmein1"] {
        assert_bad_request(
            app.register(json!({"username": "zed", "password": common}))
                .await,
            json!({"password": [COMMON]}),
        )
        .await;
    }
}

#[on_both_backends]
async fn a_taken_username_is_refused_without_regard_to_case(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    assert_bad_request(
        app.register(json!({"username": "ALICE", "password": NEW_PASSWORD}))
            .await,
        json!({"username": [TAKEN]}),
    )
    .await;
    // Reported together with the other problems.
    assert_bad_request(
        app.register(json!({"username": "Alice", "password": "short"}))
            .await,
        json!({"username": [TAKEN], "password": [TOO_SHORT]}),
    )
    .await;
}

#[on_both_backends]
async fn concurrent_registrations_of_one_name_create_exactly_one_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let names = ["dora", "Dora", "DORA", "dOra", "doRa", "dorA"];
    let responses = futures_util::future::join_all(names.iter().map(|name| {
        app.register(json!({"username": name, "password": NEW_PASSWORD, "client": "web"}))
    }))
    .await;
    let mut created = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                assert_json(
                    response,
                    StatusCode::BAD_REQUEST,
                    json!({"username": [TAKEN]}),
                )
                .await
            }
        }
    }
    assert_eq!(created, 1);
    let list = String::from_utf8_lossy(&app.cli(&["user", "list"], "").stdout).into_owned();
    assert_eq!(list.lines().count(), 1, "{list}");
}

#[on_both_backends]
async fn closed_registration_is_forbidden(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.accounts.registration = Registration::Closed
    })
    .await;
    for body in [
        json!({"username": "alice", "password": NEW_PASSWORD}),
        json!({}),
    ] {
        assert_detail(
            app.register(body).await,
            StatusCode::FORBIDDEN,
            "Registration is closed.",
        )
        .await;
    }
    assert_eq!(
        app.login_status("alice", NEW_PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );
}

#[on_both_backends]
async fn the_command_line_applies_the_password_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let common = app.cli(
        &["user", "create", "erin", "--password-stdin"],
        "Sunshine1\n",
    );
    assert_failed_with(&common, COMMON);
    let created = app.cli(
        &[
            "user",
            "create",
            "margaret",
            "--email",
            "m@example.com",
            "--password-stdin",
        ],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(created.status.success(), "{created:?}");
    let similar = app.cli(
        &["user", "set-password", "MARGARET", "--password-stdin"],
        "Margaret-99\n",
    );
    assert_failed_with(&similar, SIMILAR);
    app.login_as("margaret", NEW_PASSWORD, "web").await;
}
