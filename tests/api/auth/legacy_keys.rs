//! Keys imported from Django, in the shapes DRF, djangorestframework-multitoken
//! and knox gave out: they authenticate as `Token <key>` like ours, behave
//! like any token, and are refused outright with `LEGACY_TOKENS=off`.

use crate::helpers::on_both_backends;
use crate::helpers::{assert_json, assert_unauthorized, Backend, TestApp};
use multitoken::db::tokens::{self, NewToken};
use multitoken::domain::{Timestamp, TokenDigest};
use reqwest::StatusCode;
use serde_json::json;

/// A DRF `authtoken_token.key`.
const DRF_KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
/// A knox key and the `digest` knox 5.1's `hash_token` stored for it.
const KNOX_KEY: &str = "1c2a5e4b0f8d7c6a3e9b1d2f4a6c8e0b1c2a5e4b0f8d7c6a3e9b1d2f4a6c8e0b";
const KNOX_DIGEST: &str = "a55ac94b339f65e6fc78cf1cb64c3b058af487a0e6f41e9cd886875af27aef61d11558643e8e55eb19ca2b0e4b08db01aa9492bca16beeb24c65a1755870f5a0";

fn insert(app: &TestApp, user_id: i64, client: &str, digest: TokenDigest, expires_at: Timestamp) {
    let now = Timestamp::now().millis();
    tokens::insert(
        &mut app.connection(),
        &NewToken {
            dpop_jkt: None,
            user_id,
            client,
            digest: digest.as_bytes(),
            created_at: now,
            last_used_at: now,
            expires_at: expires_at.millis(),
            user_agent: None,
            scopes: "",
            via: "import",
            last_ip: None,
        },
    )
    .expect("insert token");
}

fn in_a_day() -> Timestamp {
    Timestamp(Timestamp::now().millis() + 86_400_000)
}

fn insert_both(app: &TestApp, user_id: i64) {
    insert(app, user_id, "drf", TokenDigest::of(DRF_KEY), in_a_day());
    let knox = TokenDigest::of_knox_digest(KNOX_DIGEST);
    insert(app, user_id, "knox-1", knox, in_a_day());
}

#[on_both_backends]
async fn drf_and_knox_keys_authenticate_as_their_user_and_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("alice", "alice@example.com", false);
    insert_both(&app, id);
    for (key, client) in [(DRF_KEY, "drf"), (KNOX_KEY, "knox-1")] {
        assert_json(
            app.whoami(key).await,
            StatusCode::OK,
            json!({"id": id, "username": "alice", "email": "alice@example.com", "email_verified": false, "is_admin": false, "client": client, "scopes": [], "two_factor": false}),
        )
        .await;
    }
    // Knox's stored digest, presented as a key, opens nothing.
    assert_unauthorized(app.whoami(KNOX_DIGEST).await, "Invalid token.").await;
    let upper = DRF_KEY.to_ascii_uppercase();
    assert_unauthorized(app.whoami(&upper).await, "Invalid token.").await;
}

#[on_both_backends]
async fn legacy_keys_are_refused_when_legacy_tokens_is_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.tokens.legacy_tokens = false).await;
    let id = app.create_user("alice", "", false);
    insert_both(&app, id);
    for key in [DRF_KEY, KNOX_KEY] {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
    // Our own keys are untouched by the setting.
    let key = app.login("alice", "web").await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
}

#[on_both_backends]
async fn an_expired_knox_key_is_refused_as_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("alice", "", false);
    // An hour ago: the sweep deletes tokens a day after they expire.
    let an_hour_ago = Timestamp(Timestamp::now().millis() - 3_600_000);
    let knox = TokenDigest::of_knox_digest(KNOX_DIGEST);
    insert(&app, id, "knox-1", knox, an_hour_ago);
    assert_unauthorized(app.whoami(KNOX_KEY).await, "Token has expired.").await;
}

#[on_both_backends]
async fn a_legacy_key_is_listed_revocable_and_replaced_by_a_relogin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("alice", "", false);
    insert_both(&app, id);
    let mut clients: Vec<String> = app
        .devices(KNOX_KEY)
        .await
        .iter()
        .map(|device| device["client"].as_str().unwrap_or_default().to_owned())
        .collect();
    clients.sort();
    assert_eq!(clients, ["drf", "knox-1"]);
    let logout = app.post_with_token("/logout", KNOX_KEY).await;
    assert!(logout.status().is_success(), "{}", logout.status());
    assert_unauthorized(app.whoami(KNOX_KEY).await, "Invalid token.").await;
    let key = app.login("alice", "drf").await;
    assert!(key.starts_with("mt_"));
    assert_unauthorized(app.whoami(DRF_KEY).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
}
