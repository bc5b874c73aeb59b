//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009), and the
//! service users who may introspect.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_json, assert_unauthorized, sliding_expiry,
    uncached_json, Backend, Sent, TestApp, DENIED,
};
use chrono::DateTime;
use diesel::prelude::*;
use multitoken::db::schema::users;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Introspects `token` (as a form, as resource servers send it) with `caller`'s key.
async fn introspect(app: &TestApp, caller: &str, token: &str) -> Response {
    app.with_token(Method::POST, "/introspect", caller)
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .sent()
        .await
}

fn epoch_seconds(rfc3339: &Value) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339.as_str().expect("a time"))
        .expect("RFC 3339")
        .timestamp()
}

#[on_both_backends]
async fn a_live_key_is_described_as_the_contract_says(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_service_user("gateway");
    let alice = app.create_user("alice", "alice@example.com", true);
    let gateway = app.login("gateway", "orders-api").await;
    let restricted = app
        .login_with_scopes("alice", "cli", json!(["orders:read", "stock"]))
        .await;
    let unrestricted = app.login("alice", "web").await;

    let described = uncached_json(introspect(&app, &gateway, &restricted).await).await;
    let devices = app.devices(&unrestricted).await;
    let cli = devices
        .iter()
        .find(|device| device["client"] == "cli")
        .expect("the cli device");
    assert_eq!(
        described,
        json!({
            "active": true,
            "token_type": "Token",
            "client_id": "cli",
            "username": "alice",
            "sub": alice.to_string(),
            "is_admin": true,
            "exp": epoch_seconds(&cli["expires_at"]),
            "iat": epoch_seconds(&cli["created_at"]),
            "scope": "orders:read stock",
        })
    );

    let json_body = app
        .with_token(Method::POST, "/introspect", &gateway)
        .json(&json!({"token": unrestricted}))
        .sent()
        .await;
    let described = uncached_json(json_body).await;
    assert_eq!(described["active"], true);
    assert_eq!(described["client_id"], "web");
    assert!(
        described.get("scope").is_none(),
        "no scope for an unrestricted token: {described}"
    );
}

#[on_both_backends]
async fn anything_but_a_live_key_is_inactive(backend: Backend) {
    let app = TestApp::spawn_with(backend, sliding_expiry(Duration::from_secs(2))).await;
    app.create_service_user("gateway");
    app.create_user("bob", "", false);
    app.create_user("carol", "", false);
    app.create_user("dave", "", false);
    let bob_key = app.login("bob", "web").await;
    let carol_key = app.login("carol", "web").await;
    let dave_key = app.login("dave", "web").await;
    let gateway_of = || app.login("gateway", "api");

    let revoked = app.delete_with_token("/tokens/web", &dave_key).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    app.set_active_in_db("bob", false);
    let gateway = gateway_of().await;
    for (token, why) in [
        ("mt_unknown", "unknown"),
        (dave_key.as_str(), "revoked"),
        (bob_key.as_str(), "of an inactive user"),
        ("not a key at all", "malformed"),
        ("mt_\u{0}\u{7}", "control characters"),
    ] {
        let described = uncached_json(introspect(&app, &gateway, token).await).await;
        assert_eq!(described, json!({"active": false}), "{why}");
    }
    let number = app
        .with_token(Method::POST, "/introspect", &gateway)
        .json(&json!({"token": 12}))
        .sent()
        .await;
    assert_eq!(
        uncached_json(number).await,
        json!({"active": false}),
        "a number"
    );

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let gateway = gateway_of().await;
    let described = uncached_json(introspect(&app, &gateway, &carol_key).await).await;
    assert_eq!(described, json!({"active": false}), "expired");

    let missing = app
        .with_token(Method::POST, "/introspect", &gateway)
        .form(&[("token_type_hint", "access_token")])
        .sent()
        .await;
    assert_bad_request(missing, json!({"token": ["This field is required."]})).await;

    let metrics = app.scrape().await;
    for line in [
        "multitoken_introspections_total{result=\"active\"} 0",
        "multitoken_introspections_total{result=\"inactive\"} 7",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[on_both_backends]
async fn only_unrestricted_keys_of_service_users_and_admins_may_introspect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_service_user("gateway");
    app.create_user("root", "", true);
    app.create_user("alice", "", false);
    let subject = app.login("alice", "web").await;
    let service = app.login("gateway", "api").await;
    let admin = app.login("root", "ops").await;
    let service_restricted = app.login_with_scopes("gateway", "ro", json!(["x"])).await;

    for caller in [&service, &admin] {
        let described = uncached_json(introspect(&app, caller, &subject).await).await;
        assert_eq!(described["username"], "alice");
    }
    for caller in [&subject, &service_restricted] {
        assert_detail(
            introspect(&app, caller, &subject).await,
            StatusCode::FORBIDDEN,
            DENIED,
        )
        .await;
    }
    let anonymous = app
        .request(Method::POST, "/introspect")
        .form(&[("token", subject.as_str())])
        .sent()
        .await;
    assert_unauthorized(anonymous, "Authentication credentials were not provided.").await;
    assert_unauthorized(
        introspect(&app, "mt_unknown", &subject).await,
        "Invalid token.",
    )
    .await;
}

/// Security finding I1: `REQUIRE_2FA_FOR_ADMINS` covered the admin API but
/// not `/introspect`, which admins may use too.
#[on_both_backends]
async fn admins_without_two_factor_may_not_introspect_when_it_is_required(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.two_factor.require_2fa_for_admins = true).await;
    app.create_service_user("gateway");
    let root = app.create_user("root", "", true);
    app.create_user("alice", "", false);
    let subject = app.login("alice", "web").await;
    let service = app.login("gateway", "api").await;
    let admin = app.login("root", "ops").await;
    const REQUIRED: &str = "Two-factor authentication is required for administrators.";

    assert_detail(
        introspect(&app, &admin, &subject).await,
        StatusCode::FORBIDDEN,
        REQUIRED,
    )
    .await;
    // A service user is no admin: the requirement is not theirs.
    let described = uncached_json(introspect(&app, &service, &subject).await).await;
    assert_eq!(described["username"], "alice");
    // An admin who is a service user too is still an admin.
    diesel::update(users::table.find(root))
        .set(users::is_service.eq(true))
        .execute(&mut app.connection())
        .expect("a service admin");
    assert_detail(
        introspect(&app, &admin, &subject).await,
        StatusCode::FORBIDDEN,
        REQUIRED,
    )
    .await;

    crate::helpers::two_factor::enable(&app, "root").await;
    let described = uncached_json(introspect(&app, &admin, &subject).await).await;
    assert_eq!(
        described["username"], "alice",
        "the same key, once root has it"
    );
}

