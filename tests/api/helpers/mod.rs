//! What the HTTP tests share. `TestApp`: the real application on a random
//! port, over a database of its own; its typed client, one method per
//! endpoint, is in `client.rs`. `TestDatabase` (in `database.rs`): a SQLite
//! file in a temp dir, or a PostgreSQL schema dropped afterwards.
//! `ServerProcess` and `run_cli` (in `process.rs`): the real binary as a
//! child. The other files hold what one area's tests share with others
//! (the console's client, the mail files, the OpenID provider, …). Then
//! the assertions that compare whole responses.

mod client;
mod database;
mod process;

pub mod console;
pub mod django;
pub mod dpop;
pub mod issuer;
pub mod mail;
pub mod oidc;
pub mod resource_server;
pub mod two_factor;
pub mod webhooks;

pub use client::Sent;
pub use database::TestDatabase;
pub use process::{
    assert_failed_with, create_user_by_cli, lines_of, multitoken, run_cli, serve_command,
    stdout_of, wait_until_listening, ServerProcess,
};

use multitoken::config::Settings;
use multitoken::db::{self, Database};
use multitoken::domain::event::{Actor, EventSource};
use multitoken::domain::{Password, Username};
use multitoken::service::accounts::users::{self, CreateUser};
use multitoken::service::shared::passwords::hash_blocking;
use multitoken::startup::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::process::Output;

pub const PASSWORD: &str = "correct-horse-battery";

/// Writes a token row straight into the database, created (and last used)
/// a day before `expires_at`: for the states no request can reach, such as
/// a token long expired. Its digest is the client name's, so it matches no
/// key that was ever handed out.
pub fn insert_token_row(
    conn: &mut db::AnyConnection,
    user_id: i64,
    client: &str,
    expires_at: multitoken::domain::Timestamp,
) {
    let created = expires_at.minus(DAY);
    insert_row(conn, user_id, client, client, "password", created);
}

/// Writes a row for `key` straight into the database, as a key issued
/// elsewhere is stored (one of an earlier format, one imported `via`
/// `import`): on `client` of `user_id`, created now and live for a day.
pub fn insert_key_row(
    conn: &mut db::AnyConnection,
    user_id: i64,
    client: &str,
    key: &str,
    via: &str,
) {
    let now = multitoken::domain::Timestamp::now();
    insert_row(conn, user_id, client, key, via, now);
}

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// A token row of `key` on `client` of `user_id`, created (and last used)
/// at `created` and expiring a day later.
fn insert_row(
    conn: &mut db::AnyConnection,
    user_id: i64,
    client: &str,
    key: &str,
    via: &str,
    created: multitoken::domain::Timestamp,
) {
    db::tokens::insert(
        conn,
        &db::tokens::NewToken {
            dpop_jkt: None,
            user_id,
            client,
            digest: multitoken::domain::TokenDigest::of(key).as_bytes(),
            created_at: created.millis(),
            last_used_at: created.millis(),
            expires_at: created.plus(DAY).millis(),
            user_agent: None,
            scopes: "",
            via,
            last_ip: None,
        },
    )
    .expect("insert a token row");
}

/// The time since the Unix epoch, as JWT claims, TOTP steps and the test
/// schemas' names count it.
pub fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
}

/// The contract's `403` detail.
pub const DENIED: &str = "You do not have permission to perform this action.";

