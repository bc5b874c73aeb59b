//! Sliding expiry, absolute lifetime, and the touch interval, with short
//! durations so that the clock can be waited out.

use crate::helpers::on_both_backends;
use crate::helpers::{assert_unauthorized, sliding_expiry, Backend, TestApp};
use reqwest::StatusCode;
use std::time::Duration;

async fn sleep(millis: u64) {
    actix_web::rt::time::sleep(Duration::from_millis(millis)).await;
}

#[on_both_backends]
async fn use_slides_the_expiry_and_idleness_expires_the_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, sliding_expiry(Duration::from_secs(2))).await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    for _ in 0..3 {
        sleep(1200).await;
        app.assert_whoami(&key, StatusCode::OK, "each use slides the 2 s expiry")
            .await;
    }
    sleep(2300).await;
    assert_unauthorized(app.whoami(&key).await, "Token has expired.").await;
}

#[on_both_backends]
async fn max_age_caps_the_slide(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tokens.token_ttl = Duration::from_secs(2);
        settings.tokens.token_max_age = Some(Duration::from_secs(3));
        settings.tokens.token_touch_interval = Duration::ZERO;
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    sleep(1500).await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    sleep(1200).await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    sleep(600).await;
    assert_unauthorized(app.whoami(&key).await, "Token has expired.").await;
}

#[on_both_backends]
async fn last_use_is_written_at_most_once_per_touch_interval(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tokens.token_touch_interval = Duration::from_millis(1500)
    })
    .await;
    app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let observer = app.login("alice", "cli").await;
    let web_device = |devices: Vec<serde_json::Value>| {
        devices
            .into_iter()
            .find(|d| d["client"] == "web")
            .expect("web device")
    };
    let at_login = web_device(app.devices(&observer).await);
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    let within_interval = web_device(app.devices(&observer).await);
    assert_eq!(
        within_interval["last_used_at"], at_login["last_used_at"],
        "no write within the interval"
    );
    assert_eq!(within_interval["expires_at"], at_login["expires_at"]);
    sleep(1600).await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    let after_interval = web_device(app.devices(&observer).await);
    assert!(
        after_interval["last_used_at"].as_str() > at_login["last_used_at"].as_str(),
        "written after the interval"
    );
    assert!(
        after_interval["expires_at"].as_str() > at_login["expires_at"].as_str(),
        "expiry slid with it"
    );
}

#[on_both_backends]
async fn prune_deletes_expired_tokens_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, sliding_expiry(Duration::from_secs(1))).await;
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
    app.login("alice", "ios").await;
    sleep(1100).await;
    let fresh = app.login("alice", "cli").await;
    let output = app.cli(&["tokens", "prune"], "");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "pruned 2 expired token(s)"
    );
    assert_eq!(app.whoami_status(&fresh).await, StatusCode::OK);
    use diesel::prelude::*;
    use multitoken::db::schema::tokens;
    let left: i64 = app.read(tokens::table.count());
    assert_eq!(left, 1);
}
