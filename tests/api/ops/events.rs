//! Security events: what each change to an account or a device records (who,
//! from where, how), `GET /events` and `/admin/events`, `last_ip` on
//! devices, `NEW_DEVICE_MAIL`, `EVENTS_RETENTION` and `events list` at the
//! command line.

use crate::helpers::console::Console;
use crate::helpers::mail::{mail_files, wait_for_mail_files, MailApp, NEW_PASSWORD};
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{
    assert_bad_request, assert_detail, insert_token_row, keys_of, Backend, Sent, TestApp,
    TestDatabase, DENIED, PASSWORD,
};
use diesel::prelude::*;
use multitoken::db::events::{self as event_rows, What};
use multitoken::db::schema::events;
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::email_verification::EmailVerification;
use multitoken::domain::event::{Actor, EventKind, EventSource};
use multitoken::domain::Timestamp;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(86_400);

/// How long a test waits for what a background task does.
const WAIT: Duration = Duration::from_secs(10);

/// The fields of an event, sorted.
const EVENT_FIELDS: [&str; 10] = [
    "actor",
    "at",
    "client",
    "detail",
    "id",
    "ip",
    "sid",
    "type",
    "user_agent",
    "user_id",
];

async fn json_of(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("json")
}

/// The first page of `GET /admin/events?{query}`.
async fn admin_events(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let path = format!("/admin/events?{query}");
    let page = json_of(app.admin_get(&path, key).await, StatusCode::OK).await;
    page["results"].as_array().expect("results").clone()
}

/// Asserts that `user` did this themself, from the loopback address.
fn assert_done_by_self(event: &Value, user: i64) {
    assert_eq!(event["user_id"], user, "{event}");
    assert_eq!(event["actor"], "self", "{event}");
    assert_eq!(event["ip"], "127.0.0.1", "{event}");
}

/// The values of these fields of each event, in order.
fn fields(events: &[Value], names: &[&str]) -> Vec<Vec<Value>> {
    events
        .iter()
        .map(|event| names.iter().map(|name| event[*name].clone()).collect())
        .collect()
}

/// `(type, client, detail)` of each event, oldest first, with each run of
/// `revoked` events of the same detail (one revocation of several devices,
/// in no particular order) sorted by client.
fn summary(newest_first: &[Value]) -> Vec<(String, Option<String>, Option<String>)> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let mut rows: Vec<_> = newest_first
        .iter()
        .rev()
        .map(|event| {
            (
                text(&event["type"]).expect("type"),
                text(&event["client"]),
                text(&event["detail"]),
            )
        })
        .collect();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        while end < rows.len()
            && rows[start].0 == "revoked"
            && rows[end].0 == rows[start].0
            && rows[end].2 == rows[start].2
        {
            end += 1;
        }
        rows[start..end].sort_by(|a, b| a.1.cmp(&b.1));
        start = end;
    }
    rows
}

/// Shorthand for an expected summary row.
fn row(
    kind: &str,
    client: Option<&str>,
    detail: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        kind.to_owned(),
        client.map(str::to_owned),
        detail.map(str::to_owned),
    )
}

/// The events of a listing that are not logins (what a test did to the
/// account between its sign-ins).
fn without_logins(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|event| event["type"] != "login")
        .cloned()
        .collect()
}

async fn login_with_headers(
    app: &TestApp,
    username: &str,
    password: &str,
    client: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut request = app.request(Method::POST, "/login");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .json(&json!({"username": username, "password": password, "client": client}))
        .sent()
        .await;
    let body = json_of(response, StatusCode::OK).await;
    body["auth_token"].as_str().expect("key").to_owned()
}

async fn post_json_with_token(app: &TestApp, path: &str, key: &str, body: Value) -> Response {
    app.with_token(Method::POST, path, key)
        .json(&body)
        .sent()
        .await
}

fn insert_event(
    conn: &mut multitoken::db::AnyConnection,
    user_id: i64,
    detail: &str,
    at: Timestamp,
) {
    let source = EventSource::without_request(Actor::System);
    let what = What::to_user(EventKind::UserUpdated, user_id).detail(detail);
    event_rows::record(conn, &source, what, at).expect("record an event");
}