/// The headers a `200` of `/auth/verify` may carry the identity in.
pub const IDENTITY_HEADERS: [&str; 8] = [
    "x-auth-request-user",
    "remote-user",
    "x-auth-request-email",
    "remote-email",
    "x-multitoken-user-id",
    "x-multitoken-client",
    "x-multitoken-admin",
    "x-multitoken-scopes",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A throttle as its setting is written: `3/1h`, `1000/1m`.
pub fn throttle(setting: &str) -> multitoken::domain::ThrottleLimit {
    multitoken::domain::ThrottleLimit::parse(setting).expect("a throttle")
}

/// `#[on_both_backends]` on an `async fn name(backend: Backend)` makes it
/// the tests `name::sqlite` and `name::postgres` (see `macros/lib.rs`).
pub use multitoken_test_macros::on_both_backends;

/// `#[in_browser]` (or `#[in_browser(axe)]`) on an `async fn` of the
/// console's browser tests makes it a test, ignored without chromedriver
/// (or axe-core) (see `macros/lib.rs`).
pub use multitoken_test_macros::in_browser;

/// `TEST_DATABASE_URL`, if set and not empty. Tests that need it carry
/// `#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]`.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The keys of a JSON object, sorted; panics on anything but an object.
pub fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("a JSON object, not {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

/// The body of an answer that hands out a secret: `200`, and marked not
/// to be cached.
pub async fn uncached_json(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    response.json().await.expect("json")
}

/// The body of a sign-in's answer (`/login`, `/login/oidc/...`), checked:
/// `200`, not to be cached, a new `mt_` key for `client` with its expiry
/// and the device's proof.
pub async fn signed_in_body(response: Response, client: &str) -> Value {
    let body = uncached_json(response).await;
    assert_eq!(
        keys_of(&body),
        [
            "auth_token",
            "client",
            "device_proof",
            "expires_at",
            "scopes"
        ]
    );
    assert_eq!(body["client"], client);
    let key = body["auth_token"].as_str().expect("key");
    assert!(key.starts_with("mt_") && key.len() == 52, "{key}");
    body
}

/// Settings for the expiry tests: tokens idle out after `ttl`, and each use
/// is written at once (no touch interval), so that it slides the expiry.
pub fn sliding_expiry(ttl: std::time::Duration) -> impl FnOnce(&mut Settings) {
    move |settings| {
        settings.tokens.token_ttl = ttl;
        settings.tokens.token_touch_interval = std::time::Duration::ZERO;
    }
}

/// The fields of a device as its owner sees it (`GET /tokens`), sorted.
pub const DEVICE_FIELDS: [&str; 10] = [
    "client",
    "created_at",
    "current",
    "dpop",
    "expires_at",
    "last_ip",
    "last_used_at",
    "scopes",
    "user_agent",
    "via",
];

/// The fields of a device as an admin sees it: no `current`.
pub fn admin_device_fields() -> Vec<&'static str> {
    DEVICE_FIELDS
        .into_iter()
        .filter(|field| *field != "current")
        .collect()
}

/// The `client` of each device, in order.
pub fn clients_of(devices: &[Value]) -> Vec<&str> {
    devices
        .iter()
        .map(|device| device["client"].as_str().unwrap_or(""))
        .collect()
}

/// The `Content-Type` of a response, if it has a readable one.
pub fn content_type(response: &Response) -> Option<&str> {
    header(response, "content-type")
}

/// A header of a response, if it is there and readable.
pub fn header(response: &Response, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

pub struct TestApp {
    pub address: String,
    pub http: Client,
    pub db: TestDatabase,
}

/// Builds the application on `database` and serves it in the background;
/// returns its base URL.
fn serve(database: Database, configure: impl FnOnce(&mut Settings)) -> String {
    let mut settings = Settings::with_database(database);
    // The whole suite runs with the cache on, and once with TOKEN_CACHE=off.
    if let Ok(cache) = std::env::var("TOKEN_CACHE") {
        settings.token_cache.token_cache = !matches!(cache.trim(), "off" | "false" | "0" | "no");
    }
    configure(&mut settings);
    let application = Application::build(settings).expect("application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());
    address
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDatabase::create(backend);
        let address = serve(db.database.clone(), configure);
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        TestApp { address, http, db }
    }

    /// A fresh app with one user, `alice` (no address, not an admin).
    pub async fn spawn_with_alice(backend: Backend) -> Self {
        let app = Self::spawn(backend).await;
        app.create_user("alice", "", false);
        app
    }

    /// The most common setup: a fresh app where the ordinary user `alice`
    /// is logged in on `web`; returns the app and that key.
    pub async fn spawn_with_alice_on_web(backend: Backend) -> (Self, String) {
        let app = Self::spawn_with_alice(backend).await;
        let key = app.login("alice", "web").await;
        (app, key)
    }

    /// A fresh app with an admin logged in on `web` (see `admin_key`);
    /// returns the app and the admin's key.
    pub async fn spawn_with_admin_key(backend: Backend) -> (Self, String) {
        let app = Self::spawn(backend).await;
        let key = app.admin_key().await;
        (app, key)
    }

    /// A fresh app with an admin's key, and alice (with `email`, not an
    /// admin) logged in on `web`: the app, the admin's key, alice's id and
    /// her key.
    pub async fn spawn_with_admin_and_alice_on_web(
        backend: Backend,
        email: &str,
    ) -> (Self, String, i64, String) {
        let (app, key) = Self::spawn_with_admin_key(backend).await;
        let alice = app.create_user("alice", email, false);
        let web = app.login("alice", "web").await;
        (app, key, alice, web)
    }

    /// Starts another server on this app's database (as a restart, or a
    /// second instance, would) and returns its base URL.
    pub fn spawn_on_same_database(&self, configure: impl FnOnce(&mut Settings)) -> String {
        serve(self.db.database.clone(), configure)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn connection(&self) -> db::AnyConnection {
        db::connect_once(&self.db.database).expect("connect to the test database")
    }

    /// Reads one value (a count, a column of a row) straight from the
    /// database, on a connection of its own.
    pub fn read<'query, T, Q>(&self, query: Q) -> T
    where
        Q: diesel::RunQueryDsl<db::AnyConnection>
            + diesel::query_dsl::LoadQuery<'query, db::AnyConnection, T>,
    {
        query
            .get_result(&mut self.connection())
            .expect("read the test database")
    }

    /// Runs the `multitoken` binary on this app's database.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        run_cli(&self.db.url(), args, stdin)
    }

    /// Creates a user directly in the database.
    pub fn create_user(&self, name: &str, email: &str, is_admin: bool) -> i64 {
        self.create_user_with(name, email, is_admin, false)
    }

    /// Marks the user's own address verified, as a verification link would.
    pub fn mark_email_verified(&self, user: i64) {
        use diesel::prelude::*;
        use multitoken::db::schema::users;
        diesel::update(users::table.find(user))
            .set(users::email_verified.eq(true))
            .execute(&mut self.connection())
            .expect("verified");
    }

    /// Sets `username`'s `is_active` straight in the database, without the
    /// revocation of their devices that the API, the console and the
    /// command line do with it: to see the check of the flag itself.
    pub fn set_active_in_db(&self, username: &str, active: bool) {
        use diesel::prelude::*;
        use multitoken::db::schema::users;
        diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::is_active.eq(active))
            .execute(&mut self.connection())
            .expect("set is_active");
    }

    /// Creates a service user (one that may introspect others' keys).
    pub fn create_service_user(&self, name: &str) -> i64 {
        self.create_user_with(name, "", false, true)
    }

    fn create_user_with(&self, name: &str, email: &str, is_admin: bool, is_service: bool) -> i64 {
        let username = Username::parse(name).expect("valid username");
        let hash = hash_blocking(&Password::new(PASSWORD.into())).expect("hash");
        let user = users::create(
            &mut self.connection(),
            CreateUser {
                username: &username,
                password_hash: &hash,
                email,
                is_admin,
                is_service,
            },
            &EventSource::without_request(Actor::Cli),
        )
        .expect("create user");
        user.id
    }

    /// Creates `count` users named `{prefix}{n:03}` with one shared hash.
    pub fn create_users(&self, prefix: &str, count: usize) {
        let hash = hash_blocking(&Password::new(PASSWORD.into())).expect("hash");
        let mut conn = self.connection();
        for n in 0..count {
            let username = Username::parse(&format!("{prefix}{n:03}")).expect("username");
            users::create(
                &mut conn,
                CreateUser {
                    username: &username,
                    password_hash: &hash,
                    email: "",
                    is_admin: false,
                    is_service: false,
                },
                &EventSource::without_request(Actor::Cli),
            )
            .expect("create user");
        }
    }
}

/// The keys (`auth_token`) that successful sign-ins or rotations answered
/// with; `why` says which, should one have failed.
pub async fn issued_keys(responses: Vec<Response>, why: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK, "{why}");
        let body: Value = response.json().await.expect("json");
        keys.push(body["auth_token"].as_str().expect("key").to_owned());
    }
    keys
}

