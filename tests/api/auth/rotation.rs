//! Key rotation (`POST /tokens/rotate`, and `/token/refresh` with
//! `ROTATE_REFRESH_TOKENS`): the device keeps itself with a new key, the old
//! one stands for it within `ROTATION_GRACE` (1 s here) and revokes it when
//! used afterwards, wherever it is presented; races and two instances.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_unauthorized, insert_key_row, issued_keys, keys_of, uncached_json, Backend, Sent,
    TestApp,
};
use futures_util::future::join_all;
use multitoken::config::Settings;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_secs(1);

fn short_grace(settings: &mut Settings) {
    settings.tokens.rotation_grace = GRACE;
}

/// Waits the grace out (and a little more, for the clock's millisecond).
async fn after_the_grace() {
    tokio::time::sleep(GRACE + Duration::from_millis(100)).await;
}

async fn rotate(app: &TestApp, key: &str) -> Response {
    app.post_with_token("/tokens/rotate", key).await
}

/// Rotates `key`, asserting a 200, and returns the answer's body.
async fn rotated(app: &TestApp, key: &str) -> Value {
    let response = rotate(app, key).await;
    assert_eq!(response.status(), StatusCode::OK, "rotation of a live key");
    response.json().await.expect("json")
}

async fn rotated_key(app: &TestApp, key: &str) -> String {
    rotated(app, key).await["auth_token"]
        .as_str()
        .expect("auth_token")
        .to_owned()
}

/// `(type, client, detail)` of the user's own events, newest first.
async fn own_events(app: &TestApp, key: &str) -> Vec<(String, Value, Value)> {
    app.own_events(key)
        .await
        .iter()
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            (kind, event["client"].clone(), event["detail"].clone())
        })
        .collect()
}

/// The value of a metric's series, 0 when absent.
async fn metric(app: &TestApp, series: &str) -> u64 {
    let text = app.scrape().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

#[on_both_backends]
async fn a_restricted_key_rotates_itself_and_the_device_stays_as_it_was(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let observer = app.login("alice", "web").await;
    let login = app
        .login_body_with_scopes("alice", "cli", json!(["read"]))
        .await;
    let old = login["auth_token"].as_str().expect("key").to_owned();
    let before = app.devices(&observer).await;

    let body = uncached_json(rotate(&app, &old).await).await;
    assert_eq!(
        keys_of(&body),
        ["auth_token", "client", "expires_at", "scopes"]
    );
    assert_eq!(body["client"], "cli");
    assert_eq!(body["scopes"], json!(["read"]));
    let new = body["auth_token"].as_str().expect("auth_token");
    assert_ne!(new, old);
    assert!(new.starts_with("mt_"), "a key of the current format: {new}");

    let whoami: Value = app.whoami(new).await.json().await.expect("json");
    assert_eq!(whoami["client"], "cli");
    assert_eq!(whoami["scopes"], json!(["read"]));
    // The same device: same row, sign-in time and way of signing in.
    let after = app.devices(&observer).await;
    assert_eq!(after.len(), before.len());
    let cli = |devices: &[Value]| {
        devices
            .iter()
            .find(|device| device["client"] == "cli")
            .cloned()
            .expect("the cli device")
    };
    let (before, after) = (cli(&before), cli(&after));
    for field in ["created_at", "via", "scopes", "user_agent", "last_ip"] {
        assert_eq!(after[field], before[field], "{field} kept");
    }
    assert_eq!(after["expires_at"], body["expires_at"]);
    assert_eq!(
        own_events(&app, &observer).await[0],
        ("rotated".to_owned(), json!("cli"), Value::Null)
    );
    assert_eq!(
        metric(&app, "multitoken_rotations_total{result=\"rotated\"}").await,
        1
    );
}

#[on_both_backends]
async fn the_old_key_is_the_device_within_the_grace_and_revokes_it_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, short_grace).await;
    app.create_user("alice", "", false);
    let observer = app.login("alice", "web").await;
    let old = app.login("alice", "cli").await;
    let new = rotated_key(&app, &old).await;

    let whoami: Value = app.whoami(&old).await.json().await.expect("json");
    assert_eq!(whoami["client"], "cli", "the old key within the grace");
    app.assert_whoami(&new, StatusCode::OK, "the new key").await;

    after_the_grace().await;
    assert_unauthorized(app.whoami(&old).await, "Invalid token.").await;
    // The device is revoked, its current key too; other devices are not.
    assert_unauthorized(app.whoami(&new).await, "Invalid token.").await;
    app.assert_whoami(&observer, StatusCode::OK, "another device")
        .await;
    let clients: Vec<Value> = app
        .devices(&observer)
        .await
        .iter()
        .map(|device| device["client"].clone())
        .collect();
    assert_eq!(clients, [json!("web")]);
    assert_eq!(
        own_events(&app, &observer).await[0],
        ("revoked".to_owned(), json!("cli"), json!("reuse_detected"))
    );
    assert_eq!(
        metric(
            &app,
            "multitoken_rotations_total{result=\"reuse_detected\"}"
        )
        .await,
        1
    );
    assert_eq!(
        metric(
            &app,
            "multitoken_revocations_total{cause=\"reuse_detected\"}"
        )
        .await,
        1
    );
    // Once revoked, the old key is just unknown: nothing more happens.
    assert_unauthorized(app.whoami(&old).await, "Invalid token.").await;
    assert_unauthorized(rotate(&app, &old).await, "Invalid token.").await;
}