fn cli_ok(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let output = app.cli(args, stdin);
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[on_both_backends]
async fn a_login_is_recorded_with_its_client_address_and_user_agent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    // Not from a trusted proxy (there is none): X-Forwarded-For is ignored.
    let key = login_with_headers(
        &app,
        "alice",
        PASSWORD,
        "web",
        &[
            ("User-Agent", "events-test/1.0"),
            ("X-Forwarded-For", "198.51.100.7"),
        ],
    )
    .await;
    let events = app.own_events(&key).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let login = &events[0];
    assert_eq!(keys_of(login), EVENT_FIELDS);
    assert_eq!(login["type"], "login");
    assert_eq!(login["user_id"], alice);
    assert_eq!(login["client"], "web");
    assert_eq!(login["actor"], "self");
    assert_eq!(login["ip"], "127.0.0.1");
    assert_eq!(login["user_agent"], "events-test/1.0");
    assert_eq!(login["detail"], "password");
    let at =
        chrono::DateTime::parse_from_rfc3339(login["at"].as_str().expect("at")).expect("RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age.num_seconds().abs() < 60, "recorded now, not {at}");
    let created = &events[1];
    assert_eq!(created["type"], "user_created");
    assert_eq!(created["user_id"], alice);
    assert_eq!(created["actor"], "cli");
    for field in ["client", "ip", "user_agent", "detail", "sid"] {
        assert_eq!(created[field], Value::Null, "{field} of {created}");
    }
    assert_eq!(login["sid"].as_str().map(str::len), Some(32), "{login}");
    assert!(
        login["id"].as_i64() > created["id"].as_i64(),
        "newest first: {events:?}"
    );
}

#[on_both_backends]
async fn a_logout_writes_one_logout_event_and_no_revoked_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    assert_eq!(
        app.post_with_token("/logout", &ios).await.status(),
        StatusCode::OK
    );
    let (refresh, _) = app.obtain_jwt("alice", "cli").await;
    let response = app.blacklist_jwt(&refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = app.own_events(&web).await;
    assert_eq!(
        summary(&events),
        [
            row("user_created", None, None),
            row("login", Some("web"), Some("password")),
            row("login", Some("ios"), Some("password")),
            row("logout", Some("ios"), None),
            row("login", Some("cli"), Some("password")),
            row("logout", Some("cli"), None),
        ]
    );
    for logout in events.iter().filter(|event| event["type"] == "logout") {
        assert_done_by_self(logout, alice);
    }
}

#[on_both_backends]
async fn each_way_of_revoking_ones_devices_records_one_revoked_event_per_device(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    for client in ["ios", "cli", "tv"] {
        app.login("alice", client).await;
    }
    let others = app.post_with_token("/logout/others", &web).await;
    assert_eq!(others.status(), StatusCode::OK);

    app.login("alice", "ios").await;
    let device = app.delete_with_token("/tokens/ios", &web).await;
    assert_eq!(device.status(), StatusCode::NO_CONTENT);

    app.login("alice", "tv").await;
    let tv = app.login("alice", "tv").await;
    let revoke = app.post_json("/revoke", json!({ "token": tv })).await;
    assert_eq!(revoke.status(), StatusCode::OK);

    app.login("alice", "ios").await;
    let changed = app.change_password(&web, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), StatusCode::OK);

    app.login_as("alice", NEW_PASSWORD, "ios").await;
    let all = app.post_with_token("/logout/all", &web).await;
    assert_eq!(all.status(), StatusCode::OK);

    let reader = app.login_as("alice", NEW_PASSWORD, "reader").await;
    let events = app.own_events(&reader).await;
    assert_eq!(
        summary(&without_logins(&events)),
        [
            row("user_created", None, None),
            row("revoked", Some("cli"), Some("logout_others")),
            row("revoked", Some("ios"), Some("logout_others")),
            row("revoked", Some("tv"), Some("logout_others")),
            row("revoked", Some("ios"), Some("device")),
            row("revoked", Some("tv"), Some("relogin")),
            row("revoked", Some("tv"), Some("revoke_endpoint")),
            row("password_changed", None, None),
            row("revoked", Some("ios"), Some("password_change")),
            row("revoked", Some("ios"), Some("logout_all")),
            row("revoked", Some("web"), Some("logout_all")),
        ]
    );
    for event in events
        .iter()
        .filter(|event| event["type"] != "user_created")
    {
        assert_done_by_self(event, alice);
    }
}

#[on_both_backends]
async fn refused_guesses_are_recorded_on_the_account_they_named(backend: Backend) {
    let (app, admin) = TestApp::spawn_with_admin_key(backend).await;
    let alice = app.create_user("alice", "", false);
    let wrong = app.post_login("alice", "not-the-password", "web").await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let unknown = app.post_login("nobody", "not-the-password", "web").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let key = app.login("alice", "web").await;
    let change = app
        .change_password(&key, "not-the-password", NEW_PASSWORD)
        .await;
    assert_eq!(change.status(), StatusCode::BAD_REQUEST);
    let setup = post_json_with_token(
        &app,
        "/2fa/totp/setup",
        &key,
        json!({"password": "not-the-password"}),
    )
    .await;
    assert_eq!(setup.status(), StatusCode::BAD_REQUEST);

    let failed = admin_events(&app, &admin, "type=login_failed").await;
    let seen = fields(&failed, &["user_id", "detail"]);
    assert_eq!(
        seen,
        [
            [json!(alice), json!("two_factor")],
            [json!(alice), json!("password_change")],
            [Value::Null, json!("login")],
            [json!(alice), json!("login")],
        ]
    );
    for event in &failed {
        assert_eq!(event["client"], Value::Null, "{event}");
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
    }
}

