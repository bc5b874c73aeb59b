//! `GET /metrics`: Prometheus counters of logins, token checks and
//! revocations, the active-token gauge, and request latency by route.

use crate::helpers::on_both_backends;
use crate::helpers::{Backend, Sent, TestApp, PASSWORD};
use diesel::prelude::*;
use multitoken::db::schema::tokens;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The value of one series, by its name with labels as rendered.
pub(crate) fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .parse()
        .expect("a number")
}

#[on_both_backends]
async fn logins_token_checks_and_revocations_are_counted_by_outcome(backend: Backend) {
    let (app, admin, alice, web) = TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    app.create_user("bob", "", false);
    let ios = app.login("alice", "ios").await;
    let tv = app.login("alice", "tv").await;
    let bob_web = app.login("bob", "web").await;
    let bob_cli = app.login("bob", "cli").await;
    assert_eq!(
        app.login_status("alice", "wrong-password", "web").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login_status("nobody", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );

    let text = app.scrape().await;
    for (series, expected) in [
        ("multitoken_logins_total{outcome=\"ok\"}", 6.0),
        ("multitoken_logins_total{outcome=\"failed\"}", 2.0),
        ("multitoken_logins_total{outcome=\"throttled\"}", 0.0),
        ("multitoken_active_tokens", 6.0),
    ] {
        assert_eq!(value(&text, series), expected, "{series}");
    }

    // Token checks: two good, one unknown, one malformed, one expired, one
    // of a deactivated user; a request with no token is not a check.
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    assert_eq!(app.whoami_status(&ios).await, StatusCode::OK);
    app.assert_whoami("mt_unknown", StatusCode::UNAUTHORIZED, "an unknown key")
        .await;
    let spaced = app
        .request(Method::GET, "/whoami")
        .header("Authorization", "Token a b")
        .sent()
        .await;
    assert_eq!(spaced.status(), StatusCode::UNAUTHORIZED);
    let anonymous = app.get("/whoami").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let mut conn = app.connection();
    diesel::update(tokens::table.filter(tokens::client.eq("tv")))
        .set(tokens::expires_at.eq(0_i64))
        .execute(&mut conn)
        .expect("expire tv");
    assert_eq!(app.whoami_status(&tv).await, StatusCode::UNAUTHORIZED);
    app.set_active_in_db("bob", false);
    assert_eq!(app.whoami_status(&bob_web).await, StatusCode::UNAUTHORIZED);
    app.set_active_in_db("bob", true);

    let text = app.scrape().await;
    for (series, expected, why) in [
        (
            "multitoken_token_checks_total{outcome=\"ok\"}",
            2.0,
            "web and ios",
        ),
        (
            "multitoken_token_checks_total{outcome=\"invalid\"}",
            2.0,
            "an unknown key, a malformed header",
        ),
        (
            "multitoken_token_checks_total{outcome=\"expired\"}",
            1.0,
            "the tv token",
        ),
        (
            "multitoken_token_checks_total{outcome=\"inactive\"}",
            1.0,
            "bob, deactivated",
        ),
        (
            "multitoken_active_tokens",
            5.0,
            "the expired tv token is not active",
        ),
    ] {
        assert_eq!(value(&text, series), expected, "{series}: {why}");
    }

    // Revocations, by cause.
    assert_eq!(
        app.delete_with_token("/tokens/ios", &web).await.status(),
        StatusCode::NO_CONTENT
    );
    let admin_path = format!("/admin/users/{alice}/tokens/web");
    assert_eq!(
        app.admin_request(Method::DELETE, &admin_path, &admin, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let bob_ios = app.login("bob", "ios").await;
    assert_eq!(
        app.post_with_token("/logout/others", &bob_ios)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_with_token("/logout", &bob_ios).await.status(),
        StatusCode::OK
    );
    let bob_a = app.login("bob", "a").await;
    app.login("bob", "b").await;
    assert_eq!(
        app.post_with_token("/logout/all", &bob_a).await.status(),
        StatusCode::OK
    );
    let _ = (bob_web, bob_cli);

    let text = app.scrape().await;
    for (cause, count) in [
        ("device", 1.0),
        ("admin", 1.0),
        ("logout_others", 2.0),
        ("logout", 1.0),
        ("logout_all", 2.0),
        ("password", 0.0),
    ] {
        assert_eq!(
            value(
                &text,
                &format!("multitoken_revocations_total{{cause=\"{cause}\"}}")
            ),
            count,
            "{cause}"
        );
    }
    // Left: the admin's web and alice's expired tv.
    assert_eq!(value(&text, "multitoken_active_tokens"), 1.0);
}

#[on_both_backends]
async fn request_latency_is_labelled_by_route_pattern_never_by_raw_path(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let key = app.login("alice", "secret-laptop").await;
    let ios = app
        .post_json(
            "/login/",
            json!({"username": "alice", "password": PASSWORD, "client": "secret-phone"}),
        )
        .await;
    assert_eq!(ios.status(), StatusCode::OK);
    assert_eq!(
        app.delete_with_token("/tokens/secret-phone", &key)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let missing = app.get("/users/alice/secret-path").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let text = app.scrape().await;
    let count = |labels: &str| {
        value(
            &text,
            &format!("multitoken_http_request_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count("method=\"POST\",route=\"/login\",status=\"200\""),
        2.0
    );
    assert_eq!(
        count("method=\"DELETE\",route=\"/tokens/{client}\",status=\"204\""),
        1.0
    );
    assert_eq!(
        count("method=\"GET\",route=\"unmatched\",status=\"404\""),
        1.0
    );
    assert!(text.contains("multitoken_http_request_duration_seconds_bucket{method=\"DELETE\",route=\"/tokens/{client}\",status=\"204\",le=\"0.005\"}"));
    for secret in ["alice", "secret", &key] {
        assert!(!text.contains(secret), "{secret} appears in the metrics");
    }
}
