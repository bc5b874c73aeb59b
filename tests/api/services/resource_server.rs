//! multitoken as the authorization server of a Django REST Framework API.
//!
//! `tests/resource_server/` is a DRF project whose only authentication is
//! django-oauth-toolkit's resource-server mode: it sends each key it does not
//! hold to `POST /introspect` (as `Authorization: Bearer <service key>`,
//! form field `token`) and trusts an active answer for at most
//! `RESOURCE_SERVER_TOKEN_CACHING_SECONDS`, which is therefore how late it
//! sees a revocation. Its `GET /orders/` answers with the `username` and
//! `scope` django-oauth-toolkit made of the introspection; `GET /orders/read/`
//! also needs the scope `orders:read` (DOT's `TokenHasScope`).
//!
//! Needs a Python with `tests/resource_server/requirements.txt`:
//! `RESOURCE_SERVER_PYTHON`, or `.venv-tests/bin/python`, which `.ci/run`
//! makes. `build.rs` looks for it as `cargo test` builds: without one the
//! tests are built as ignored; under CI (`CI` set) they always run.

use crate::helpers::on_both_backends;
use crate::helpers::resource_server::{ResourceServer, CACHING_SECONDS, MARGIN};
use crate::helpers::{Backend, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
/// The resource server's identity in multitoken: a service user made as the
/// README says, logged in on a client of its own. Returns its key.
async fn service_key(app: &TestApp) -> String {
    let created = app.cli(
        &[
            "user",
            "create",
            "orders-api",
            "--service",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        created.status.success(),
        "user create --service: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    app.login("orders-api", "orders-api").await
}

#[on_both_backends(needs django_tests, "no Python for the Django resource server")]
async fn drf_sees_the_user_and_scope_of_a_key_and_refuses_an_unknown_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let service = service_key(&app).await;
    app.create_user("alice", "alice@example.com", false);
    let web = app.login("alice", "web").await;
    let cli = app
        .login_with_scopes("alice", "cli", json!(["orders:read", "reports"]))
        .await;
    let django = ResourceServer::start(&app.url("/introspect"), &service);

    assert_eq!(
        django.get_ok("/orders/", &web).await,
        json!({"username": "alice", "scope": ""})
    );
    assert_eq!(
        django.get_ok("/orders/", &cli).await,
        json!({"username": "alice", "scope": "orders:read reports"})
    );
    assert_eq!(
        django.get_ok("/orders/read/", &cli).await,
        json!({"username": "alice", "scope": "orders:read reports"})
    );
    // multitoken's unrestricted key holds every scope, but its introspection
    // lists none, and django-oauth-toolkit's `TokenHasScope` reads that as
    // holding none.
    assert_eq!(
        django.status("/orders/read/", &web).await,
        StatusCode::FORBIDDEN
    );

    let unknown = django.get("/orders/", "not-a-multitoken-key").await;
    assert_eq!(
        unknown.status(),
        StatusCode::UNAUTHORIZED,
        "{}",
        django.log()
    );
    assert_eq!(
        unknown
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok()),
        Some(
            "Bearer realm=\"api\",error=\"invalid_token\",\
             error_description=\"The access token is invalid.\""
        )
    );
}

#[on_both_backends(needs django_tests, "no Python for the Django resource server")]
async fn drf_refuses_a_revoked_key_once_its_cached_introspection_runs_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let service = service_key(&app).await;
    app.create_user("alice", "alice@example.com", false);
    let phone = app.login("alice", "phone").await;
    let laptop = app.login("alice", "laptop").await;
    let django = ResourceServer::start(&app.url("/introspect"), &service);
    assert_eq!(django.get_ok("/orders/", &phone).await["username"], "alice");

    let revoked = app.delete_with_token("/tokens/phone", &laptop).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let since = Instant::now();
    // Cached for at most CACHING_SECONDS from the introspection above, which
    // came before the revocation.
    let deadline = Duration::from_secs(CACHING_SECONDS) + MARGIN;
    loop {
        let status = django.status("/orders/", &phone).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{}", django.log());
        assert!(
            since.elapsed() < deadline,
            "the revoked key was still accepted {:?} after DELETE /tokens/phone",
            since.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        since.elapsed() < deadline,
        "refused only {:?} after DELETE /tokens/phone",
        since.elapsed()
    );
    assert_eq!(
        django.get_ok("/orders/", &laptop).await["username"],
        "alice",
        "the other device goes on"
    );
}