#[on_both_backends]
async fn a_throttled_attempt_writes_only_throttled_and_once_a_minute(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("2/15m");
    })
    .await;
    let admin = app.admin_key().await;
    let alice = app.create_user("alice", "", false);
    for _ in 0..2 {
        let wrong = app.post_login("alice", "not-the-password", "web").await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    }
    for password in ["not-the-password", "not-it-either", PASSWORD] {
        let refused = app.post_login("alice", password, "web").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let events = admin_events(&app, &admin, &format!("user={alice}")).await;
    assert_eq!(
        summary(&events),
        [
            row("user_created", None, None),
            row("login_failed", None, Some("login")),
            row("login_failed", None, Some("login")),
            row("throttled", None, Some("login")),
        ]
    );
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(events[0]["user_id"], alice);
}

fn event_count(app: &TestApp) -> i64 {
    app.read(events::table.count())
}

/// Security finding L2: every throttled login that named a new username
/// wrote an event, so a throttled client could still grow the table at a
/// row per request.
#[on_both_backends]
async fn a_throttled_flood_of_made_up_usernames_writes_a_row_or_two(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("2/15m");
    })
    .await;
    for username in ["nobody", "no-one"] {
        let wrong = app.post_login(username, "not-the-password", "web").await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    }
    let before = event_count(&app);
    for n in 0..200 {
        let refused = app
            .request(Method::POST, "/login")
            .header("User-Agent", "A".repeat(256))
            .json(&json!({"username": format!("u{n:04}"), "password": "x", "client": "w"}))
            .sent()
            .await;
        assert_eq!(
            refused.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {n}"
        );
    }
    let written = event_count(&app) - before;
    assert!(
        (1..=2).contains(&written),
        "{written} rows for 200 refusals"
    );
    let throttled: i64 = app.read(events::table.filter(events::kind.eq("throttled")).count());
    assert_eq!(throttled, written, "only throttled events");
}

#[on_both_backends]
async fn the_console_sign_in_is_recorded_without_a_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.create_user("root", "root@example.com", true);
    let mut console = Console::new(&app);
    let refused = console.sign_in("root", "not-the-password").await;
    assert!(!refused.status().is_redirection(), "{}", refused.status());
    let signed_in = console.sign_in("root", PASSWORD).await;
    assert!(
        signed_in.status().is_redirection(),
        "{}",
        signed_in.status()
    );
    let key = app.login("root", "web").await;
    let events = app.own_events(&key).await;
    assert_eq!(
        summary(&events),
        [
            row("user_created", None, None),
            row("login_failed", None, Some("console")),
            row("login", None, Some("console")),
            row("login", Some("web"), Some("password")),
        ]
    );
    let console_login = &events[1];
    assert_done_by_self(console_login, root);
}