/// Asserts status and the whole JSON body of a response.
pub async fn assert_json(response: Response, status: StatusCode, expected: Value) {
    assert_json_of("the response", response, status, expected).await
}

/// Asserts a 400 whose JSON body is exactly `errors` (DRF's shape: a list
/// of messages per field, or `non_field_errors`).
pub async fn assert_bad_request(response: Response, errors: Value) {
    assert_json(response, StatusCode::BAD_REQUEST, errors).await
}

/// Asserts a 400 with one message that names no field (DRF's
/// `non_field_errors`).
pub async fn assert_non_field_error(response: Response, message: &str) {
    assert_bad_request(response, json!({ "non_field_errors": [message] })).await
}

/// Asserts `status` with DRF's one-message body, `{"detail": detail}`.
pub async fn assert_detail(response: Response, status: StatusCode, detail: &str) {
    assert_json(response, status, json!({ "detail": detail })).await
}

/// Asserts DRF's 404, `{"detail": "Not found."}`.
pub async fn assert_not_found(response: Response) {
    assert_detail(response, StatusCode::NOT_FOUND, "Not found.").await
}

/// `assert_json` for one case of a table, which `case` names on failure.
pub async fn assert_json_of(case: &str, response: Response, status: StatusCode, expected: Value) {
    assert_eq!(response.status(), status, "{case}");
    assert_eq!(content_type(&response), Some("application/json"), "{case}");
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body, expected, "{case}");
}

/// Asserts a 401 with the given detail and `WWW-Authenticate: Token`.
pub async fn assert_unauthorized(response: Response, detail: &str) {
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Token")
    );
    assert_json(
        response,
        StatusCode::UNAUTHORIZED,
        json!({ "detail": detail }),
    )
    .await;
}
/// Asserts a 429 and returns the announced wait, checking that body and
/// `Retry-After` agree.
pub async fn assert_throttled(response: Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in whole seconds");
    let unit = if retry_after == 1 {
        "second"
    } else {
        "seconds"
    };
    assert_json(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        json!({"detail": format!("Request was throttled. Expected available in {retry_after} {unit}.")}),
    )
    .await;
    retry_after
}
