//! `import-django` from a database that Django itself built
//! (`tests/django_source/make_db.py`, run with the `.venv-tests/` Python):
//! users made by `make_password` under every hasher Django ships, DRF,
//! djangorestframework-multitoken and knox tokens, on SQLite and on
//! PostgreSQL as the Django side, each imported into both of ours.

use crate::helpers::{assert_unauthorized, postgres_admin_url, stdout_of, Backend, TestApp};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use multitoken::db::schema::{tokens, users};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Django side's database.
#[derive(Debug, Clone, Copy)]
enum DjangoSide {
    Sqlite,
    Postgres,
}

/// Each test four times: into our SQLite and PostgreSQL, from Django's
/// SQLite and PostgreSQL. All are ignored without the Django project's
/// Python; those with a PostgreSQL side, also without `TEST_DATABASE_URL`.
macro_rules! on_every_pair {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::DjangoSide;
            use $crate::helpers::Backend;
            on_every_pair!(@one $name, sqlite_from_sqlite, Sqlite, Sqlite);
            on_every_pair!(@one $name, postgres_from_sqlite, Postgres, Sqlite, postgres_tests);
            on_every_pair!(@one $name, sqlite_from_postgres, Sqlite, Postgres, postgres_tests);
            on_every_pair!(@one $name, postgres_from_postgres, Postgres, Postgres, postgres_tests);
        }
    )*};
    // One test: `$name` into `$ours` from `$theirs`, needing `$also` too.
    (@one $name:ident, $test:ident, $ours:ident, $theirs:ident $(, $also:ident)?) => {
        #[actix_web::test]
        #[cfg_attr(not(django_tests), ignore = "no Python for the Django project (run .ci/run)")]
        $(#[cfg_attr(all(django_tests, not($also)), ignore = "TEST_DATABASE_URL is not set")])?
        async fn $test() {
            super::$name(Backend::$ours, DjangoSide::$theirs).await
        }
    };
}

on_every_pair!(a_django_project_moves_over_with_its_passwords_and_live_keys);

fn python() -> PathBuf {
    std::env::var_os("RESOURCE_SERVER_PYTHON")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("MULTITOKEN_REPOSITORY")).join(".venv-tests/bin/python"))
}

/// A Django database and what `make_db.py` said of it; a PostgreSQL one
/// is a database of its own, dropped with this.
struct DjangoProject {
    url: String,
    made: Value,
    _dir: tempfile::TempDir,
    drop_database: Option<(String, String)>,
}

impl DjangoProject {
    fn build(side: DjangoSide) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, drop_database) = match side {
            DjangoSide::Sqlite => (dir.path().join("db.sqlite3").display().to_string(), None),
            DjangoSide::Postgres => {
                let admin = postgres_admin_url().expect("TEST_DATABASE_URL");
                let name = format!(
                    "django_source_{}",
                    std::process::id() as u64 * 1000 + rand_suffix()
                );
                let mut conn = PgConnection::establish(&admin).expect("postgres");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                (format!("{base}/{name}"), Some((admin.clone(), name)))
            }
        };
        let script =
            Path::new(env!("MULTITOKEN_REPOSITORY")).join("tests/django_source/make_db.py");
        let output = stdout_of(Command::new(python()).arg(script).arg(&url), "make_db.py");
        let made = serde_json::from_slice(&output).expect("make_db.py prints JSON");
        DjangoProject {
            url,
            made,
            _dir: dir,
            drop_database,
        }
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::from(elapsed.subsec_nanos() % 1000))
}

