//! `LOGIN_THROTTLE` and `TRUSTED_PROXIES`: failed logins counted per
//! username and per client address, in the database.

use crate::helpers::assert_throttled;
use crate::helpers::on_both_backends;
use crate::helpers::{assert_non_field_error, Backend, Sent, TestApp, PASSWORD};
use multitoken::config::Settings;
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::ThrottleLimit;
use multitoken::service::sign_in::throttle::username_scope;
use multitoken::startup::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use std::time::Duration;

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

fn limit(attempts: u32, window: Duration) -> ThrottleLimit {
    ThrottleLimit { attempts, window }
}

/// A server whose login throttle is `throttle`.
async fn throttled(backend: Backend, throttle: ThrottleLimit) -> TestApp {
    TestApp::spawn_with(backend, |s| s.throttles.login_throttle = throttle).await
}

/// A server behind a proxy on loopback that it trusts, allowing `attempts`
/// failed logins a minute.
async fn behind_local_proxy_allowing(backend: Backend, attempts: u32) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.throttles.login_throttle = limit(attempts, Duration::from_secs(60));
        behind_local_proxy(s);
    })
    .await
}

fn behind_local_proxy(settings: &mut Settings) {
    settings.server.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").expect("proxies");
}

async fn login_from(
    app: &TestApp,
    forwarded_for: Option<&str>,
    username: &str,
    password: &str,
) -> Response {
    let mut request = app.request(Method::POST, "/login").json(&json!({
        "username": username, "password": password, "client": "web"
    }));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.sent().await
}

async fn assert_bad_credentials(response: Response) {
    assert_non_field_error(response, BAD_CREDENTIALS).await;
}

#[on_both_backends]
async fn past_the_limit_every_attempt_is_throttled_even_with_the_right_password(backend: Backend) {
    let app = throttled(backend, limit(3, Duration::from_secs(60))).await;
    app.create_user("alice", "", false);
    for _ in 0..3 {
        assert_bad_credentials(app.post_login("alice", "wrong-password", "web").await).await;
    }
    let wait = assert_throttled(app.post_login("alice", "wrong-password", "web").await).await;
    assert!((58..=60).contains(&wait), "{wait}");
    let wait = assert_throttled(app.post_login("alice", PASSWORD, "web").await).await;
    assert!((58..=60).contains(&wait), "{wait}");
}

#[on_both_backends]
async fn the_wait_is_said_in_seconds_and_the_window_reopens(backend: Backend) {
    let app = throttled(backend, limit(1, Duration::from_secs(1))).await;
    app.create_user("alice", "", false);
    assert_bad_credentials(app.post_login("alice", "wrong-password", "web").await).await;
    let wait = assert_throttled(app.post_login("alice", PASSWORD, "web").await).await;
    assert_eq!(wait, 1, "the singular message");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.login("alice", "web").await;
}

#[on_both_backends]
async fn failures_are_counted_per_username_whatever_the_address_or_case(backend: Backend) {
    let app = behind_local_proxy_allowing(backend, 2).await;
    app.create_user("alice", "", false);
    app.create_user("bob", "", false);
    let alice = login_from(&app, Some("198.51.100.1"), "alice", "wrong-password").await;
    assert_bad_credentials(alice).await;
    let alice = login_from(&app, Some("198.51.100.2"), "ALICE", "wrong-password").await;
    assert_bad_credentials(alice).await;
    assert_throttled(login_from(&app, Some("198.51.100.3"), "Alice", PASSWORD).await).await;
    let bob = login_from(&app, Some("198.51.100.3"), "bob", PASSWORD).await;
    assert_eq!(bob.status(), StatusCode::OK, "other users are not affected");
}

#[on_both_backends]
async fn failures_are_counted_per_address_whatever_the_username(backend: Backend) {
    let app = behind_local_proxy_allowing(backend, 2).await;
    app.create_user("alice", "", false);
    let from = Some("198.51.100.7");
    assert_bad_credentials(login_from(&app, from, "nobody", "wrong-password").await).await;
    assert_bad_credentials(login_from(&app, from, "alice", "wrong-password").await).await;
    assert_throttled(login_from(&app, from, "someone", "wrong-password").await).await;
    let elsewhere = login_from(&app, Some("198.51.100.8"), "someone", "wrong-password").await;
    assert_bad_credentials(elsewhere).await;
    let elsewhere = login_from(&app, Some("198.51.100.8"), "alice", PASSWORD).await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
}

