//! Listing and revoking devices, and the three kinds of logout.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_detail, assert_json, assert_not_found, assert_unauthorized, clients_of, keys_of,
    Backend, Sent, TestApp, DEVICE_FIELDS, PASSWORD,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[on_both_backends]
async fn devices_are_listed_most_recent_first_without_secrets(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let response = app
        .request(Method::POST, "/login")
        .header("User-Agent", format!("ios-app/1.0 {}", "x".repeat(300)))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "ios"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let devices = app.devices(&web).await;
    assert_eq!(
        clients_of(&devices),
        ["ios", "web"],
        "most recently used first"
    );
    for device in &devices {
        assert_eq!(keys_of(device), DEVICE_FIELDS);
        assert_eq!(device["via"], "password");
    }
    assert_eq!(devices[0]["current"], false);
    assert_eq!(devices[1]["current"], true);
    let agent = devices[0]["user_agent"].as_str().expect("user agent");
    assert_eq!(agent.chars().count(), 256, "cut to 256 characters");
    assert!(agent.starts_with("ios-app/1.0 xxx"));
    assert_eq!(
        devices[1]["user_agent"],
        Value::Null,
        "no User-Agent was sent at login"
    );
}

#[on_both_backends]
async fn revoking_one_device_leaves_the_others_working(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    let response = app.delete_with_token("/tokens/ios", &web).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.whoami(&ios).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    let clients = app.device_clients(&web).await;
    assert_eq!(clients, ["web"]);
}

#[on_both_backends]
async fn revoking_an_unknown_client_is_not_found(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    assert_not_found(app.delete_with_token("/tokens/tv", &web).await).await;
}

#[on_both_backends]
async fn users_cannot_revoke_each_others_devices(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    app.create_user("bob", "", false);
    let alice = app.login("alice", "web").await;
    let bob = app.login("bob", "ios").await;
    assert_eq!(
        app.delete_with_token("/tokens/ios", &alice).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.whoami_status(&bob).await, StatusCode::OK);
}

#[on_both_backends]
async fn logout_revokes_only_the_presented_token(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    assert_detail(
        app.post_with_token("/logout", &web).await,
        StatusCode::OK,
        "Successfully logged out.",
    )
    .await;
    assert_unauthorized(app.whoami(&web).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::OK);
}

#[on_both_backends]
async fn logout_all_revokes_every_token_of_the_user(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    app.create_user("bob", "", false);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let bob = app.login("bob", "web").await;
    assert_json(
        app.post_with_token("/logout/all", &web).await,
        StatusCode::OK,
        json!({"detail": "Successfully logged out.", "revoked": 2}),
    )
    .await;
    for key in [&web, &ios] {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
    assert_eq!(app.whoami_status(&bob).await, StatusCode::OK);
}

#[on_both_backends]
async fn logout_others_keeps_only_the_presented_token(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    let cli = app.login("alice", "cli").await;
    assert_json(
        app.post_with_token("/logout/others/", &web).await,
        StatusCode::OK,
        json!({"detail": "Other devices logged out.", "revoked": 2}),
    )
    .await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    for key in [&ios, &cli] {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
}
