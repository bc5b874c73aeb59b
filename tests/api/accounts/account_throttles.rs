//! The throttles besides the login's: `/register` per client address
//! (`REGISTER_THROTTLE`), `/password/reset` per e-mail and per client
//! address (`PASSWORD_RESET_THROTTLE`: same answer, no mail), and wrong old
//! passwords at `/password/change`, counted as failed logins of the user.

use crate::helpers::assert_throttled;
use crate::helpers::mail::{mail_files, wait_for_mail_files, MailApp, NEW_PASSWORD};
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, Backend, Sent, ServerProcess, TestApp, TestDatabase,
    PASSWORD,
};
use multitoken::config::Settings;
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::ThrottleLimit;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const SENT: &str = "Password reset e-mail has been sent.";
const WRONG_OLD: &str = "Your old password was entered incorrectly.";

fn per_hour(attempts: u32) -> ThrottleLimit {
    ThrottleLimit {
        attempts,
        window: Duration::from_secs(3600),
    }
}

fn behind_local_proxy(settings: &mut Settings) {
    settings.server.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").expect("proxies");
}

fn metric(text: &str, action: &str) -> String {
    let prefix = format!("multitoken_throttled_total{{action=\"{action}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .to_owned()
}

async fn post_from(
    app: &TestApp,
    path: &str,
    forwarded_for: Option<&str>,
    body: Value,
) -> Response {
    let mut request = app.request(Method::POST, path).json(&body);
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.sent().await
}

#[on_both_backends]
async fn registrations_past_the_limit_are_throttled_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.register_throttle = per_hour(2);
        behind_local_proxy(settings);
    })
    .await;
    let register = |name: &str, password: &str| json!({"username": name, "password": password});
    let from = Some("192.0.2.7");
    // An invalid registration counts too: it costs a query and tells
    // whether a username is taken.
    let weak = post_from(&app, "/register", from, register("alice", "123")).await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let created = post_from(&app, "/register", from, register("alice", PASSWORD)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let wait =
        assert_throttled(post_from(&app, "/register", from, register("bob", PASSWORD)).await).await;
    assert!((3590..=3600).contains(&wait), "{wait}");
    assert_eq!(
        app.login_status("bob", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST,
        "bob was not created"
    );
    let elsewhere = post_from(
        &app,
        "/register",
        Some("192.0.2.8"),
        register("bob", PASSWORD),
    )
    .await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::CREATED,
        "another address has its own count"
    );
    assert_eq!(metric(&app.scrape().await, "register"), "1");
}

async fn reset_from(app: &TestApp, forwarded_for: Option<&str>, email: &str) {
    assert_detail(
        post_from(
            app,
            "/password/reset",
            forwarded_for,
            json!({ "email": email }),
        )
        .await,
        StatusCode::OK,
        SENT,
    )
    .await;
}

/// Waits for `expected` mails, then a little longer to see that no more come.
async fn assert_mail_count(dir: &Path, expected: usize) {
    if expected > 0 {
        wait_for_mail_files(dir, expected).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mail_files(dir).len(), expected);
}

/// A server that mails two password resets an hour at most, per e-mail
/// address and per client address, behind a proxy it trusts.
async fn two_resets_an_hour_behind_a_proxy(backend: Backend) -> MailApp {
    MailApp::spawn_with(backend, |settings| {
        settings.throttles.password_reset_throttle = per_hour(2);
        behind_local_proxy(settings);
    })
    .await
}

#[on_both_backends]
async fn a_reset_request_past_the_limit_answers_the_same_and_mails_nothing(backend: Backend) {
    let MailApp { app, mail_dir } = MailApp::spawn_with(backend, |settings| {
        settings.throttles.password_reset_throttle = per_hour(2);
    })
    .await;
    app.create_user("alice", "alice@example.com", false);
    for _ in 0..4 {
        reset_from(&app, None, "alice@example.com").await;
    }
    assert_mail_count(mail_dir.path(), 2).await;
    assert_eq!(metric(&app.scrape().await, "password_reset"), "2");
}

