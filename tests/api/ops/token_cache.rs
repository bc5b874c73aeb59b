//! The PostgreSQL token cache: the instance that revokes refuses on its very
//! next request (both backends), another instance on the same database
//! stops accepting within a measured bound, and the cache does serve.

use crate::helpers::on_both_backends;
use crate::helpers::{Backend, Sent, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// Two checks, so that the second one can only have come from the cache.
async fn use_twice(app: &TestApp, key: &str) {
    for _ in 0..2 {
        assert_eq!(app.whoami_status(key).await, StatusCode::OK);
    }
}

#[on_both_backends]
async fn the_revoking_instance_refuses_on_its_very_next_request(backend: Backend) {
    let (app, admin) = TestApp::spawn_with_admin_key(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);

    let key = app.login("alice", "web").await;
    use_twice(&app, &key).await;
    assert_eq!(
        app.post_with_token("/logout", &key).await.status(),
        StatusCode::OK
    );
    app.assert_whoami(&key, StatusCode::UNAUTHORIZED, "logout")
        .await;

    let old = app.login("alice", "web").await;
    use_twice(&app, &old).await;
    let new = app.login("alice", "web").await;
    app.assert_whoami(&old, StatusCode::UNAUTHORIZED, "re-login")
        .await;
    use_twice(&app, &new).await;

    let other = app.login("alice", "ios").await;
    use_twice(&app, &other).await;
    let revoked = app.delete_with_token("/tokens/ios", &new).await.status();
    assert_eq!(revoked, StatusCode::NO_CONTENT);
    app.assert_whoami(&other, StatusCode::UNAUTHORIZED, "device")
        .await;

    let response = app
        .change_password(&new, PASSWORD, "another-horse-battery")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let current = response.json::<serde_json::Value>().await.expect("json")["auth_token"]
        .as_str()
        .map(str::to_owned);
    let key = current.unwrap_or(new);
    use_twice(&app, &key).await;

    let patched = app
        .admin_patch(alice, &admin, json!({"is_active": false}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    app.assert_whoami(&key, StatusCode::UNAUTHORIZED, "deactivated")
        .await;

    // The admin flag is part of what a check answers: a change is seen at once.
    let bob = app.create_user("bob", "", true);
    let bob_key = app.login("bob", "web").await;
    use_twice(&app, &bob_key).await;
    let demoted = app
        .admin_patch(bob, &admin, json!({"is_admin": false}))
        .await;
    assert_eq!(demoted.status(), StatusCode::OK);
    let whoami = app.whoami(&bob_key).await.json::<serde_json::Value>().await;
    assert_eq!(whoami.expect("json")["is_admin"], json!(false));
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn the_cache_serves_checks_and_another_instance_hears_a_cli_revocation() {
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.token_cache.token_cache = true
    })
    .await;
    app.create_user("alice", "", false);
    let key = app.login("alice", "web").await;
    use_twice(&app, &key).await;
    let metrics = app
        .scrape_with_line("multitoken_token_cache_listening 1")
        .await;
    let hits = metrics
        .lines()
        .find_map(|l| l.strip_prefix("multitoken_token_cache_lookups_total{result=\"hit\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(hits.is_some_and(|hits| hits >= 1), "{metrics}");

    // Another process, and no request of this instance's, revokes it.
    let output = app.cli(&["tokens", "revoke", "alice", "web"], "");
    assert!(output.status.success(), "{output:?}");
    let revoked = Instant::now();
    while app.whoami_status(&key).await == StatusCode::OK {
        assert!(
            revoked.elapsed() < Duration::from_millis(500),
            "still accepted {:?} after the CLI revoked it",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A percentile of sorted samples, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn another_instance_stops_accepting_a_revoked_key_within_the_measured_bound() {
    const TRIALS: usize = 200;
    let a = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.token_cache.token_cache = true
    })
    .await;
    let b = a.spawn_on_same_database(|settings| settings.token_cache.token_cache = true);
    a.create_user("alice", "", false);
    let mut windows = Vec::with_capacity(TRIALS);
    for _ in 0..TRIALS {
        let key = a.login("alice", "web").await;
        let (serving, served) = tokio::sync::oneshot::channel::<()>();
        // B's steady stream, until B refuses the key.
        let stream = {
            let http = a.http.clone();
            let url = format!("{b}/whoami");
            let key = key.clone();
            actix_web::rt::spawn(async move {
                let mut accepted = Vec::new();
                let mut serving = Some(serving);
                loop {
                    let sent = Instant::now();
                    let status = http
                        .get(&url)
                        .header("Authorization", format!("Token {key}"))
                        .sent()
                        .await
                        .status();
                    if status != StatusCode::OK {
                        assert_eq!(status, StatusCode::UNAUTHORIZED);
                        return accepted;
                    }
                    accepted.push(sent);
                    if let Some(serving) = serving.take() {
                        let _ = serving.send(());
                    }
                }
            })
        };
        // B has accepted the key (and so cached it) before A revokes it.
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("B accepts the key")
            .expect("stream");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let logout = a.with_token(Method::POST, "/logout", &key).send().await;
        let revoked = Instant::now();
        assert_eq!(logout.expect("logout").status(), StatusCode::OK);
        assert_eq!(a.whoami_status(&key).await, StatusCode::UNAUTHORIZED);
        let accepted = tokio::time::timeout(Duration::from_secs(12), stream)
            .await
            .expect("B refused the key before its cache TTL")
            .expect("stream");
        assert!(
            !accepted.is_empty(),
            "B served the key before the revocation"
        );
        // How long after the revocation was answered B still accepted it.
        let last = accepted.last().copied().unwrap_or(revoked);
        windows.push(last.saturating_duration_since(revoked));
    }
    windows.sort();
    let (p50, p99, max) = (
        percentile(&windows, 50.0),
        percentile(&windows, 99.0),
        windows[windows.len() - 1],
    );
    eprintln!(
        "revocation seen by another instance over {TRIALS} trials: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(p99 < Duration::from_millis(500), "p99 {p99:?}");
    assert!(
        max < Duration::from_secs(10),
        "max {max:?} reaches the cache TTL"
    );
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_cached_token_that_looks_expired_is_read_again_before_a_refusal() {
    let short = |settings: &mut multitoken::config::Settings| {
        settings.token_cache.token_cache = true;
        settings.tokens.token_ttl = Duration::from_secs(2);
        settings.tokens.token_touch_interval = Duration::ZERO;
    };
    let a = TestApp::spawn_with(Backend::Postgres, short).await;
    let b = a.spawn_on_same_database(short);
    a.create_user("alice", "", false);
    let key = a.login("alice", "web").await;
    use_twice(&a, &key).await;
    // B's use slides the expiry past what A's entry says.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let on_b = a
        .http
        .get(format!("{b}/whoami"))
        .header("Authorization", format!("Token {key}"))
        .sent()
        .await;
    assert_eq!(on_b.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    a.assert_whoami(
        &key,
        StatusCode::OK,
        "A's entry had expired, the database had the slide B wrote",
    )
    .await;
    // Unused on both, it expires for good, cache or not.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    crate::helpers::assert_unauthorized(a.whoami(&key).await, "Token has expired.").await;
}

/// How a key is revoked on instance B in
/// [`a_key_revoked_on_one_instance_is_refused_by_another_within_the_bound`].
#[derive(Debug, Clone, Copy)]
enum RevokedOnB {
    Logout,
    RevokeEndpoint,
    Device,
    Relogin,
    LogoutAll,
}

/// The bound the documentation gives (docs/src/operations/postgresql.md):
/// a revocation is heard in milliseconds while the listening connection
/// lives, and an instance whose listener is lost or silent stops serving
/// from its cache within about 1.5 s (the ping's interval and timeout).
/// The cache TTL is set far above it, so only the notification can meet it.
const HEARD_WITHIN: Duration = Duration::from_millis(1500);

/// Security finding L4: a key revoked on B was still accepted by the very
/// next request on A in 1 of 60 trials. That next-request guarantee is a
/// later issue's ("Revocation reaches everyone"); the bound in force is the
/// one above, for every way of revoking, which this checks with the
/// finding's shape: cached on A, revoked on B, then A asked at once and again.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_key_revoked_on_one_instance_is_refused_by_another_within_the_bound() {
    const TRIALS: usize = 12;
    let cached_long = |settings: &mut multitoken::config::Settings| {
        settings.token_cache.token_cache = true;
        settings.token_cache.token_cache_ttl = Duration::from_secs(600);
    };
    let a = TestApp::spawn_with(Backend::Postgres, cached_long).await;
    let b = a.spawn_on_same_database(cached_long);
    a.create_user("alice", "", false);
    let on_b = |method: Method, path: &str, key: &str| {
        a.http
            .request(method, format!("{b}{path}"))
            .header("Authorization", format!("Token {key}"))
    };
    let mut windows = Vec::new();
    let mut stale_at_once = 0;
    for how in [
        RevokedOnB::Logout,
        RevokedOnB::RevokeEndpoint,
        RevokedOnB::Device,
        RevokedOnB::Relogin,
        RevokedOnB::LogoutAll,
    ] {
        for _ in 0..TRIALS {
            let key = a.login("alice", "web").await;
            use_twice(&a, &key).await;
            let answered = match how {
                RevokedOnB::Logout => on_b(Method::POST, "/logout", &key).sent().await,
                RevokedOnB::RevokeEndpoint => {
                    let revoke = a.http.post(format!("{b}/revoke"));
                    revoke.form(&[("token", key.as_str())]).sent().await
                }
                RevokedOnB::Device => {
                    let other = a.login("alice", "phone").await;
                    on_b(Method::DELETE, "/tokens/web", &other).sent().await
                }
                RevokedOnB::Relogin => {
                    let login = a.http.post(format!("{b}/login"));
                    let body = json!({"username": "alice", "password": PASSWORD, "client": "web"});
                    login.json(&body).sent().await
                }
                RevokedOnB::LogoutAll => on_b(Method::POST, "/logout/all", &key).sent().await,
            };
            assert!(
                answered.status().is_success(),
                "{how:?}: {}",
                answered.status()
            );
            let revoked = Instant::now();
            let mut first = true;
            while a.whoami_status(&key).await == StatusCode::OK {
                stale_at_once += usize::from(first);
                first = false;
                assert!(
                    revoked.elapsed() < HEARD_WITHIN,
                    "{how:?}: A still accepts the key {:?} after B answered",
                    revoked.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            windows.push(revoked.elapsed());
        }
    }
    windows.sort();
    eprintln!(
        "revoked on B, refused on A: {} trials, {stale_at_once} accepted by the next request, \
         p50 {:?}, max {:?}",
        windows.len(),
        percentile(&windows, 50.0),
        windows[windows.len() - 1],
    );
}
