//! Scopes: restricted tokens, how they are asked for, shown and enforced.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_json, assert_json_of, Backend, Sent, TestApp, DENIED,
    PASSWORD,
};
use diesel::prelude::*;
use multitoken::db::schema::tokens;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const INVALID: &str =
    "Enter valid scopes: 1-64 letters, digits, ':', '.', '_' or '-' each, separated by spaces.";

fn key(body: &Value) -> String {
    body["auth_token"].as_str().expect("auth_token").to_owned()
}

#[on_both_backends]
async fn scopes_come_as_a_list_or_a_string_and_show_in_every_token_view(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    let listed = app
        .login_body_with_scopes(
            "alice",
            "cli",
            json!(["orders:read", "a.b_c-d", "orders:read"]),
        )
        .await;
    assert_eq!(listed["scopes"], json!(["orders:read", "a.b_c-d"]));
    let keys: Vec<&str> = listed
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "auth_token",
            "client",
            "scopes",
            "expires_at",
            "device_proof"
        ]
    );
    let spaced = app
        .login_body_with_scopes("alice", "ios", json!("x y  x"))
        .await;
    assert_eq!(spaced["scopes"], json!(["x", "y"]));
    let form = app
        .request(Method::POST, "/login")
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("client", "form"),
            ("scopes", "f:1 f:2"),
        ])
        .sent()
        .await;
    assert_eq!(form.status(), StatusCode::OK);
    let form: Value = form.json().await.expect("json");
    assert_eq!(form["scopes"], json!(["f:1", "f:2"]));
    let web = app.login("alice", "web").await;

    let whoami: Value = app.whoami(&key(&listed)).await.json().await.expect("json");
    assert_eq!(
        whoami,
        json!({"id": alice, "username": "alice", "email": "alice@example.com",
               "email_verified": false, "is_admin": false, "client": "cli", "scopes": ["orders:read", "a.b_c-d"], "two_factor": false})
    );
    let whoami: Value = app.whoami(&web).await.json().await.expect("json");
    assert_eq!(whoami["scopes"], json!([]));

    let scopes_by_client = |devices: &[Value]| {
        let mut pairs: Vec<(String, Value)> = devices
            .iter()
            .map(|d| {
                (
                    d["client"].as_str().unwrap_or("").to_owned(),
                    d["scopes"].clone(),
                )
            })
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
    };
    let expected = vec![
        ("cli".to_owned(), json!(["orders:read", "a.b_c-d"])),
        ("form".to_owned(), json!(["f:1", "f:2"])),
        ("ios".to_owned(), json!(["x", "y"])),
        ("web".to_owned(), json!([])),
    ];
    assert_eq!(scopes_by_client(&app.devices(&web).await), expected);

    let admin = app.admin_key().await;
    let response = app
        .admin_get(&format!("/admin/users/{alice}/tokens"), &admin)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Vec<Value> = response.json().await.expect("json");
    assert_eq!(scopes_by_client(&listed), expected);
    let response = app
        .admin_get(&format!("/admin/users/{alice}"), &admin)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let detail: Value = response.json().await.expect("json");
    let detail_tokens: Vec<Value> = detail["tokens"].as_array().cloned().unwrap_or_default();
    assert_eq!(scopes_by_client(&detail_tokens), expected);
}

#[on_both_backends]
async fn invalid_scopes_get_the_contract_message(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
    for scopes in [
        json!("orders/read"),
        json!(["ok", ""]),
        json!("x".repeat(65)),
        json!(many),
        json!(["ok", 1]),
        json!(7),
    ] {
        let response = app
            .post_json(
                "/login",
                json!({"username": "alice", "password": PASSWORD, "client": "cli", "scopes": scopes}),
            )
            .await;
        assert_bad_request(response, json!({"scopes": [INVALID]})).await;
    }
    let thirty_two: Vec<String> = (0..32).map(|i| format!("s{i}")).collect();
    let body = app
        .login_body_with_scopes("alice", "cli", json!(thirty_two))
        .await;
    assert_eq!(body["scopes"], json!(thirty_two));
    assert_eq!(
        app.login_body_with_scopes("alice", "cli", json!("x".repeat(64)))
            .await["scopes"],
        json!(["x".repeat(64)])
    );
}

#[on_both_backends]
async fn unknown_scopes_are_refused_when_allowed_scopes_is_set(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.tokens.allowed_scopes =
            multitoken::domain::AllowedScopes::parse("orders:read").expect("valid");
    })
    .await;
    app.create_user("alice", "", false);
    let response = app
        .post_json(
            "/login",
            json!({"username": "alice", "password": PASSWORD, "client": "cli", "scopes": ["orders:read", "x"]}),
        )
        .await;
    assert_bad_request(response, json!({"scopes": ["Unknown scope \"x\"."]})).await;
    let body = app
        .login_body_with_scopes("alice", "cli", json!("orders:read"))
        .await;
    assert_eq!(body["scopes"], json!(["orders:read"]));
    let response = app
        .register(json!({"username": "bob", "password": "long-enough-pass", "client": "cli", "scopes": "y"}))
        .await;
    assert_bad_request(response, json!({"scopes": ["Unknown scope \"y\"."]})).await;
}