#[on_both_backends]
async fn rotating_the_old_key_again_within_the_grace_ends_the_previous_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let old = app.login("alice", "cli").await;
    let lost = rotated_key(&app, &old).await;
    let retried = rotated_key(&app, &old).await;
    assert_ne!(retried, lost);
    // The lost answer's key is ended, not a reuse: the device lives on.
    assert_unauthorized(app.whoami(&lost).await, "Invalid token.").await;
    app.assert_whoami(&retried, StatusCode::OK, "the retried rotation's key")
        .await;
    app.assert_whoami(&old, StatusCode::OK, "the old key, still in its grace")
        .await;
    assert_eq!(app.devices(&retried).await.len(), 1);
    assert_eq!(
        metric(&app, "multitoken_rotations_total{result=\"retried\"}").await,
        1
    );
    // The new key rotates as any current key does.
    let next = rotated_key(&app, &retried).await;
    app.assert_whoami(&next, StatusCode::OK, "the next key")
        .await;
}

#[on_both_backends]
async fn rotations_racing_on_one_key_end_with_exactly_one_live_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    for round in 0..3 {
        let client = format!("cli{round}");
        let old = app.login("alice", &client).await;
        let answers = join_all((0..8).map(|_| rotate(&app, &old))).await;
        let keys = issued_keys(answers, &format!("round {round}")).await;
        let live = app.live_keys(&keys).await;
        assert_eq!(live.len(), 1, "round {round}: one live key of {keys:?}");
        let devices = app.devices(&live[0]).await;
        let same_client = devices.iter().filter(|d| d["client"] == client.as_str());
        assert_eq!(same_client.count(), 1, "round {round}: one device");
    }
}

#[on_both_backends]
async fn a_key_in_its_grace_is_the_device_at_every_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    app.create_service_user("gateway");
    let gateway = app.login("gateway", "api").await;

    // Checks for other services answer for the device.
    let old = app.login("alice", "cli").await;
    let new = rotated_key(&app, &old).await;
    let verified = app.get_with_token("/auth/verify", &old).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let introspected = app
        .with_token(Method::POST, "/introspect", &gateway)
        .json(&json!({ "token": old }))
        .sent()
        .await;
    let introspected: Value = introspected.json().await.expect("json");
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["client_id"], "cli");

    // Logging out with it logs the device out.
    let logout = app.post_with_token("/logout", &old).await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_unauthorized(app.whoami(&new).await, "Invalid token.").await;
    assert_unauthorized(app.whoami(&old).await, "Invalid token.").await;

    // Revoking it by key (RFC 7009) revokes the device.
    let old = app.login("alice", "cli").await;
    let new = rotated_key(&app, &old).await;
    let revoked = app.post_json("/revoke", json!({ "token": old })).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_unauthorized(app.whoami(&new).await, "Invalid token.").await;

    // A new sign-in on the client is another device: the keys of the
    // earlier one name nothing, and never revoke it.
    let old = app.login("alice", "cli").await;
    rotated_key(&app, &old).await;
    let fresh = app.login("alice", "cli").await;
    assert_unauthorized(app.whoami(&old).await, "Invalid token.").await;
    app.assert_whoami(&fresh, StatusCode::OK, "the new sign-in")
        .await;
}

