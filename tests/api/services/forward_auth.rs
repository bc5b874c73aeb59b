//! `/auth/verify`: forward auth for reverse proxies, asked directly here
//! (`proxies.rs` asks through real nginx and Caddy).

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_detail, assert_unauthorized, header, sliding_expiry, Backend, Sent, TestApp, DENIED,
    IDENTITY_HEADERS,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// The identity headers of a response, by name, with their values.
fn identity(headers: &HeaderMap) -> Value {
    let mut found = serde_json::Map::new();
    for name in IDENTITY_HEADERS {
        if let Some(value) = headers.get(name) {
            let text = value.to_str().expect("a readable header");
            found.insert(name.into(), Value::String(text.into()));
        }
    }
    Value::Object(found)
}

fn verify(app: &TestApp, method: Method, path_and_query: &str) -> RequestBuilder {
    app.http.request(method, app.url(path_and_query))
}

async fn send(request: RequestBuilder) -> Response {
    request.sent().await
}

#[on_both_backends]
async fn every_method_answers_with_the_identity_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "alice@example.com", true);
    app.create_user("bob", "", false);
    let alice_key = app.login("alice", "web").await;
    let bob_key = app.login("bob", "cli").await;

    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    for method in methods {
        for path in ["/auth/verify", "/auth/verify/"] {
            // A body of any kind, even a broken or oversized one, is not read.
            let response = send(
                verify(&app, method.clone(), path)
                    .header("Authorization", format!("Token {alice_key}"))
                    .header("Content-Type", "application/json")
                    .body("{not json".repeat(10_000)),
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
            assert_eq!(header(&response, "cache-control"), Some("no-store"));
            assert_eq!(
                identity(response.headers()),
                json!({
                    "x-auth-request-user": "alice",
                    "remote-user": "alice",
                    "x-auth-request-email": "alice@example.com",
                    "remote-email": "alice@example.com",
                    "x-multitoken-user-id": alice.to_string(),
                    "x-multitoken-client": "web",
                    "x-multitoken-admin": "true",
                }),
                "{method} {path}: an unrestricted token has no scopes header"
            );
            assert!(response.bytes().await.expect("body").is_empty());
        }
    }

    let response = send(verify(&app, Method::GET, "/auth/verify").bearer_auth(&bob_key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = identity(response.headers());
    assert_eq!(headers["x-auth-request-user"], "bob");
    assert_eq!(headers["x-multitoken-admin"], "false");
    assert_eq!(headers["x-multitoken-client"], "cli");
    assert!(
        headers.get("x-auth-request-email").is_none() && headers.get("remote-email").is_none(),
        "no e-mail headers for a user without an address: {headers}"
    );
}

#[on_both_backends]
async fn the_key_comes_from_x_api_key_when_authorization_is_another_scheme(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;

    let alone = send(verify(&app, Method::GET, "/auth/verify").header("X-Api-Key", &key)).await;
    assert_eq!(alone.status(), StatusCode::OK);
    assert_eq!(identity(alone.headers())["x-auth-request-user"], "alice");

    let beside_basic = send(
        verify(&app, Method::POST, "/auth/verify")
            .basic_auth("someone", Some("their-api-password"))
            .header("X-Api-Key", &key),
    )
    .await;
    assert_eq!(beside_basic.status(), StatusCode::OK);

    // A Token header is always the one used, valid or not.
    let behind_a_bad_token = send(
        verify(&app, Method::GET, "/auth/verify")
            .header("Authorization", "Token mt_not-a-live-key")
            .header("X-Api-Key", &key),
    )
    .await;
    assert_unauthorized(behind_a_bad_token, "Invalid token.").await;
    let behind_a_bare_bearer = send(
        verify(&app, Method::GET, "/auth/verify")
            .header("Authorization", "Bearer")
            .header("X-Api-Key", &key),
    )
    .await;
    assert_unauthorized(
        behind_a_bare_bearer,
        "Invalid token header. No credentials provided.",
    )
    .await;
}

#[on_both_backends]
async fn refusals_follow_the_contract_401_table(backend: Backend) {
    let app = TestApp::spawn_with(backend, sliding_expiry(Duration::from_secs(3))).await;
    app.create_user("bob", "", false);
    app.create_user("carol", "", false);
    let bob_key = app.login("bob", "web").await;
    let carol_key = app.login("carol", "web").await;

    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[], "Authentication credentials were not provided."),
        (
            &[("Authorization", "Basic Ym9iOnB3")],
            "Authentication credentials were not provided.",
        ),
        (
            &[("Authorization", "Token")],
            "Invalid token header. No credentials provided.",
        ),
        (
            &[("Authorization", "Token a b")],
            "Invalid token header. Token string should not contain spaces.",
        ),
        (
            &[("Authorization", "Token mt_é")],
            "Invalid token header. Token string should not contain invalid characters.",
        ),
        (&[("Authorization", "Token mt_unknown")], "Invalid token."),
        (
            &[("X-Api-Key", "")],
            "Invalid token header. No credentials provided.",
        ),
        (
            &[("X-Api-Key", "a b")],
            "Invalid token header. Token string should not contain spaces.",
        ),
        (&[("X-Api-Key", "mt_unknown")], "Invalid token."),
    ];
    for (headers, detail) in cases {
        for method in [Method::GET, Method::POST, Method::OPTIONS] {
            let mut request = verify(&app, method, "/auth/verify?scope=orders:read");
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            assert_unauthorized(send(request).await, detail).await;
        }
    }

    // A deactivated user (without the usual revocation, to see the check
    // itself), then an expired token.
    app.set_active_in_db("bob", false);
    let inactive = send(verify(&app, Method::GET, "/auth/verify").header("X-Api-Key", &bob_key));
    assert_unauthorized(inactive.await, "User inactive or deleted.").await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let expired = send(verify(&app, Method::GET, "/auth/verify").header("X-Api-Key", &carol_key));
    assert_unauthorized(expired.await, "Token has expired.").await;
}