#[on_both_backends]
async fn relogin_replaces_the_scopes(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let first = app
        .login_body_with_scopes("alice", "cli", json!(["a", "b"]))
        .await;
    let second = app
        .login_body_with_scopes("alice", "cli", json!(["c"]))
        .await;
    app.assert_whoami(
        &key(&first),
        StatusCode::UNAUTHORIZED,
        "the first key, replaced by the second login",
    )
    .await;
    let whoami: Value = app.whoami(&key(&second)).await.json().await.expect("json");
    assert_eq!(whoami["scopes"], json!(["c"]));
    let third: Value = app
        .post_login("alice", PASSWORD, "cli")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(third["scopes"], json!([]));
    let whoami: Value = app.whoami(&key(&third)).await.json().await.expect("json");
    assert_eq!(whoami["scopes"], json!([]));
    let devices = app.devices(&key(&third)).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["scopes"], json!([]));
    let empty = app.login_body_with_scopes("alice", "cli", json!([])).await;
    assert_eq!(empty["scopes"], json!([]));
}

#[on_both_backends]
async fn a_restricted_token_of_an_admin_can_do_only_what_the_contract_allows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let other = app.login("root", "web").await;
    let restricted = key(&app
        .login_body_with_scopes("root", "cli", json!(["orders:read"]))
        .await);
    let denied = json!({"detail": DENIED});

    let refused = [
        (
            "/logout/all",
            app.post_with_token("/logout/all", &restricted).await,
        ),
        (
            "/logout/others",
            app.post_with_token("/logout/others", &restricted).await,
        ),
        (
            "revoking a device",
            app.delete_with_token("/tokens/web", &restricted).await,
        ),
        (
            "revoking no device",
            app.delete_with_token("/tokens/nowhere", &restricted).await,
        ),
        (
            "a password change",
            app.change_password(&restricted, PASSWORD, "another-long-pass")
                .await,
        ),
        (
            "the admin API",
            app.admin_get("/admin/users", &restricted).await,
        ),
    ];
    for (case, response) in refused {
        assert_json_of(case, response, StatusCode::FORBIDDEN, denied.clone()).await;
    }
    let patch = app
        .admin_request(Method::DELETE, "/admin/users/1/tokens", &restricted, None)
        .await;
    assert_json(patch, StatusCode::FORBIDDEN, denied.clone()).await;
    // Nothing was revoked or changed by the refusals.
    assert_eq!(app.whoami_status(&other).await, StatusCode::OK);
    assert_eq!(
        app.admin_get("/admin/users", &other).await.status(),
        StatusCode::OK
    );

    assert_eq!(app.whoami_status(&restricted).await, StatusCode::OK);
    assert_eq!(app.devices(&restricted).await.len(), 2);
    let own = app.delete_with_token("/tokens/cli", &restricted).await;
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
    app.assert_whoami(
        &restricted,
        StatusCode::UNAUTHORIZED,
        "a restricted token may revoke its own device",
    )
    .await;

    let again = key(&app
        .login_body_with_scopes("root", "cli", json!("orders:read"))
        .await);
    assert_detail(
        app.post_with_token("/logout", &again).await,
        StatusCode::OK,
        "Successfully logged out.",
    )
    .await;
    assert_eq!(app.whoami_status(&again).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami_status(&other).await, StatusCode::OK);
}

#[on_both_backends]
async fn registration_with_a_client_issues_a_restricted_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .register(json!({"username": "bob", "password": "long-enough-pass", "client": "cli", "scopes": ["orders:read", "orders:read"]}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let token = key(&body);
    let whoami: Value = app.whoami(&token).await.json().await.expect("json");
    assert_eq!(whoami["scopes"], json!(["orders:read"]));
    assert_eq!(
        app.post_with_token("/logout/all", &token).await.status(),
        StatusCode::FORBIDDEN
    );
    let response = app
        .register(json!({"username": "carol", "password": "long-enough-pass", "client": "cli", "scopes": 3}))
        .await;
    assert_bad_request(response, json!({"scopes": [INVALID]})).await;
}

#[on_both_backends]
async fn tokens_from_before_scopes_are_unrestricted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    // A row as it was written before the scopes column existed: the
    // migration's default makes it unrestricted.
    let plain = multitoken::domain::PlainToken::generate();
    let key = plain.expose();
    let digest = plain.digest();
    let now = multitoken::domain::Timestamp::now().millis();
    let mut conn = app.connection();
    diesel::insert_into(tokens::table)
        .values((
            tokens::user_id.eq(alice),
            tokens::client.eq("old"),
            tokens::digest.eq(digest.as_bytes()),
            tokens::created_at.eq(now),
            tokens::last_used_at.eq(now),
            tokens::expires_at.eq(now + 86_400_000),
        ))
        .execute(&mut conn)
        .expect("insert");
    let stored: String = tokens::table
        .filter(tokens::client.eq("old"))
        .select(tokens::scopes)
        .first(&mut conn)
        .expect("scopes");
    assert_eq!(stored, "");
    let whoami: Value = app.whoami(key).await.json().await.expect("json");
    assert_eq!(whoami["scopes"], json!([]));
    assert_eq!(
        app.post_with_token("/logout/others", key).await.status(),
        StatusCode::OK
    );
}

#[on_both_backends]
async fn tokens_list_shows_the_scopes(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    app.login_body_with_scopes("alice", "cli", json!(["orders:read", "profile"]))
        .await;
    app.login("alice", "web").await;
    let output = app.cli(&["tokens", "list", "alice"], "");
    assert!(output.status.success(), "{output:?}");
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines: Vec<&str> = listing.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(
        lines[0].starts_with("cli\t") && lines[0].ends_with("\tscopes orders:read profile"),
        "{listing}"
    );
    assert!(
        lines[1].starts_with("web\t") && lines[1].ends_with("\tscopes (unrestricted)"),
        "{listing}"
    );
}
