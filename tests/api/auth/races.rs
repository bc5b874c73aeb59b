//! Logins whose password check is under way while the password changes or
//! the user is deactivated (security finding F1): no token they issue may
//! outlive the change. And a logout racing a re-login on the same client.

use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{Backend, TestApp, PASSWORD};
use diesel::prelude::*;
use futures_util::future::{join, join_all};
use multitoken::db::schema::{tokens, users};
use multitoken::domain::event::{Actor, EventSource};
use multitoken::domain::{ClientName, Scopes, Timestamp};
use multitoken::service::tokens::{issue, CheckedHash, Grant};
use multitoken::service::Error;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const NEW_PASSWORD: &str = "another-horse-battery";

/// `tokens::issue` refuses a stale hash or an inactive user, and writes
/// nothing then: the deterministic core of what the races below probe.
#[on_both_backends]
async fn a_token_is_issued_only_against_the_hash_that_was_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    let mut conn = app.connection();
    let hash: String = users::table
        .find(alice)
        .select(users::password_hash)
        .first(&mut conn)
        .expect("hash");
    let policy = multitoken::config::Settings::with_database(app.db.database.clone())
        .tokens
        .policy();
    let source = EventSource::without_request(Actor::Owner);
    let grant = || Grant {
        dpop_jkt: None,
        client: ClientName::parse("web").expect("client"),
        scopes: Scopes::unrestricted(),
        source: &source,
    };
    let issue_now = |conn: &mut _, hash| {
        issue(
            conn,
            alice,
            CheckedHash::kept(hash),
            grant(),
            Timestamp::now(),
            &policy,
            50,
        )
    };
    let stale = issue_now(&mut conn, "$argon2id$stale");
    assert!(matches!(stale, Err(Error::BadCredentials)), "{stale:?}");
    diesel::update(users::table.find(alice))
        .set(users::is_active.eq(false))
        .execute(&mut conn)
        .expect("deactivate");
    let inactive = issue_now(&mut conn, &hash);
    assert!(
        matches!(inactive, Err(Error::BadCredentials)),
        "{inactive:?}"
    );
    let count: i64 = tokens::table.count().get_result(&mut conn).expect("count");
    assert_eq!(count, 0, "a refused issue writes no token");
    diesel::update(users::table.find(alice))
        .set(users::is_active.eq(true))
        .execute(&mut conn)
        .expect("reactivate");
    let issued = issue_now(&mut conn, &hash);
    assert!(issued.is_ok(), "the checked hash of an active user issues");
}

async fn spawn_unthrottled(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("1000000/1m");
    })
    .await
}

/// Logs in as `username` with the old password from `attackers` loops until
/// `until`, one client each; returns every key obtained.
async fn log_in_until(
    app: &TestApp,
    username: &str,
    attackers: usize,
    until: Instant,
) -> Vec<String> {
    let loops = (0..attackers).map(|n| async move {
        let client = format!("evil{n}");
        let mut keys = Vec::new();
        while Instant::now() < until {
            let response = app.post_login(username, PASSWORD, &client).await;
            if response.status() == StatusCode::OK {
                let body: serde_json::Value = response.json().await.expect("json");
                keys.push(body["auth_token"].as_str().expect("key").to_owned());
            }
        }
        keys
    });
    join_all(loops).await.into_iter().flatten().collect()
}

async fn live_keys(app: &TestApp, keys: &[String]) -> usize {
    let mut live = 0;
    for key in keys {
        if app.whoami_status(key).await == StatusCode::OK {
            live += 1;
        }
    }
    live
}

#[on_both_backends]
async fn logins_racing_a_password_change_leave_no_live_key(backend: Backend) {
    let app = spawn_unthrottled(backend).await;
    app.create_user("victim", "victim@example.com", false);
    let phone = app.login("victim", "phone").await;
    let until = Instant::now() + Duration::from_secs(3);
    let change = async {
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        let response = app.change_password(&phone, PASSWORD, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
    };
    let (keys, ()) = join(log_in_until(&app, "victim", 4, until), change).await;
    assert!(
        !keys.is_empty(),
        "the old password logged in before the change"
    );
    assert_eq!(
        live_keys(&app, &keys).await,
        0,
        "of {} keys issued with the old password, none may outlive the change",
        keys.len()
    );
    app.assert_whoami(&phone, StatusCode::OK, "the changing device stays")
        .await;
}

#[on_both_backends]
async fn logins_racing_a_deactivation_leave_no_key_for_the_reactivated_user(backend: Backend) {
    let app = spawn_unthrottled(backend).await;
    let admin = app.admin_key().await;
    let victim = app.create_user("victim", "", false);
    let until = Instant::now() + Duration::from_secs(3);
    let deactivate = async {
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        let response = app
            .admin_patch(victim, &admin, json!({"is_active": false}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    };
    let (keys, ()) = join(log_in_until(&app, "victim", 4, until), deactivate).await;
    assert!(
        !keys.is_empty(),
        "the user logged in before the deactivation"
    );
    let response = app
        .admin_patch(victim, &admin, json!({"is_active": true}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        live_keys(&app, &keys).await,
        0,
        "of {} keys issued before the deactivation, none may come back on reactivation",
        keys.len()
    );
}

/// Security finding F9: `/logout` deleted by row id, and a re-login reuses
/// the client's row, so a logout sent with the old key while the re-login
/// ran could revoke the new key. The logout is sent at staggered moments
/// around the re-login's password check, where the window is.
#[on_both_backends]
async fn a_logout_with_the_old_key_never_revokes_the_key_that_replaced_it(backend: Backend) {
    let app = spawn_unthrottled(backend).await;
    app.create_user("alice", "", false);
    let mut revoked_replacements = 0;
    let trials = 60;
    for trial in 0..trials {
        let old = app.login("alice", "web").await;
        let relogin = app.post_login("alice", PASSWORD, "web");
        let logout = async {
            actix_web::rt::time::sleep(Duration::from_millis(10 + trial % 30)).await;
            app.post_with_token("/logout", &old).await
        };
        let (relogin, _) = join(relogin, logout).await;
        assert_eq!(relogin.status(), StatusCode::OK);
        let body: serde_json::Value = relogin.json().await.expect("json");
        let new = body["auth_token"].as_str().expect("key");
        if app.whoami_status(new).await != StatusCode::OK {
            revoked_replacements += 1;
        }
    }
    assert_eq!(
        revoked_replacements, 0,
        "of {trials} re-logins, none may be revoked by a logout with the key it replaced"
    );
}