impl Drop for DjangoProject {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop_database {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

type Snapshot = (
    Vec<(i64, String, String, bool)>,
    Vec<(i64, String, Vec<u8>, i64)>,
);

fn snapshot(app: &TestApp) -> Snapshot {
    let mut conn = app.connection();
    let users = users::table
        .order(users::id)
        .select((
            users::id,
            users::username,
            users::password_hash,
            users::is_admin,
        ))
        .load(&mut conn)
        .expect("users");
    let tokens = tokens::table
        .order(tokens::id)
        .select((
            tokens::user_id,
            tokens::client,
            tokens::digest,
            tokens::expires_at,
        ))
        .load(&mut conn)
        .expect("tokens");
    (users, tokens)
}

fn hash_of(app: &TestApp, username: &str) -> String {
    app.read(
        users::table
            .filter(users::username.eq(username))
            .select(users::password_hash),
    )
}

fn import(app: &TestApp, url: &str, extra: &[&str]) -> String {
    let mut args = vec!["import-django", url];
    args.extend_from_slice(extra);
    let output = app.cli(&args, "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn a_django_project_moves_over_with_its_passwords_and_live_keys(
    backend: Backend,
    side: DjangoSide,
) {
    let project = DjangoProject::build(side);
    let app = TestApp::spawn(backend).await;

    let dry = import(&app, &project.url, &["--dry-run"]);
    assert!(
        dry.starts_with("dry run: nothing was written\nusers: 11 imported"),
        "{dry}"
    );
    let (users_now, tokens_now) = snapshot(&app);
    assert!(
        users_now.is_empty() && tokens_now.is_empty(),
        "--dry-run wrote"
    );

    let report = import(&app, &project.url, &[]);
    for line in [
        "users: 11 imported, 0 skipped, 0 updated\n",
        "password hashes argon2: 1\n",
        "password hashes bcrypt: 1\n",
        "password hashes bcrypt_sha256: 1\n",
        "password hashes pbkdf2_sha1: 1\n",
        "password hashes pbkdf2_sha256: 5\n",
        "password hashes scrypt: 1\n",
        "password hashes unusable: 1\n",
        "tokens from authtoken_token: 1\n",
        // The inactive user's key stays behind (L6 of the third review).
        "not imported: 1 tokens of authtoken_token whose user is inactive\n",
        "tokens from knox_authtoken: 2\n",
        "tokens from rest_framework_multitoken_multitoken: 2\n",
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }

    // Every old key, as the right user and client; the others refused.
    for token in project.made["tokens"].as_array().expect("tokens") {
        let key = token["key"].as_str().expect("key");
        let username = token["username"].as_str().expect("username");
        if token["live"] == Value::Bool(true) {
            let response = app.whoami(key).await;
            assert_eq!(response.status(), StatusCode::OK, "{token}");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["username"], username, "{token}");
            assert_eq!(body["client"], token["client"], "{token}");
        } else {
            // The expired knox key, the revoked multitoken key and the
            // inactive user's DRF key: none was imported.
            assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
        }
    }

    // Every user signs in with their Django password; the hash is ours then.
    for (username, password) in project.made["users"].as_object().expect("users") {
        let Some(password) = password.as_str() else {
            let response = app.post_login(username, "", "web").await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{username}");
            continue;
        };
        if username == "inactive" {
            let response = app.post_login(username, password, "web").await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{username}");
            continue;
        }
        assert!(
            !hash_of(&app, username).starts_with("$argon2"),
            "{username}"
        );
        let key = app.login_as(username, password, "web").await;
        assert_eq!(app.whoami_status(&key).await, StatusCode::OK, "{username}");
        let hash = hash_of(&app, username);
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{username}: {hash}"
        );
    }
    let admins: Vec<String> = users::table
        .filter(users::is_admin.eq(true))
        .select(users::username)
        .load(&mut app.connection())
        .expect("admins");
    assert_eq!(admins, ["root"]);

    let before = snapshot(&app);
    let again = import(&app, &project.url, &[]);
    assert!(
        again.starts_with("users: 0 imported, 11 skipped, 0 updated\n")
            && again.contains("\nskipped: root (exists)\n"),
        "{again}"
    );
    assert_eq!(snapshot(&app), before, "a second import changed something");
}
