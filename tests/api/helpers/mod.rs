//! `TestApp`: the real application on a random port, over a database of its
//! own (a SQLite file in a temp dir, or a PostgreSQL schema that is dropped
//! afterwards), with one method per endpoint.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use multitoken::config::Settings;
use multitoken::db::{self, Database};
use multitoken::domain::{Password, Username};
use multitoken::service::passwords::hash_blocking;
use multitoken::service::users::{self, CreateUser};
use multitoken::startup::Application;
use rand::Rng;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct-horse-battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each listed `async fn name(backend: Backend)` as two tests,
/// `name::sqlite` and `name::postgres`; the latter runs when
/// `TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[actix_web::test]
            async fn postgres() {
                if $crate::helpers::postgres_admin_url().is_some() {
                    super::$name($crate::helpers::Backend::Postgres).await
                } else {
                    eprintln!("TEST_DATABASE_URL is not set: PostgreSQL run skipped");
                }
            }
        }
    )*};
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub database: Database,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(#[allow(dead_code)] TempDir),
    PostgresSchema { admin_url: String, schema: String },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("multitoken.db");
                TestDatabase {
                    database: Database::Sqlite {
                        path: path.to_string_lossy().into_owned(),
                    },
                    cleanup: Cleanup::SqliteDir(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url().expect("TEST_DATABASE_URL");
                let schema = format!("mt_test_{:016x}", rand::thread_rng().gen::<u64>());
                let mut admin =
                    PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
                admin
                    .batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
                TestDatabase {
                    database: Database::Postgres { url },
                    cleanup: Cleanup::PostgresSchema { admin_url, schema },
                }
            }
        }
    }

    pub fn url(&self) -> String {
        match &self.database {
            Database::Sqlite { path } => path.clone(),
            Database::Postgres { url } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::PostgresSchema { admin_url, schema } = &self.cleanup {
            match PgConnection::establish(admin_url) {
                Ok(mut admin) => {
                    if let Err(error) =
                        admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    {
                        eprintln!("could not drop test schema {schema}: {error}");
                    }
                }
                Err(error) => eprintln!("could not drop test schema {schema}: {error}"),
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub http: Client,
    pub db: TestDatabase,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDatabase::create(backend);
        let mut settings = Settings::with_database(db.database.clone());
        configure(&mut settings);
        let application = Application::build(settings).expect("application builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        actix_web::rt::spawn(application.run_until_stopped());
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        TestApp { address, http, db }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn connection(&self) -> db::AnyConnection {
        db::connect_once(&self.db.database).expect("connect to the test database")
    }

    /// Creates a user directly in the database.
    pub fn create_user(&self, name: &str, email: &str, is_admin: bool) -> i64 {
        let username = Username::parse(name).expect("valid username");
        let hash = hash_blocking(&Password::new(PASSWORD.into())).expect("hash");
        let user = users::create(
            &mut self.connection(),
            CreateUser {
                username: &username,
                password_hash: &hash,
                email,
                is_admin,
            },
        )
        .expect("create user");
        user.id
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

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

    pub async fn get_with_token(&self, path: &str, key: &str) -> Response {
        self.http
            .get(self.url(path))
            .header("Authorization", format!("Token {key}"))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_with_token(&self, path: &str, key: &str) -> Response {
        self.http
            .post(self.url(path))
            .header("Authorization", format!("Token {key}"))
            .send()
            .await
            .expect("request")
    }

    pub async fn delete_with_token(&self, path: &str, key: &str) -> Response {
        self.http
            .delete(self.url(path))
            .header("Authorization", format!("Token {key}"))
            .send()
            .await
            .expect("request")
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

    /// Runs the `multitoken` binary on this app's database.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        run_cli(&self.db.url(), args, stdin)
    }
}

pub fn run_cli(database_url: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_multitoken"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run multitoken");
    // A command that fails before reading its input closes the pipe early:
    // its exit status and message are what the test checks, not this write.
    if let Err(error) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "write stdin");
    }
    child.wait_with_output().expect("wait for multitoken")
}

/// Asserts status and the whole JSON body of a response.
pub async fn assert_json(response: Response, status: StatusCode, expected: Value) {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"));
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