#[on_both_backends]
async fn refresh_rotates_the_refresh_token_when_asked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        short_grace(settings);
        settings.tokens.rotate_refresh_tokens = true;
    })
    .await;
    app.create_user("alice", "", false);
    let observer = app.login("alice", "web").await;
    let (old, _) = app.obtain_jwt("alice", "cli").await;

    let body = uncached_json(app.refresh_jwt(&old).await).await;
    assert_eq!(keys_of(&body), ["access", "refresh"]);
    let (access, new) = (
        body["access"].as_str().expect("access"),
        body["refresh"].as_str().expect("refresh"),
    );
    assert_ne!(new, old);
    app.assert_whoami(new, StatusCode::OK, "the new refresh token")
        .await;
    let with_access = app.with_bearer(Method::GET, "/whoami", access).sent().await;
    assert_eq!(with_access.status(), StatusCode::OK, "the new access token");
    assert_eq!(app.devices(&observer).await.len(), 2);

    // The old one, within the grace, refreshes again (a lost answer).
    let again = app.refresh_jwt(&old).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.expect("json");
    let current = again["refresh"].as_str().expect("refresh").to_owned();
    assert_unauthorized(app.whoami(new).await, "Invalid token.").await;

    after_the_grace().await;
    let reused = app.refresh_jwt(&old).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    let reused: Value = reused.json().await.expect("json");
    assert_eq!(reused["code"], "token_not_valid");
    assert_unauthorized(app.whoami(&current).await, "Invalid token.").await;
    assert_eq!(
        own_events(&app, &observer).await[0],
        ("revoked".to_owned(), json!("cli"), json!("reuse_detected"))
    );
}

#[on_both_backends]
async fn without_the_setting_refresh_leaves_the_refresh_token_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let (refresh, _) = app.obtain_jwt("alice", "cli").await;
    let response = app.refresh_jwt(&refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(keys_of(&body), ["access"]);
    app.assert_whoami(&refresh, StatusCode::OK, "the same key")
        .await;
}

#[on_both_backends]
async fn an_access_token_does_not_rotate_its_device_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let (refresh, access) = app.obtain_jwt("alice", "cli").await;
    let response = app
        .with_bearer(Method::POST, "/tokens/rotate", &access)
        .sent()
        .await;
    assert_unauthorized(response, "Invalid token.").await;
    app.assert_whoami(&refresh, StatusCode::OK, "the device key is unchanged")
        .await;
    let anonymous = app.request(Method::POST, "/tokens/rotate").sent().await;
    assert_unauthorized(anonymous, "Authentication credentials were not provided.").await;
}

#[on_both_backends]
async fn access_tokens_minted_before_a_rotation_live_on_and_are_no_reuse(backend: Backend) {
    let app = TestApp::spawn_with(backend, short_grace).await;
    app.create_user("alice", "", false);
    let (old, used) = app.obtain_jwt("alice", "cli").await;
    let bearer = |token: &str| app.with_bearer(Method::GET, "/whoami", token).sent();
    assert_eq!(bearer(&used).await.status(), StatusCode::OK);
    let refreshed = app.refresh_jwt(&old).await;
    let refreshed: Value = refreshed.json().await.expect("json");
    let unused = refreshed["access"].as_str().expect("access").to_owned();
    let new = rotated_key(&app, &old).await;
    after_the_grace().await;
    for (token, why) in [(&used, "checked before"), (&unused, "never checked")] {
        assert_eq!(bearer(token).await.status(), StatusCode::OK, "{why}");
    }
    app.assert_whoami(&new, StatusCode::OK, "the device is not revoked")
        .await;
    // A new sign-in on the client ends them, as before.
    app.login("alice", "cli").await;
    for token in [&used, &unused] {
        assert_eq!(bearer(token).await.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The digests in `retired_keys`, however many.
fn retired_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    app.read(multitoken::db::schema::retired_keys::table.count())
}

#[on_both_backends]
async fn old_keys_are_remembered_while_their_device_lives_then_swept(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        short_grace(settings);
        settings.tokens.token_ttl = Duration::from_secs(2);
        settings.tokens.token_touch_interval = Duration::ZERO;
        settings.server.sweep_interval = Duration::from_millis(100);
    })
    .await;
    app.create_user("alice", "", false);
    let kept_old = app.login("alice", "kept").await;
    let kept = rotated_key(&app, &kept_old).await;
    let gone_old = app.login("alice", "gone").await;
    let gone = rotated_key(&app, &gone_old).await;
    assert_eq!(
        app.post_with_token("/logout", &gone).await.status(),
        StatusCode::OK
    );
    assert_eq!(retired_count(&app), 2);
    // The kept device slides past the 2 s its old key was given.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2600) {
        app.assert_whoami(&kept, StatusCode::OK, "the live device")
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        retired_count(&app),
        1,
        "the logged-out device's old key is swept"
    );
    assert_unauthorized(app.whoami(&kept_old).await, "Invalid token.").await;
    assert_unauthorized(app.whoami(&kept).await, "Invalid token.").await;
    assert_eq!(
        retired_count(&app),
        0,
        "a reuse forgets the device's old keys"
    );
}