#[on_both_backends]
async fn reset_requests_are_limited_per_email_whatever_the_client_address(backend: Backend) {
    let MailApp { app, mail_dir } = two_resets_an_hour_behind_a_proxy(backend).await;
    app.create_user("alice", "alice@example.com", false);
    for (address, email) in [
        ("192.0.2.1", "alice@example.com"),
        ("192.0.2.2", "ALICE@example.com"),
        ("192.0.2.3", "alice@EXAMPLE.com"),
    ] {
        reset_from(&app, Some(address), email).await;
    }
    assert_mail_count(mail_dir.path(), 2).await;
}

#[on_both_backends]
async fn reset_requests_are_limited_per_client_address_whatever_the_email(backend: Backend) {
    let MailApp { app, mail_dir } = two_resets_an_hour_behind_a_proxy(backend).await;
    for name in ["ann", "ben", "cat"] {
        app.create_user(name, &format!("{name}@example.com"), false);
    }
    for name in ["ann", "ben", "cat"] {
        reset_from(&app, Some("192.0.2.9"), &format!("{name}@example.com")).await;
    }
    assert_mail_count(mail_dir.path(), 2).await;
    reset_from(&app, Some("192.0.2.10"), "cat@example.com").await;
    assert_mail_count(mail_dir.path(), 3).await;
}

/// A server that allows `attempts` failures an hour per user (wrong old
/// passwords and failed logins alike), and alice's key on `web`.
async fn alice_on_web_with_logins_throttled(backend: Backend, attempts: u32) -> (TestApp, String) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = per_hour(attempts);
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    (app, key)
}

#[on_both_backends]
async fn wrong_old_passwords_are_throttled_per_user_together_with_logins(backend: Backend) {
    let (app, key) = alice_on_web_with_logins_throttled(backend, 3).await;
    assert_eq!(
        app.login_status("alice", "wrong-password", "ios").await,
        StatusCode::BAD_REQUEST
    );
    for _ in 0..2 {
        assert_bad_request(
            app.change_password(&key, "wrong-password", NEW_PASSWORD)
                .await,
            json!({ "old_password": [WRONG_OLD] }),
        )
        .await;
    }
    // Three failures in all: the right old password is refused too, and
    // so is a login with the right password.
    let wait = assert_throttled(app.change_password(&key, PASSWORD, NEW_PASSWORD).await).await;
    assert!((3590..=3600).contains(&wait), "{wait}");
    assert_throttled(app.post_login("alice", PASSWORD, "ios").await).await;
    app.assert_whoami(&key, StatusCode::OK, "the token still works")
        .await;
    assert_eq!(metric(&app.scrape().await, "password_change"), "1");
    // Another user's count is their own.
    app.create_user("bob", "", false);
    let bobs = app.login("bob", "web").await;
    assert_eq!(
        app.change_password(&bobs, PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

/// A right old password is taken back, but resets nothing: the count may
/// hold wrong second-factor codes, which a right password alone must not
/// wipe out (only a whole sign-in does).
#[on_both_backends]
async fn a_right_old_password_is_not_counted_and_resets_nothing(backend: Backend) {
    let (app, key) = alice_on_web_with_logins_throttled(backend, 2).await;
    let wrong = || app.change_password(&key, "wrong-password", NEW_PASSWORD);
    assert_eq!(wrong().await.status(), StatusCode::BAD_REQUEST);
    // The right old password with a new one that is refused: no change,
    // but the old password was right.
    for _ in 0..3 {
        assert_bad_request(app.change_password(&key, PASSWORD, "12345678").await, json!({"new_password": ["This password is too common.", "This password is entirely numeric."]})).await;
    }
    assert_eq!(wrong().await.status(), StatusCode::BAD_REQUEST);
    assert_throttled(wrong().await).await;
}

/// The log line of a refused reset names neither the e-mail address nor
/// the client address.
#[actix_web::test]
async fn a_refused_reset_is_logged_without_the_address() {
    let db = TestDatabase::create(Backend::Sqlite);
    let mut server = ServerProcess::start(
        &db.url(),
        &[("PASSWORD_RESET_THROTTLE", "1/1h"), ("MAIL", "console")],
    );
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let response = http
            .post(server.url("/password/reset"))
            .json(&json!({"email": "victim@example.com"}))
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let line = server.wait_for_log("over PASSWORD_RESET_THROTTLE");
    assert!(line.contains("no mail sent"), "{line}");
    let log = server.log();
    assert!(!log.contains("victim"), "{log}");
    assert!(!line.contains("127.0.0.1"), "{line}");
}
