//! `POST /password/change`: the old password is checked, the new one must
//! pass the rules, and every other device is signed out.

use crate::helpers::mail::NEW_PASSWORD;
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_unauthorized, Backend, TestApp, PASSWORD,
};
use reqwest::StatusCode;
use serde_json::json;

const SAVED: &str = "New password has been saved.";
const WRONG_OLD: &str = "Your old password was entered incorrectly.";

#[on_both_backends]
async fn a_change_keeps_the_current_device_and_signs_out_the_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let tv = app.login("alice", "tv").await;
    assert_detail(
        app.change_password(&web, PASSWORD, NEW_PASSWORD).await,
        StatusCode::OK,
        SAVED,
    )
    .await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    for revoked in [&ios, &tv] {
        assert_unauthorized(app.whoami(revoked).await, "Invalid token.").await;
    }
    assert_eq!(app.device_clients(&web).await, ["web"]);
    assert_eq!(
        app.login_status("alice", PASSWORD, "ios").await,
        StatusCode::BAD_REQUEST,
        "the old password no longer works"
    );
    app.login_as("alice", NEW_PASSWORD, "ios").await;
}

#[on_both_backends]
async fn a_wrong_old_password_changes_nothing(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    assert_bad_request(
        app.change_password(&web, "not-my-password", NEW_PASSWORD)
            .await,
        json!({"old_password": [WRONG_OLD]}),
    )
    .await;
    assert_bad_request(
        app.change_password(&web, "not-my-password", "7041").await,
        json!({
            "old_password": [WRONG_OLD],
            "new_password": [
                "This password is too short. It must contain at least 8 characters.",
                "This password is entirely numeric.",
            ],
        }),
    )
    .await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::OK);
    app.login_as("alice", PASSWORD, "tv").await;
}

#[on_both_backends]
async fn a_new_password_that_breaks_the_rules_is_refused_with_every_reason(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    app.create_user("margaret", "", false);
    let alice = app.login("alice", "web").await;
    let other = app.login("alice", "ios").await;
    assert_bad_request(app.change_password(&alice, PASSWORD, "12345678").await, json!({"new_password": ["This password is too common.", "This password is entirely numeric."]})).await;
    let margaret = app.login("margaret", "web").await;
    assert_bad_request(
        app.change_password(&margaret, PASSWORD, "Margaret-99")
            .await,
        json!({"new_password": ["The password is too similar to the username."]}),
    )
    .await;
    assert_eq!(app.whoami_status(&other).await, StatusCode::OK);
    app.login_as("alice", PASSWORD, "tv").await;
}

#[on_both_backends]
async fn missing_fields_are_reported(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    assert_bad_request(app.post_with_token("/password/change", &key).await, json!({"old_password": ["This field is required."], "new_password": ["This field is required."]})).await;
}

#[on_both_backends]
async fn a_change_needs_a_token(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let response = app
        .post_json(
            "/password/change",
            json!({"old_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_unauthorized(response, "Authentication credentials were not provided.").await;
    app.login_as("alice", PASSWORD, "web").await;
}