#[on_both_backends]
async fn introspection_counts_as_a_use(backend: Backend) {
    let app = TestApp::spawn_with(backend, sliding_expiry(Duration::from_secs(3))).await;
    app.create_service_user("gateway");
    app.create_user("alice", "", false);
    let gateway = app.login("gateway", "api").await;
    let key = app.login("alice", "web").await;
    let first = uncached_json(introspect(&app, &gateway, &key).await).await;
    // Each introspection slides the 3 s expiry past the login's.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let again = uncached_json(introspect(&app, &gateway, &key).await).await;
        assert_eq!(again["active"], true, "kept alive by introspection alone");
    }
    let last = uncached_json(introspect(&app, &gateway, &key).await).await;
    assert!(
        last["exp"].as_i64() > first["exp"].as_i64(),
        "{first} then {last}"
    );
    assert_eq!(last["iat"], first["iat"]);
}

#[on_both_backends]
async fn service_users_are_made_by_the_admin_api_and_the_command_line(backend: Backend) {
    let (app, admin) = TestApp::spawn_with_admin_key(backend).await;
    let created = app
        .admin_request(
            Method::POST,
            "/admin/users",
            &admin,
            Some(json!({"username": "billing", "password": "ledger-books-42", "is_service": true})),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["is_service"], true);
    assert_eq!(created["is_admin"], false);
    let billing = app.login_as("billing", "ledger-books-42", "api").await;
    app.create_user("alice", "", false);
    let subject = app.login("alice", "web").await;
    assert_eq!(
        uncached_json(introspect(&app, &billing, &subject).await).await["active"],
        true
    );

    let id = created["id"].as_i64().expect("id");
    let patched = app
        .admin_patch(id, &admin, json!({"is_service": false}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(patched["is_service"], false);
    assert_detail(
        introspect(&app, &billing, &subject).await,
        StatusCode::FORBIDDEN,
        DENIED,
    )
    .await;

    let output = app.cli(
        &[
            "user",
            "create",
            "shipping",
            "--service",
            "--password-stdin",
        ],
        "parcel-post-2024\n",
    );
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("as service"));
    let list = app.cli(&["user", "list"], "");
    let list = String::from_utf8_lossy(&list.stdout);
    let shipping = list
        .lines()
        .find(|line| line.contains("\tshipping\t"))
        .expect("shipping listed");
    assert!(shipping.contains("\tactive\tservice\t"), "{shipping}");
    let shipping = app.login_as("shipping", "parcel-post-2024", "api").await;
    assert_eq!(
        uncached_json(introspect(&app, &shipping, &subject).await).await["username"],
        "alice"
    );
}

#[on_both_backends]
async fn revoke_ends_a_live_key_and_answers_the_same_for_anything(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;

    let revoke = |body: Value| app.post_json("/revoke", body);
    assert_json(
        revoke(json!({"token": ios})).await,
        StatusCode::OK,
        json!({}),
    )
    .await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::UNAUTHORIZED);
    app.assert_whoami(&web, StatusCode::OK, "other devices stay")
        .await;

    for token in [
        json!(ios),
        json!("mt_unknown"),
        json!("no key \u{0} at all"),
        json!(42),
    ] {
        assert_json(
            revoke(json!({"token": token})).await,
            StatusCode::OK,
            json!({}),
        )
        .await;
    }
    let form = app
        .request(Method::POST, "/revoke/")
        .form(&[("token", web.as_str()), ("token_type_hint", "access_token")])
        .sent()
        .await;
    assert_json(form, StatusCode::OK, json!({})).await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);

    for body in [json!({}), json!({"token": ""}), json!({"token": null})] {
        assert_bad_request(
            revoke(body).await,
            json!({"token": ["This field is required."]}),
        )
        .await;
    }
    let metrics = app.scrape().await;
    let line = "multitoken_revocations_total{cause=\"key\"} 2";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
}