#[on_both_backends]
async fn admin_changes_are_recorded_with_the_admin_as_actor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.create_user("root", "root@example.com", true);
    let key = app.login("root", "web").await;
    let created = app
        .admin_request(
            Method::POST,
            "/admin/users",
            &key,
            Some(json!({"username": "bob", "password": PASSWORD})),
        )
        .await;
    let bob = json_of(created, StatusCode::CREATED).await["id"]
        .as_i64()
        .expect("id");
    app.login("bob", "web").await;
    app.login("bob", "ios").await;
    let patched = app
        .admin_patch(
            bob,
            &key,
            json!({"email": "bob@example.com", "is_admin": true}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let one = app
        .admin_request(
            Method::DELETE,
            &format!("/admin/users/{bob}/tokens/ios"),
            &key,
            None,
        )
        .await;
    assert_eq!(one.status(), StatusCode::NO_CONTENT);
    let password = app
        .admin_patch(bob, &key, json!({"password": NEW_PASSWORD}))
        .await;
    assert_eq!(password.status(), StatusCode::OK);
    app.login_as("bob", NEW_PASSWORD, "web").await;
    app.login_as("bob", NEW_PASSWORD, "ios").await;
    let all = app
        .admin_request(
            Method::DELETE,
            &format!("/admin/users/{bob}/tokens"),
            &key,
            None,
        )
        .await;
    assert!(all.status().is_success(), "{}", all.status());
    app.login_as("bob", NEW_PASSWORD, "web").await;
    let deactivated = app
        .admin_patch(bob, &key, json!({"is_active": false}))
        .await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let events = admin_events(&app, &key, &format!("user={bob}")).await;
    let changes = without_logins(&events);
    assert_eq!(
        summary(&changes),
        [
            row("user_created", None, None),
            row("user_updated", None, Some("email,is_admin")),
            row("revoked", Some("ios"), Some("device")),
            row("password_changed", None, None),
            row("revoked", Some("web"), Some("password_change")),
            row("revoked", Some("ios"), Some("logout_all")),
            row("revoked", Some("web"), Some("logout_all")),
            row("revoked", Some("web"), Some("deactivated")),
            row("user_updated", None, Some("is_active")),
        ]
    );
    let admin_actor = format!("admin:{root}");
    for event in &changes {
        assert_eq!(event["actor"], admin_actor.as_str(), "{event}");
        assert_eq!(event["user_id"], bob, "{event}");
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
    }
}

#[on_both_backends]
async fn command_line_changes_are_recorded_as_cli_and_listed_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    cli_ok(
        &app,
        &["user", "create", "carol", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    app.login("carol", "web").await;
    app.login("carol", "ios").await;
    cli_ok(&app, &["tokens", "revoke", "carol", "ios"], "");
    cli_ok(
        &app,
        &["user", "set-password", "carol", "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    app.login_as("carol", NEW_PASSWORD, "web").await;
    app.login_as("carol", NEW_PASSWORD, "ios").await;
    cli_ok(&app, &["tokens", "revoke-all", "carol"], "");
    app.login_as("carol", NEW_PASSWORD, "web").await;
    cli_ok(&app, &["user", "deactivate", "carol"], "");
    let dave = app.create_user("dave", "", false);

    let listed = cli_ok(&app, &["events", "list", "carol"], "");
    let lines: Vec<Vec<&str>> = listed
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    for fields in &lines {
        assert_eq!(fields.len(), 7, "{fields:?}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(fields[0]).is_ok(),
            "{fields:?}"
        );
        assert_eq!(fields[2], lines[0][2], "only carol's: {listed}");
    }
    let carol = lines[0][2].strip_prefix("user ").expect("user <id>");
    assert_ne!(carol, dave.to_string());
    // Oldest first, for reading against what was done.
    let seen: Vec<String> = lines
        .iter()
        .rev()
        .map(|fields| fields[1..].join(" "))
        .collect();
    let carol_says = |rest: &str| {
        let (kind, rest) = rest.split_once(' ').expect("type and rest");
        format!("{kind} user {carol} {rest}")
    };
    let mut expected: Vec<String> = [
        "user_created - cli - -",
        "login web self 127.0.0.1 password",
        "login ios self 127.0.0.1 password",
        "revoked ios cli - device",
        "password_changed - cli - -",
        "revoked web cli - password_change",
        "login web self 127.0.0.1 password",
        "login ios self 127.0.0.1 password",
        "revoked ios cli - logout_all",
        "revoked web cli - logout_all",
        "login web self 127.0.0.1 password",
        "revoked web cli - deactivated",
        "user_updated - cli - is_active",
    ]
    .iter()
    .map(|rest| carol_says(rest))
    .collect();
    // The two devices of revoke-all are revoked in no particular order.
    let mut seen = seen;
    seen[8..10].sort();
    expected[8..10].sort();
    assert_eq!(seen, expected, "{listed}");

    let limited = cli_ok(&app, &["events", "list", "carol", "--limit", "2"], "");
    assert_eq!(
        limited.lines().collect::<Vec<_>>(),
        listed.lines().take(2).collect::<Vec<_>>()
    );
    let everyone = cli_ok(&app, &["events", "list"], "");
    let newest: Vec<&str> = everyone
        .lines()
        .next()
        .expect("a line")
        .split('\t')
        .collect();
    let dave_user = format!("user {dave}");
    assert_eq!(
        newest[1..],
        ["user_created", dave_user.as_str(), "-", "cli", "-", "-"]
    );
    assert_eq!(everyone.lines().count(), lines.len() + 1);
}

#[on_both_backends]
async fn expired_tokens_are_recorded_as_revoked_by_the_sweep_and_by_prune(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let admin = app.admin_key().await;
    let alice = app.create_user("alice", "", false);
    let now = Timestamp::now();
    insert_token_row(
        &mut app.connection(),
        alice,
        "long-gone",
        now.minus(DAY * 2),
    );
    // Expired, but not a day ago: left for `tokens prune`.
    insert_token_row(
        &mut app.connection(),
        alice,
        "just-expired",
        now.minus(Duration::from_secs(60)),
    );
    let deadline = Instant::now() + WAIT;
    let swept = loop {
        let revoked = admin_events(&app, &admin, "type=revoked").await;
        if !revoked.is_empty() || Instant::now() > deadline {
            break revoked;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        summary(&swept),
        [row("revoked", Some("long-gone"), Some("expired"))]
    );
    assert_eq!(swept[0]["actor"], "system");
    assert_eq!(swept[0]["user_id"], alice);
    assert_eq!(swept[0]["ip"], Value::Null);
    assert_eq!(swept[0]["user_agent"], Value::Null);

    let pruned = cli_ok(&app, &["tokens", "prune"], "");
    assert!(pruned.contains("pruned 1 "), "{pruned}");
    let revoked = admin_events(&app, &admin, "type=revoked").await;
    let seen = fields(&revoked, &["client", "actor", "detail"]);
    assert_eq!(
        seen,
        [
            [json!("just-expired"), json!("cli"), json!("expired")],
            [json!("long-gone"), json!("system"), json!("expired")],
        ],
        "newest first"
    );
}

#[on_both_backends]
async fn a_password_reset_is_recorded_with_the_devices_it_revoked(backend: Backend) {
    let MailApp { app, mail_dir } = MailApp::spawn(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    app.login("alice", "web").await;
    app.login("alice", "ios").await;
    let link = app
        .reset_link_by_file("alice@example.com", mail_dir.path())
        .await;
    let confirmed = app.confirm_link(&link, NEW_PASSWORD).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let key = app.login_as("alice", NEW_PASSWORD, "reader").await;
    let events = app.own_events(&key).await;
    let changes = without_logins(&events);
    assert_eq!(
        summary(&changes),
        [
            row("user_created", None, None),
            row("password_reset", None, None),
            row("revoked", Some("ios"), Some("password_reset")),
            row("revoked", Some("web"), Some("password_reset")),
        ]
    );
    for event in &changes[..3] {
        assert_eq!(event["actor"], "self", "{event}");
        assert_eq!(event["user_id"], alice, "{event}");
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
    }
    let text = serde_json::to_string(&events).expect("json");
    assert!(!text.contains(&link.token), "the reset token in an event");
}

/// The `key` of the link in a verification mail.
fn verification_key(mail: &str) -> String {
    let link = mail
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("http://") || line.starts_with("https://"))
        .unwrap_or_else(|| panic!("no link in the mail:\n{mail}"));
    let query = link.split_once('?').map(|(_, query)| query).unwrap_or("");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    pairs
        .into_iter()
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("no key in {link}"))
}

#[on_both_backends]
async fn registering_and_verifying_an_address_are_recorded(backend: Backend) {
    let MailApp { app, mail_dir } = MailApp::spawn_with(backend, |settings| {
        settings.accounts.email_verification = EmailVerification::Optional;
    })
    .await;
    let registered = app
        .request(Method::POST, "/register")
        .header("User-Agent", "signup-page/2")
        .json(&json!({"username": "dora", "password": PASSWORD, "email": "dora@example.com"}))
        .sent()
        .await;
    let dora = json_of(registered, StatusCode::CREATED).await["id"]
        .as_i64()
        .expect("id");
    let files = wait_for_mail_files(mail_dir.path(), 1).await;
    let mail = std::fs::read_to_string(&files[0]).expect("read mail");
    let key = verification_key(&mail);
    let verified = app.verify_email(&key).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let token = app.login("dora", "web").await;
    let events = app.own_events(&token).await;
    assert_eq!(
        summary(&events),
        [
            row("user_created", None, None),
            row("email_verified", None, None),
            row("login", Some("web"), Some("password")),
        ]
    );
    let created = &events[2];
    assert_eq!(created["actor"], "self");
    assert_eq!(created["user_id"], dora);
    assert_eq!(created["ip"], "127.0.0.1");
    assert_eq!(created["user_agent"], "signup-page/2");
    assert_eq!(events[1]["user_id"], dora);
}

#[on_both_backends]
async fn two_factor_changes_and_wrong_codes_are_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    let (_secret, codes, _) = crate::helpers::two_factor::enable(&app, "alice").await;
    let wrong = app
        .post_json(
            "/login",
            json!({"username": "alice", "password": PASSWORD, "client": "phone", "otp": "abcde-fghjk"}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let key = app.login_as_with_otp("alice", &codes[0]).await;
    let disabled = post_json_with_token(
        &app,
        "/2fa/disable",
        &key,
        json!({"password": PASSWORD, "code": codes[1]}),
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let events = app.own_events(&key).await;
    assert_eq!(
        summary(&without_logins(&events)),
        [
            row("user_created", None, None),
            row("two_factor_enabled", None, None),
            row("login_failed", None, Some("login")),
            row("two_factor_disabled", None, None),
        ]
    );
    for event in events
        .iter()
        .filter(|event| event["type"] != "user_created")
    {
        assert_done_by_self(event, alice);
    }
    let text = serde_json::to_string(&events).expect("json");
    for code in &codes {
        assert!(!text.contains(code.as_str()), "a recovery code in an event");
    }
}

#[on_both_backends]
async fn own_events_are_paged_newest_first_and_restricted_tokens_may_read_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    let bob = app.create_user("bob", "", false);
    let mut conn = app.connection();
    let now = Timestamp::now();
    for n in 0..55 {
        insert_event(&mut conn, alice, &format!("alice-{n}"), now);
        if n % 10 == 0 {
            insert_event(&mut conn, bob, &format!("bob-{n}"), now);
        }
    }
    let key = app
        .login_with_scopes("alice", "reader", json!(["events:read"]))
        .await;
    // 55, the user_created and the login.
    let first = json_of(app.get_with_token("/events", &key).await, StatusCode::OK).await;
    assert_eq!(keys_of(&first), ["count", "next", "previous", "results"]);
    assert_eq!(first["count"], 57);
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(first["next"], json!(app.url("/events?page=2")));
    let results = first["results"].as_array().expect("results");
    assert_eq!(results.len(), 50);
    assert_eq!(results[0]["type"], "login");
    assert_eq!(results[1]["detail"], "alice-54");
    assert_eq!(results[49]["detail"], "alice-6");
    let second = json_of(
        app.get_with_token("/events?page=2", &key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["next"], Value::Null);
    assert_eq!(second["previous"], json!(app.url("/events")));
    let rest = second["results"].as_array().expect("results");
    assert_eq!(rest.len(), 7);
    assert_eq!(rest[6]["type"], "user_created");
    let ids: Vec<i64> = results
        .iter()
        .chain(rest)
        .map(|event| event["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{ids:?}");
    for event in results.iter().chain(rest) {
        assert_eq!(event["user_id"], alice, "only alice's: {event}");
    }
    assert_detail(
        app.get_with_token("/events?page=3", &key).await,
        StatusCode::NOT_FOUND,
        "Invalid page.",
    )
    .await;
}

#[on_both_backends]
async fn admin_events_filter_by_user_and_type_and_refuse_bad_filters(backend: Backend) {
    let (app, admin, alice, alice_key) =
        TestApp::spawn_with_admin_and_alice_on_web(backend, "").await;
    assert_bad_request(
        app.admin_get("/admin/events?user=alice", &admin).await,
        json!({"user": ["A valid integer is required."]}),
    )
    .await;
    assert_bad_request(
        app.admin_get("/admin/events?type=logged_in", &admin).await,
        json!({"type": ["Select a valid event type."]}),
    )
    .await;
    assert_detail(
        app.admin_get("/admin/events", &alice_key).await,
        StatusCode::FORBIDDEN,
        DENIED,
    )
    .await;
    let everyone = json_of(app.admin_get("/admin/events", &admin).await, StatusCode::OK).await;
    // root: created, logged in; alice: the same.
    assert_eq!(everyone["count"], 4);
    let logins = admin_events(&app, &admin, &format!("user={alice}&type=login")).await;
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0]["user_id"], alice);
    assert_eq!(logins[0]["client"], "web");
    let created = admin_events(&app, &admin, "type=user_created").await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(created.iter().all(|event| event["type"] == "user_created"));
    assert_eq!(created[0]["user_id"], alice, "newest first");
}

/// The `last_ip` of the user's `client` device, as `/tokens` lists it to
/// a request forwarded for `from`.
async fn last_ip(app: &TestApp, key: &str, client: &str, from: &str) -> Value {
    let response = app
        .with_token(Method::GET, "/tokens", key)
        .header("X-Forwarded-For", from)
        .sent()
        .await;
    let devices: Vec<Value> = json_of(response, StatusCode::OK)
        .await
        .as_array()
        .expect("list")
        .clone();
    let device = devices
        .iter()
        .find(|device| device["client"] == client)
        .unwrap_or_else(|| panic!("no {client} in {devices:?}"));
    device["last_ip"].clone()
}

async fn use_from(app: &TestApp, key: &str, address: &str) {
    let response = app
        .with_token(Method::GET, "/whoami", key)
        .header("X-Forwarded-For", address)
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[on_both_backends]
async fn devices_show_the_login_address_then_that_of_the_last_recorded_use(backend: Backend) {
    let behind_proxy = |settings: &mut multitoken::config::Settings| {
        settings.server.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("proxies");
    };
    // The default TOKEN_TOUCH_INTERVAL (60s): a use right after the login
    // writes nothing, so the address stays that of the login.
    let app = TestApp::spawn_with(backend, behind_proxy).await;
    app.create_user("alice", "", false);
    let key = login_with_headers(
        &app,
        "alice",
        PASSWORD,
        "web",
        &[("X-Forwarded-For", "198.51.100.7")],
    )
    .await;
    let devices = app.devices(&key).await;
    assert!(keys_of(&devices[0]).contains(&"last_ip".to_owned()));
    assert_eq!(
        last_ip(&app, &key, "web", "203.0.113.9").await,
        "198.51.100.7"
    );
    let events = app.own_events(&key).await;
    assert_eq!(events[0]["type"], "login");
    assert_eq!(events[0]["ip"], "198.51.100.7", "the forwarded address");
    use_from(&app, &key, "203.0.113.9").await;
    assert_eq!(
        last_ip(&app, &key, "web", "203.0.113.9").await,
        "198.51.100.7"
    );

    // A short interval: the next use after it is written, with its address.
    let app = TestApp::spawn_with(backend, |settings| {
        behind_proxy(settings);
        settings.tokens.token_touch_interval = Duration::from_millis(500);
    })
    .await;
    app.create_user("alice", "", false);
    let key = login_with_headers(
        &app,
        "alice",
        PASSWORD,
        "web",
        &[("X-Forwarded-For", "198.51.100.7")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    use_from(&app, &key, "203.0.113.9").await;
    let deadline = Instant::now() + WAIT;
    let mut seen = last_ip(&app, &key, "web", "203.0.113.9").await;
    while seen != "203.0.113.9" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = last_ip(&app, &key, "web", "203.0.113.9").await;
    }
    assert_eq!(seen, "203.0.113.9");
}

#[on_both_backends]
async fn a_new_device_is_mailed_about_only_when_new_device_mail_is_on(backend: Backend) {
    const SUBJECT: &str = "Subject: New sign-in to your account";
    let MailApp { app, mail_dir } = MailApp::spawn_with(backend, |settings| {
        settings.accounts.new_device_mail = true;
    })
    .await;
    app.create_user("alice", "alice@example.com", false);
    let web = login_with_headers(
        &app,
        "alice",
        PASSWORD,
        "web",
        &[("User-Agent", "browser/9")],
    )
    .await;
    let first = wait_for_mail_files(mail_dir.path(), 1).await;
    let mail = std::fs::read_to_string(&first[0]).expect("read mail");
    assert!(mail.contains(SUBJECT), "{mail}");
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    assert!(mail.contains("Client: web"), "{mail}");
    assert!(!mail.contains(&web), "the key in the mail");
    // The same client again, live or logged out: not a new device.
    app.login("alice", "web").await;
    let web = app.login("alice", "web").await;
    assert_eq!(
        app.post_with_token("/logout", &web).await.status(),
        StatusCode::OK
    );
    app.login("alice", "web").await;
    // A client never seen before: mailed (and it comes after any mail the
    // logins above would have queued).
    app.login("alice", "ios").await;
    let files = wait_for_mail_files(mail_dir.path(), 2).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let files_now = mail_files(mail_dir.path());
    assert_eq!(files_now.len(), 2, "one mail per new client: {files:?}");
    let mails: Vec<String> = files_now
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("read mail"))
        .collect();
    assert!(
        mails
            .iter()
            .any(|mail| mail.contains("Client: ios") && mail.contains(SUBJECT)),
        "{mails:?}"
    );

    // Off (the default): no mail, even for a new client.
    let MailApp {
        app: quiet,
        mail_dir: quiet_dir,
    } = MailApp::spawn(backend).await;
    quiet.create_user("alice", "alice@example.com", false);
    quiet.login("alice", "web").await;
    // A reset mail, to know the outbox has run past the login.
    assert_eq!(
        quiet.request_reset("alice@example.com").await.status(),
        StatusCode::OK
    );
    let quiet_files = wait_for_mail_files(quiet_dir.path(), 1).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let quiet_files_now = mail_files(quiet_dir.path());
    assert_eq!(quiet_files_now.len(), 1, "{quiet_files:?}");
    let only = std::fs::read_to_string(&quiet_files_now[0]).expect("read mail");
    assert!(!only.contains(SUBJECT), "{only}");
}

fn event_details(db: &TestDatabase) -> Vec<Option<String>> {
    let mut conn = multitoken::db::connect_once(&db.database).expect("connect");
    events::table
        .order(events::id)
        .select(events::detail)
        .load(&mut conn)
        .expect("events")
}

#[on_both_backends]
async fn events_older_than_the_retention_are_swept(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.events.events_retention = Duration::from_secs(3600);
        settings.server.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let alice = app.create_user("alice", "", false);
    let mut conn = app.connection();
    let now = Timestamp::now();
    insert_event(
        &mut conn,
        alice,
        "two-hours-ago",
        now.minus(Duration::from_secs(7200)),
    );
    insert_event(
        &mut conn,
        alice,
        "half-an-hour-ago",
        now.minus(Duration::from_secs(1800)),
    );
    let expected = vec![None, Some("half-an-hour-ago".to_owned())];
    let deadline = Instant::now() + WAIT;
    while event_details(&app.db) != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(event_details(&app.db), expected);
}

/// A Django database with one user, `olduser`, and one DRF key.
fn django_source(dir: &std::path::Path) -> String {
    use diesel::connection::SimpleConnection;
    let path = dir.join("django.sqlite3").display().to_string();
    let mut conn = diesel::SqliteConnection::establish(&path).expect("create");
    conn.batch_execute(crate::helpers::django::DJANGO_SCHEMA)
        .expect("schema");
    conn.batch_execute(
        "INSERT INTO auth_user VALUES (1, '!unusable', NULL, 0, 'olduser', '', 'old@example.com', 0, 1, '2021-01-01 00:00:00', '');
         INSERT INTO authtoken_token VALUES ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', '2022-01-01 00:00:00', 1);",
    )
    .expect("rows");
    path
}

#[on_both_backends]
async fn a_django_import_records_imported_users_and_a_dry_run_records_nothing(backend: Backend) {
    let (app, admin) = TestApp::spawn_with_admin_key(backend).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = django_source(dir.path());
    cli_ok(&app, &["import-django", &source, "--dry-run"], "");
    assert_eq!(
        admin_events(&app, &admin, "type=imported").await,
        Vec::<Value>::new()
    );
    cli_ok(&app, &["import-django", &source], "");
    cli_ok(&app, &["import-django", &source, "--update"], "");
    let imported = admin_events(&app, &admin, "type=imported").await;
    let seen = fields(&imported, &["actor", "detail", "ip", "client"]);
    assert_eq!(
        seen,
        [
            [json!("cli"), json!("updated"), Value::Null, Value::Null],
            [json!("cli"), json!("created"), Value::Null, Value::Null],
        ]
    );
    assert_eq!(imported[0]["user_id"], imported[1]["user_id"]);
    // The imported device predates last_ip: null until a use is written.
    let olduser = imported[0]["user_id"].as_i64().expect("id");
    let devices = json_of(
        app.admin_get(&format!("/admin/users/{olduser}/tokens"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    let devices = devices.as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["last_ip"], Value::Null, "{devices:?}");
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn sign_ins_with_a_provider_are_recorded_as_oidc(backend: Backend) {
    use crate::helpers::oidc::{trusting, Provider, CLIENT_ID};
    use multitoken::domain::oidc::LinkByEmail;
    let provider = Provider::start();
    let MailApp { app, mail_dir } = MailApp::spawn_with(backend, |settings| {
        trusting(&provider, LinkByEmail::Verified)(settings);
        settings.accounts.new_device_mail = true;
    })
    .await;
    let admin = app.admin_key().await;
    wait_for_mail_files(mail_dir.path(), 1).await;

    // A new user, made by their first sign-in with the provider.
    let authorized = provider.authorize(CLIENT_ID, "alice", None).await;
    let response = app.login_oidc("corp", authorized.body("web")).await;
    let key = json_of(response, StatusCode::OK).await["auth_token"]
        .as_str()
        .expect("key")
        .to_owned();
    let events = app.own_events(&key).await;
    assert_eq!(
        summary(&events),
        [
            row("user_created", None, Some("oidc:corp")),
            row("login", Some("web"), Some("oidc:corp")),
        ]
    );
    for event in &events {
        assert_eq!(event["actor"], "self", "{event}");
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
    }
    // Their first device is new to them: mailed, like a password login's.
    let files = wait_for_mail_files(mail_dir.path(), 2).await;
    let mails: Vec<String> = files
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("read mail"))
        .collect();
    assert!(
        mails
            .iter()
            .any(|mail| mail.contains("(alice)") && mail.contains("Client: web")),
        "{mails:?}"
    );

    // A token the provider did not issue: a failed sign-in of nobody known.
    let refused = app
        .login_oidc("corp", json!({"client": "web", "id_token": "not-a-token"}))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    // A wrong second factor of a known user (linked by her verified
    // address): a failed sign-in of that user.
    let dora = app.create_user("dora", "carol@example.com", false);
    app.mark_email_verified(dora);
    crate::helpers::two_factor::enable(&app, "dora").await;
    let id_token = provider.id_token(CLIENT_ID, "carol", None).await;
    let wrong_code = app
        .login_oidc(
            "corp",
            json!({"client": "web", "id_token": id_token, "otp": "abcde-fghjk"}),
        )
        .await;
    assert_eq!(wrong_code.status(), StatusCode::BAD_REQUEST);
    let failed = admin_events(&app, &admin, "type=login_failed").await;
    // Newest first: the wrong code on dora's account, then the bad token,
    // which names nobody.
    let seen = fields(&failed, &["user_id", "client", "detail"]);
    assert_eq!(
        seen,
        [
            [json!(dora), Value::Null, json!("oidc")],
            [Value::Null, Value::Null, json!("oidc")],
        ]
    );
}
