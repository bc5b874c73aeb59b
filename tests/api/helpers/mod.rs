//! What the HTTP tests share. `TestApp`: the real application on a random
//! port, over a database of its own, with one method per endpoint (every
//! `TestApp` method is in this file). `TestDatabase` (in `database.rs`): a
//! SQLite file in a temp dir, or a PostgreSQL schema dropped afterwards.
//! `ServerProcess` and `run_cli` (in `process.rs`): the real binary as a
//! child. Then the assertions that compare whole responses.

mod database;
mod process;

pub mod console;
pub mod django;
pub mod mail;
pub mod oidc;
pub mod resource_server;
pub mod two_factor;

pub use database::TestDatabase;
pub use process::{create_user_by_cli, multitoken, run_cli, ServerProcess};

use mail::{mail_files, wait_for_mail_files, ResetLink};
use multitoken::config::Settings;
use multitoken::db::{self, Database};
use multitoken::domain::event::{Actor, EventSource};
use multitoken::domain::{Password, Username};
use multitoken::service::passwords::hash_blocking;
use multitoken::service::users::{self, CreateUser};
use multitoken::startup::Application;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
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
    let created = expires_at.minus(std::time::Duration::from_secs(86_400));
    db::tokens::insert(
        conn,
        &db::tokens::NewToken {
            user_id,
            client,
            digest: multitoken::domain::TokenDigest::of(client).as_bytes(),
            created_at: created.millis(),
            last_used_at: created.millis(),
            expires_at: expires_at.millis(),
            user_agent: None,
            scopes: "",
            via: "password",
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

/// Declares each listed `async fn name(backend: Backend)` as two tests,
/// `name::sqlite` and `name::postgres`. The PostgreSQL twin is built as an
/// ignored test unless `TEST_DATABASE_URL` was set when `cargo test` built
/// it (`build.rs` then sets `cfg(postgres_tests)`), so that a run without a
/// database reports it as ignored, never as passed.
///
/// `on_both_backends!(needs smtp_tests, "why"; name, ...)` declares tests
/// that also need what `build.rs` found for that cfg (a proxy, Python, the
/// OpenID provider, ...): both twins are ignored with `why` without it.
#[macro_export]
macro_rules! on_both_backends {
    (needs $tool:ident, $why:literal; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            #[cfg_attr(not($tool), ignore = $why)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[actix_web::test]
            #[cfg_attr(not($tool), ignore = $why)]
            #[cfg_attr(all($tool, not(postgres_tests)), ignore = "TEST_DATABASE_URL is not set")]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[actix_web::test]
            #[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

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

/// The `Content-Type` of a response, if it has a readable one.
pub fn content_type(response: &Response) -> Option<&str> {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
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
        settings.token_cache = !matches!(cache.trim(), "off" | "false" | "0" | "no");
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

    /// Runs the `multitoken` binary on this app's database.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        run_cli(&self.db.url(), args, stdin)
    }

    /// Creates a user directly in the database.
    pub fn create_user(&self, name: &str, email: &str, is_admin: bool) -> i64 {
        self.create_user_with(name, email, is_admin, false)
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

    /// The one request builder for authenticated calls:
    /// `Authorization: Token <key>`.
    pub fn with_token(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("Token {key}"))
    }

    /// `GET path`, asserting a 200 with exactly this content type.
    pub async fn get_expecting(&self, path: &str, expected_type: &str) -> Response {
        let response = self.http.get(self.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), Some(expected_type));
        response
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_with_token(&self, path: &str, key: &str) -> Response {
        self.with_token(Method::GET, path, key)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_with_token(&self, path: &str, key: &str) -> Response {
        self.with_token(Method::POST, path, key)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete_with_token(&self, path: &str, key: &str) -> Response {
        self.with_token(Method::DELETE, path, key)
            .send()
            .await
            .expect("request")
    }

    // Sessions and devices.

    pub async fn post_login(&self, username: &str, password: &str, client: &str) -> Response {
        self.post_json(
            "/login",
            json!({"username": username, "password": password, "client": client}),
        )
        .await
    }

    /// Logs in with the default password and returns the key.
    pub async fn login(&self, username: &str, client: &str) -> String {
        self.login_as(username, PASSWORD, client).await
    }

    /// Logs in and returns the key; panics unless the login succeeds.
    pub async fn login_as(&self, username: &str, password: &str, client: &str) -> String {
        let response = self.post_login(username, password, client).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} as {client}"
        );
        let body: Value = response.json().await.expect("json");
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    /// Logs in with the default password and a two-factor code (as client
    /// `web`) and returns the key; panics unless the login succeeds.
    pub async fn login_as_with_otp(&self, username: &str, otp: &str) -> String {
        let response = self
            .post_json(
                "/login",
                json!({"username": username, "password": PASSWORD, "client": "web", "otp": otp}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} with a code"
        );
        let body: Value = response.json().await.expect("json");
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    /// Logs in with scopes (a JSON list or string) and returns the whole
    /// response body; panics unless the login succeeds.
    pub async fn login_body_with_scopes(
        &self,
        username: &str,
        client: &str,
        scopes: Value,
    ) -> Value {
        let response = self
            .post_json(
                "/login",
                json!({"username": username, "password": PASSWORD, "client": client, "scopes": scopes}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} as {client}"
        );
        response.json().await.expect("json")
    }

    /// Logs in with scopes and returns the key.
    pub async fn login_with_scopes(&self, username: &str, client: &str, scopes: Value) -> String {
        let body = self.login_body_with_scopes(username, client, scopes).await;
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    // JWT access tokens.

    /// `POST /token` with the default password; panics unless it succeeds.
    /// Returns `(refresh, access)`.
    pub async fn obtain_jwt(&self, username: &str, client: &str) -> (String, String) {
        let response = self
            .post_json(
                "/token",
                json!({"username": username, "password": PASSWORD, "client": client}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "/token of {username} as {client}"
        );
        let body: Value = response.json().await.expect("json");
        let field = |name: &str| body[name].as_str().expect(name).to_owned();
        (field("refresh"), field("access"))
    }

    /// `Authorization: Bearer <token>`, as access JWTs are sent.
    pub fn with_bearer(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {token}"))
    }

    /// `POST /login/oidc/{provider}` with a JSON body.
    pub async fn login_oidc(&self, provider: &str, body: Value) -> Response {
        self.post_json(&format!("/login/oidc/{provider}"), body)
            .await
    }

    pub async fn whoami(&self, key: &str) -> Response {
        self.get_with_token("/whoami", key).await
    }

    pub async fn whoami_status(&self, key: &str) -> StatusCode {
        self.whoami(key).await.status()
    }

    pub async fn devices(&self, key: &str) -> Vec<Value> {
        let response = self.get_with_token("/tokens", key).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Vec<Value>>().await.expect("json list")
    }

    // Accounts: registration, password change and reset.

    pub async fn register(&self, body: Value) -> Response {
        self.post_json("/register", body).await
    }

    pub async fn change_password(&self, key: &str, old: &str, new: &str) -> Response {
        self.with_token(Method::POST, "/password/change", key)
            .json(&json!({"old_password": old, "new_password": new}))
            .send()
            .await
            .expect("request")
    }

    pub async fn request_reset(&self, email: &str) -> Response {
        self.post_json("/password/reset", json!({ "email": email }))
            .await
    }

    pub async fn confirm_reset(&self, uid: &str, token: &str, new_password: &str) -> Response {
        self.post_json(
            "/password/reset/confirm",
            json!({"uid": uid, "token": token, "new_password": new_password}),
        )
        .await
    }

    /// Requests a reset and returns the link of the mail that follows, as
    /// written by the `file:` backend in `mail_dir`.
    pub async fn reset_link_by_file(&self, email: &str, mail_dir: &Path) -> ResetLink {
        let before = mail_files(mail_dir).len();
        assert_eq!(self.request_reset(email).await.status(), StatusCode::OK);
        let files = wait_for_mail_files(mail_dir, before + 1).await;
        let last = files.last().expect("a mail file");
        ResetLink::in_mail(&std::fs::read_to_string(last).expect("read mail"))
    }

    // E-mail verification.

    pub async fn verify_email(&self, key: &str) -> Response {
        self.post_json("/register/verify-email", json!({ "key": key }))
            .await
    }

    pub async fn resend_email(&self, email: &str) -> Response {
        self.post_json("/register/resend-email", json!({ "email": email }))
            .await
    }

    // The admin API.

    /// Creates an admin, logs in as `web`, and returns the key.
    pub async fn admin_key(&self) -> String {
        self.create_user("root", "root@example.com", true);
        self.login("root", "web").await
    }

    pub async fn admin_request(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.with_token(method, path, key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    pub async fn admin_get(&self, path: &str, key: &str) -> Response {
        self.admin_request(Method::GET, path, key, None).await
    }

    pub async fn admin_patch(&self, id: i64, key: &str, body: Value) -> Response {
        self.admin_request(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            key,
            Some(body),
        )
        .await
    }

    // Operations.

    /// The metrics text, after checking its status and content type.
    pub async fn scrape(&self) -> String {
        self.get_expecting("/metrics", "text/plain; version=0.0.4")
            .await
            .text()
            .await
            .expect("text")
    }
}

/// Asserts status and the whole JSON body of a response.
pub async fn assert_json(response: Response, status: StatusCode, expected: Value) {
    assert_eq!(response.status(), status);
    assert_eq!(content_type(&response), Some("application/json"));
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body, expected);
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
