//! Console sessions live on the server: a copy of the cookie is worth
//! nothing once its session has ended, by signing out, by a change to the
//! admin made elsewhere, or by the idle and absolute limits; and ended
//! sessions are swept from the table.

use crate::helpers::console::Console;
use crate::helpers::on_both_backends;
use crate::helpers::{assert_detail, header, Backend, TestApp, PASSWORD};
use actix_web::cookie::{Cookie, CookieJar, Key};
use diesel::prelude::*;
use multitoken::db::schema::console_sessions;
use multitoken::domain::SecretKey;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const SECRET: &str = "a-test-secret-key-that-is-long-enough-0123456789";

/// Whether `cookie` is (still) signed in: the users page, or a redirect
/// to the sign-in page.
async fn signed_in(app: &TestApp, cookie: &Option<String>) -> bool {
    let mut copy = Console::new(app);
    copy.cookie = cookie.clone();
    let response = copy.get("/console/users").await;
    match response.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(header(&response, LOCATION), Some("/console/login"));
            false
        }
        other => panic!("unexpected {other}"),
    }
}

fn session_rows(app: &TestApp) -> i64 {
    app.read(console_sessions::table.count())
}

#[on_both_backends]
async fn a_copied_cookie_stops_working_after_sign_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let mut console = Console::signed_in(&app, "root").await;
    let copied = console.cookie.clone();
    assert!(
        signed_in(&app, &copied).await,
        "the copy works while signed in"
    );
    let mut api = Console::new(&app);
    api.cookie = copied.clone();
    assert_eq!(api.get("/admin/users").await.status(), StatusCode::OK);

    let csrf = console.csrf("/console/users").await;
    let out = console
        .post("/console/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);

    assert!(
        !signed_in(&app, &copied).await,
        "the copy is signed out too"
    );
    api.cookie = copied;
    assert_eq!(
        api.get("/admin/users").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(session_rows(&app), 0);
}

#[on_both_backends]
async fn deactivating_demoting_or_a_new_password_ends_the_admins_console_sessions(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_user("boss", "", true);
    let boss = app.login("boss", "cli").await;
    for (name, change) in [
        ("deactivated", json!({"is_active": false})),
        ("demoted", json!({"is_admin": false})),
        ("repassworded", json!({"password": "another-Passw0rd-9"})),
    ] {
        let id = app.create_user(name, "", true);
        let console = Console::signed_in(&app, name).await;
        let second = Console::signed_in(&app, name).await;
        assert!(signed_in(&app, &console.cookie).await, "{name} before");
        let response = app.admin_patch(id, &boss, change).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert!(!signed_in(&app, &console.cookie).await, "{name} after");
        assert!(!signed_in(&app, &second.cookie).await, "{name}'s other one");
    }
    // The acting admin's own session is not touched by changes to others.
    let own = Console::signed_in(&app, "boss").await;
    let other = app.create_user("other", "", true);
    app.admin_patch(other, &boss, json!({"is_admin": false}))
        .await;
    assert!(signed_in(&app, &own.cookie).await);
}

#[on_both_backends]
async fn a_password_change_of_their_own_ends_the_admins_console_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let console = Console::signed_in(&app, "root").await;
    let key = app.login("root", "laptop").await;
    assert_detail(
        app.change_password(&key, PASSWORD, "another-Passw0rd-9")
            .await,
        StatusCode::OK,
        "New password has been saved.",
    )
    .await;
    assert!(!signed_in(&app, &console.cookie).await);
}

#[on_both_backends]
async fn an_idle_session_ends_and_a_used_one_lives_on(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        // Long enough that a request stalled by a loaded machine (the whole
        // suite runs in parallel) does not look like idleness.
        s.console.console_session_idle = Duration::from_secs(3);
    })
    .await;
    app.create_user("root", "", true);
    let busy = Console::signed_in(&app, "root").await;
    let idle = Console::signed_in(&app, "root").await;
    // Used every 300 ms for twice the idle limit: still signed in.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        assert!(
            signed_in(&app, &busy.cookie).await,
            "busy, after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!signed_in(&app, &idle.cookie).await, "idle for 6 s");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(!signed_in(&app, &busy.cookie).await, "busy, then idle");
}

#[on_both_backends]
async fn a_session_ends_at_its_absolute_limit_however_busy(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.console.console_session_idle = Duration::from_secs(2);
        s.console.console_session_max_age = Duration::from_secs(2);
    })
    .await;
    app.create_user("root", "", true);
    let console = Console::signed_in(&app, "root").await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        assert!(signed_in(&app, &console.cookie).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !signed_in(&app, &console.cookie).await,
        "past the absolute limit"
    );
}

/// The cookie's session state, decrypted with the key the server derives
/// from `SECRET_KEY` (as `http::session::console_session_key` does).
fn cookie_state(cookie: &str) -> serde_json::Map<String, Value> {
    let secret = SecretKey::unchecked(SECRET);
    let mut bytes = [0_u8; 64];
    bytes[..32].copy_from_slice(&secret.derive_key("console session signing"));
    bytes[32..].copy_from_slice(&secret.derive_key("console session encryption"));
    let key = Key::from(&bytes);
    let (name, value) = cookie.split_once('=').expect("name=value");
    let value = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .expect("UTF-8");
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new(name.to_owned(), value.into_owned()));
    let plain = jar.private(&key).get(name).expect("the cookie decrypts");
    serde_json::from_str(plain.value()).expect("JSON state")
}

#[on_both_backends]
async fn the_cookie_holds_only_a_random_id_whose_digest_the_table_keeps(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.server.secret_key = Some(SecretKey::unchecked(SECRET));
    })
    .await;
    let id = app.create_user("root", "", true);
    let console = Console::signed_in(&app, "root").await;
    let cookie = console.cookie.clone().expect("a cookie");
    assert!(!cookie.contains("root"), "{cookie}");
    let state = cookie_state(&cookie);
    let mut keys: Vec<&str> = state.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["csrf", "session_id"], "{state:?}");
    let text = serde_json::to_string(&state).unwrap();
    assert!(!text.contains("root"), "{text}");
    assert!(!text.contains(&format!(":{id}")), "no user id: {text}");
    let session_id: String =
        serde_json::from_str(state["session_id"].as_str().unwrap()).expect("a JSON string");
    assert!(session_id.len() >= 43, "256 random bits: {session_id}");

    let stored: Vec<(Vec<u8>, i64)> = console_sessions::table
        .select((console_sessions::digest, console_sessions::user_id))
        .load(&mut app.connection())
        .expect("sessions");
    let digest = Sha256::digest(session_id.as_bytes()).to_vec();
    assert_eq!(stored, vec![(digest, id)]);
    let raw = format!("{stored:?}");
    assert!(!raw.contains(&session_id));
}

#[on_both_backends]
async fn ended_sessions_are_swept_from_the_table(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.console.console_session_idle = Duration::from_secs(1);
        s.server.sweep_interval = Duration::from_millis(100);
    })
    .await;
    app.create_user("root", "", true);
    for _ in 0..3 {
        Console::new(&app).sign_in("root", PASSWORD).await;
    }
    assert!(session_rows(&app) > 0, "stored at sign-in");
    let deadline = Instant::now() + Duration::from_secs(10);
    while session_rows(&app) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(session_rows(&app), 0, "swept once idle");
}