#[on_both_backends]
async fn a_success_resets_the_usernames_count(backend: Backend) {
    let app = behind_local_proxy_allowing(backend, 3).await;
    app.create_user("alice", "", false);
    // A new address for every attempt, so that only the username's count matters.
    let mut next = 0;
    let mut attempt = |password: &'static str| {
        next += 1;
        let address = format!("198.51.100.{next}");
        let app = &app;
        async move { login_from(app, Some(&address), "alice", password).await }
    };
    for _ in 0..2 {
        for _ in 0..2 {
            assert_bad_credentials(attempt("wrong-password").await).await;
        }
        assert_eq!(attempt(PASSWORD).await.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        assert_bad_credentials(attempt("wrong-password").await).await;
    }
    assert_throttled(attempt(PASSWORD).await).await;
}

#[on_both_backends]
async fn forwarded_for_is_ignored_from_peers_that_are_not_trusted_proxies(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.throttles.login_throttle = limit(2, Duration::from_secs(60));
        s.server.trusted_proxies = TrustedProxies::parse("10.0.0.1").expect("proxies");
    })
    .await;
    for (n, forwarded) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        let username = format!("user{n}");
        let response = login_from(&app, Some(forwarded), &username, "wrong-password").await;
        assert_bad_credentials(response).await;
    }
    let response = login_from(&app, Some("198.51.100.3"), "user9", "wrong-password").await;
    assert_throttled(response).await;
}

#[on_both_backends]
async fn forwarded_for_gives_the_address_behind_a_trusted_proxy(backend: Backend) {
    let app = behind_local_proxy_allowing(backend, 2).await;
    for n in 0..2 {
        let username = format!("user{n}");
        let response = login_from(&app, Some("198.51.100.1"), &username, "x-wrong").await;
        assert_bad_credentials(response).await;
    }
    let same = login_from(&app, Some("198.51.100.1"), "user8", "x-wrong").await;
    assert_throttled(same).await;
    // A client cannot escape by putting another address on the left.
    let spoofed = login_from(&app, Some("203.0.113.5, 198.51.100.1"), "user8", "x").await;
    assert_throttled(spoofed).await;
    let other = login_from(&app, Some("198.51.100.2"), "user9", "x-wrong").await;
    assert_bad_credentials(other).await;
}

#[on_both_backends]
async fn counts_survive_a_restart_and_are_shared_by_instances(backend: Backend) {
    let throttle = limit(2, Duration::from_secs(60));
    let app = TestApp::spawn_with(backend, |s| s.throttles.login_throttle = throttle).await;
    app.create_user("alice", "", false);
    for _ in 0..2 {
        assert_bad_credentials(app.post_login("alice", "wrong-password", "web").await).await;
    }
    let mut settings = Settings::with_database(app.db.database.clone());
    settings.throttles.login_throttle = throttle;
    let restarted = Application::build(settings).expect("a second instance builds");
    let url = format!("http://127.0.0.1:{}/login", restarted.port());
    actix_web::rt::spawn(restarted.run_until_stopped());
    let response = app
        .http
        .post(url)
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "web"}))
        .sent()
        .await;
    assert_throttled(response).await;
}

#[on_both_backends]
async fn concurrent_failures_are_never_lost(backend: Backend) {
    let app = throttled(backend, limit(4, Duration::from_secs(60))).await;
    app.create_user("alice", "", false);
    let attempts = (0..12).map(|_| app.post_login("alice", "wrong-password", "web"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(Response::status)
        .collect();
    let failed = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((failed, throttled), (4, 8), "{statuses:?}");
}

/// Every row of the throttle's table, in order.
fn throttle_rows(app: &TestApp) -> Vec<(String, i64, i64)> {
    use diesel::prelude::*;
    use multitoken::db::schema::login_failures;
    login_failures::table
        .order(login_failures::scope)
        .select((
            login_failures::scope,
            login_failures::window_start,
            login_failures::failures,
        ))
        .load(&mut app.connection())
        .expect("throttle rows")
}

/// Security finding F2: an address that is already throttled kept adding
/// to the count of whatever username it named, with a write per request.
#[on_both_backends]
async fn a_throttled_address_writes_nothing_and_cannot_lock_other_usernames_further(
    backend: Backend,
) {
    let app = behind_local_proxy_allowing(backend, 3).await;
    app.create_user("alice", "", false);
    app.create_user("victim", "", false);
    let attacker = Some("198.51.100.7");
    for _ in 0..3 {
        assert_bad_credentials(login_from(&app, attacker, "alice", "wrong-password").await).await;
    }
    let before = throttle_rows(&app);
    for username in ["alice", "victim", "victim", "someone-else"] {
        for _ in 0..5 {
            assert_throttled(login_from(&app, attacker, username, "wrong-password").await).await;
        }
    }
    assert_eq!(
        throttle_rows(&app),
        before,
        "refused attempts write nothing"
    );
    let victim = username_scope("victim");
    assert!(
        !throttle_rows(&app)
            .iter()
            .any(|(scope, _, _)| *scope == victim),
        "the victim's name was never counted"
    );
    let response = login_from(&app, Some("203.0.113.9"), "victim", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the owner logs in from elsewhere"
    );
}