#[on_both_backends]
async fn a_revoked_key_is_refused_on_the_next_request(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    let check = |key: String| send(verify(&app, Method::GET, "/auth/verify").bearer_auth(key));
    assert_eq!(check(ios.clone()).await.status(), StatusCode::OK);
    let revoked = app.delete_with_token("/tokens/ios", &web).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(check(ios).await, "Invalid token.").await;
    assert_eq!(check(web).await.status(), StatusCode::OK);
}

#[on_both_backends]
async fn required_scopes_are_checked_against_restricted_tokens(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let reader = app
        .login_with_scopes("alice", "cli", json!(["orders:read", "stock"]))
        .await;
    let unrestricted = app.login("alice", "web").await;

    for (query, reader_status) in [
        ("", StatusCode::OK),
        ("?scope=orders:read", StatusCode::OK),
        ("?scope=orders:read&scope=stock", StatusCode::OK),
        ("?scope=orders:read%20stock", StatusCode::OK),
        ("?scope=orders:read+stock", StatusCode::OK),
        ("?scope=orders:write", StatusCode::FORBIDDEN),
        (
            "?scope=orders:read&scope=orders:write",
            StatusCode::FORBIDDEN,
        ),
        ("?scope=orders:read%20orders:write", StatusCode::FORBIDDEN),
        ("?scope=%00", StatusCode::FORBIDDEN),
    ] {
        let path = format!("/auth/verify{query}");
        let response = send(verify(&app, Method::GET, &path).header("X-Api-Key", &reader)).await;
        if reader_status == StatusCode::OK {
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                identity(response.headers())["x-multitoken-scopes"],
                "orders:read stock"
            );
        } else {
            assert_detail(response, StatusCode::FORBIDDEN, DENIED).await;
        }
        let response =
            send(verify(&app, Method::GET, &path).header("X-Api-Key", &unrestricted)).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path}: an unrestricted token holds every scope"
        );
    }
}

#[on_both_backends]
async fn a_check_counts_as_a_use_and_is_counted_in_its_own_series(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tokens.token_touch_interval = Duration::ZERO;
    })
    .await;
    app.create_user("alice", "", false);
    let key = app
        .login_with_scopes("alice", "cli", json!(["orders:read"]))
        .await;
    let last_used = |devices: Vec<Value>| devices[0]["last_used_at"].as_str().map(str::to_owned);
    let before = last_used(app.devices(&key).await);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let ok = send(verify(&app, Method::GET, "/auth/verify").header("X-Api-Key", &key)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let forbidden =
        send(verify(&app, Method::GET, "/auth/verify?scope=x").header("X-Api-Key", &key));
    assert_eq!(forbidden.await.status(), StatusCode::FORBIDDEN);
    let refused = send(verify(&app, Method::GET, "/auth/verify"));
    assert_eq!(refused.await.status(), StatusCode::UNAUTHORIZED);

    // Listing the devices is a use too; it comes after the checks.
    let devices: Vec<Value> = app
        .get_with_token("/tokens", &key)
        .await
        .json()
        .await
        .expect("json");
    assert!(last_used(devices) > before, "the check moved last_used_at");

    let metrics = app.scrape().await;
    for line in [
        "multitoken_forward_auth_total{outcome=\"allowed\"} 1",
        "multitoken_forward_auth_total{outcome=\"forbidden\"} 1",
        "multitoken_forward_auth_total{outcome=\"unauthenticated\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}