/// Polls `url` with `key` until it is refused, within `bound`.
async fn refused_within(app: &TestApp, base: &str, key: &str, bound: Duration, why: &str) {
    let started = Instant::now();
    loop {
        let status = app
            .http
            .get(format!("{base}/whoami"))
            .header("Authorization", format!("Token {key}"))
            .sent()
            .await
            .status();
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert_eq!(status, StatusCode::OK, "{why}");
        assert!(started.elapsed() < bound, "{why}: still accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status_on(app: &TestApp, base: &str, key: &str) -> StatusCode {
    app.http
        .get(format!("{base}/whoami"))
        .header("Authorization", format!("Token {key}"))
        .sent()
        .await
        .status()
}

/// Two instances on one PostgreSQL database, both caching checks for long:
/// the old key, cached everywhere before the rotation, is never served from
/// a cache after its grace, and its reuse on either instance revokes the
/// device on both.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn across_two_cached_instances_a_reuse_after_the_grace_revokes_on_either() {
    let cached = |settings: &mut Settings| {
        settings.token_cache.token_cache = true;
        settings.token_cache.token_cache_ttl = Duration::from_secs(600);
        short_grace(settings);
    };
    let a = TestApp::spawn_with(Backend::Postgres, cached).await;
    let b = a.spawn_on_same_database(cached);
    let a_url = a.address.clone();
    a.create_user("alice", "", false);
    for (rotating, reusing, client) in [(&a_url, &b, "one"), (&b, &a_url, "two")] {
        let old = a.login("alice", client).await;
        for base in [&a_url, &b] {
            for _ in 0..2 {
                assert_eq!(status_on(&a, base, &old).await, StatusCode::OK);
            }
        }
        let rotation = a
            .http
            .post(format!("{rotating}/tokens/rotate"))
            .header("Authorization", format!("Token {old}"))
            .sent()
            .await;
        assert_eq!(rotation.status(), StatusCode::OK);
        let body: Value = rotation.json().await.expect("json");
        let new = body["auth_token"].as_str().expect("key").to_owned();
        // Cached on both, through both; the old key still works through both.
        for base in [&a_url, &b] {
            for key in [&new, &old] {
                for _ in 0..2 {
                    assert_eq!(status_on(&a, base, key).await, StatusCode::OK, "{client}");
                }
            }
        }
        after_the_grace().await;
        // No cache serves the old key past its grace: the first use is a reuse.
        assert_eq!(
            status_on(&a, reusing, &old).await,
            StatusCode::UNAUTHORIZED,
            "{client}: the old key on the other instance"
        );
        assert_eq!(status_on(&a, reusing, &new).await, StatusCode::UNAUTHORIZED);
        // The rotating instance, which had the new key cached, hears it.
        let why = format!("{client}: the new key on the rotating instance");
        refused_within(&a, rotating, &new, Duration::from_millis(1500), &why).await;
        assert_eq!(
            status_on(&a, rotating, &old).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// Rotations of one key racing on two instances on one PostgreSQL database,
/// both caching checks: every one is answered, and one key of all they gave
/// is live, through either instance.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn rotations_racing_on_two_cached_instances_end_with_exactly_one_live_key() {
    let cached = |settings: &mut Settings| {
        settings.token_cache.token_cache = true;
        settings.token_cache.token_cache_ttl = Duration::from_secs(600);
    };
    let a = TestApp::spawn_with(Backend::Postgres, cached).await;
    let b = a.spawn_on_same_database(cached);
    let a_url = a.address.clone();
    a.create_user("alice", "", false);
    for round in 0..3 {
        let client = format!("cli{round}");
        let old = a.login("alice", &client).await;
        for base in [&a_url, &b] {
            assert_eq!(status_on(&a, base, &old).await, StatusCode::OK);
        }
        let rotations = (0..6).map(|n| {
            let base = if n % 2 == 0 { &a_url } else { &b };
            a.http
                .post(format!("{base}/tokens/rotate"))
                .header("Authorization", format!("Token {old}"))
                .sent()
        });
        let keys = issued_keys(join_all(rotations).await, &format!("round {round}")).await;
        for base in [&a_url, &b] {
            let mut live = Vec::new();
            for key in &keys {
                if status_on(&a, base, key).await == StatusCode::OK {
                    live.push(key.clone());
                }
            }
            assert_eq!(live.len(), 1, "round {round} on {base}: one of {keys:?}");
        }
    }
}

/// An imported Django key rotates too: its device gets a key of the current
/// format and stays an imported device.
#[on_both_backends]
async fn an_imported_key_rotates_into_a_current_one(backend: Backend) {
    const DRF_KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    insert_key_row(&mut app.connection(), alice, "drf", DRF_KEY, "import");
    let new = rotated_key(&app, DRF_KEY).await;
    assert_eq!(new.len(), 52, "the current format: {new}");
    let devices = app.devices(&new).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["via"], "import");
    assert_eq!(devices[0]["client"], "drf");
}
