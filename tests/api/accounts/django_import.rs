//! `import-django`: a Django project's users and live tokens, imported by
//! the CLI from a database Django's schema, then used over HTTP.
//!
//! The source here is built with SQL in Django's table layout (so that it
//! runs anywhere); `django_project.rs` builds one through Django itself.

use crate::helpers::django::{over_the_bounds, BCRYPT_TAIL, DJANGO_SCHEMA, KEY32, KEY64};
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{assert_failed_with, assert_unauthorized, Backend, TestApp};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use multitoken::db::schema::{tokens, users};
use reqwest::StatusCode;
use serde_json::Value;
use std::process::Output;

/// `make_password("correct horse é", hasher="pbkdf2_sha256")` at 20,000 rounds.
const PBKDF2: &str = "pbkdf2_sha256$20000$oldsalt1234$xQq5vaRSoCEFh+tbSU3sG1FPtqhIviWTPJorq7ZquSg=";
const PASSWORD: &str = "correct horse é";
const DRF_KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
const MULTI_OLD: &str = "1111111111111111111111111111111111111111";
const MULTI_NEW: &str = "2222222222222222222222222222222222222222";
const MULTI_INACTIVE: &str = "3333333333333333333333333333333333333333";
const KNOX_KEY: &str = "1c2a5e4b0f8d7c6a3e9b1d2f4a6c8e0b1c2a5e4b0f8d7c6a3e9b1d2f4a6c8e0b";
const KNOX_DIGEST: &str = "a55ac94b339f65e6fc78cf1cb64c3b058af487a0e6f41e9cd886875af27aef61d11558643e8e55eb19ca2b0e4b08db01aa9492bca16beeb24c65a1755870f5a0";
/// Keys of the inactive Django user `gone`.
const GONE_DRF: &str = "5555555555555555555555555555555555555555";
const GONE_MULTI: &str = "6666666666666666666666666666666666666666";
struct Source {
    _dir: tempfile::TempDir,
    path: String,
}

fn source() -> Source {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("django.sqlite3").display().to_string();
    let mut conn = SqliteConnection::establish(&path).expect("create");
    conn.batch_execute(DJANGO_SCHEMA).expect("schema");
    conn.batch_execute(&format!(
        r#"
INSERT INTO auth_user VALUES (1, '{PBKDF2}', '2024-05-06 07:08:09.500000', 1, 'Root', '', 'root@example.com', 1, 1, '2020-01-02 03:04:05.000000', '');
INSERT INTO auth_user VALUES (2, '{PBKDF2}', NULL, 0, 'staff', '', '', 1, 1, '2021-01-01 00:00:00', '');
INSERT INTO auth_user VALUES (3, 'md5$salt$0123456789abcdef0123456789abcdef', NULL, 0, 'old', '', '', 0, 1, '2021-01-01 00:00:00', '');
INSERT INTO auth_user VALUES (4, '!unusableunusable', NULL, 0, 'nopass', '', '', 0, 1, '2021-01-01 00:00:00', '');
INSERT INTO auth_user VALUES (5, '{PBKDF2}', NULL, 0, 'gone', '', '', 0, 0, '2021-01-01 00:00:00', '');
INSERT INTO auth_user VALUES (6, '{PBKDF2}', NULL, 0, 'bad name', '', '', 0, 1, '2021-01-01 00:00:00', '');
INSERT INTO authtoken_token VALUES ('{DRF_KEY}', '2022-01-01 00:00:00', 1);
INSERT INTO authtoken_token VALUES ('4444444444444444444444444444444444444444', '2022-01-01 00:00:00', 6);
INSERT INTO authtoken_token VALUES ('{GONE_DRF}', '2022-01-01 00:00:00', 5);
INSERT INTO rest_framework_multitoken_multitoken VALUES ('{GONE_MULTI}', 1, '2023-01-01 00:00:00', 5);
INSERT INTO rest_framework_multitoken_multitoken VALUES ('{MULTI_NEW}', 1, '2023-06-01 00:00:00', 2);
INSERT INTO rest_framework_multitoken_multitoken VALUES ('{MULTI_OLD}', 1, '2023-01-01 00:00:00', 2);
INSERT INTO rest_framework_multitoken_multitoken VALUES ('{MULTI_INACTIVE}', 0, '2022-01-01 00:00:00', 2);
INSERT INTO knox_authtoken VALUES ('{KNOX_DIGEST}', '2024-01-01 00:00:00', 1, '2999-01-01 00:00:00', '1c2a5e4b0f8d7c6');
INSERT INTO knox_authtoken VALUES ('{}', '2024-01-01 00:00:00', 1, '2001-01-01 00:00:00', 'expiredexpired1');
"#,
        "e".repeat(128)
    ))
    .expect("rows");
    Source { _dir: dir, path }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn import(app: &TestApp, source: &str, extra: &[&str]) -> Output {
    let mut args = vec!["import-django", source];
    args.extend_from_slice(extra);
    let output = app.cli(&args, "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    output
}

const FIRST_REPORT: &str = "\
users: 5 imported, 0 skipped, 0 updated
password hashes pbkdf2_sha256: 3
password hashes unsupported (now unusable): 1
password hashes unusable: 1
tokens from authtoken_token: 1
tokens from knox_authtoken: 1
tokens from rest_framework_multitoken_multitoken: 2
not imported: 1 tokens of authtoken_token whose user is inactive
not imported: 1 tokens of authtoken_token whose user was not imported
not imported: 1 tokens of rest_framework_multitoken_multitoken whose user is inactive
not imported: 1 users whose username multitoken does not accept
";

async fn client_of(app: &TestApp, key: &str) -> (String, String) {
    let response = app.whoami(key).await;
    assert_eq!(response.status(), StatusCode::OK, "{key}");
    let body: Value = response.json().await.expect("json");
    (
        body["username"].as_str().unwrap_or_default().to_owned(),
        body["client"].as_str().unwrap_or_default().to_owned(),
    )
}

#[on_both_backends]
async fn users_hashes_and_tokens_are_imported_and_work_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = source();
    let output = import(&app, &source.path, &[]);
    assert_eq!(stdout(&output), FIRST_REPORT);
    // Standard error is a pipe here, not a terminal: no progress bar.
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let mut conn = app.connection();
    let rows: Vec<(String, String, bool, bool, i64, Option<i64>)> = users::table
        .order(users::id)
        .select((
            users::username,
            users::email,
            users::is_active,
            users::is_admin,
            users::created_at,
            users::last_login_at,
        ))
        .load(&mut conn)
        .expect("users");
    assert_eq!(
        rows[0],
        (
            "Root".into(),
            "root@example.com".into(),
            true,
            true,
            1_577_934_245_000,
            Some(1_714_979_289_500)
        )
    );
    let flags: Vec<(&str, bool, bool)> = rows
        .iter()
        .map(|row| (row.0.as_str(), row.2, row.3))
        .collect();
    assert_eq!(
        flags,
        [
            ("Root", true, true),
            ("staff", true, false),
            ("old", true, false),
            ("nopass", true, false),
            ("gone", false, false),
        ]
    );
    for (key, user, client) in [
        (DRF_KEY, "Root", "drf"),
        (KNOX_KEY, "Root", "knox-1"),
        (MULTI_OLD, "staff", "multitoken-1"),
        (MULTI_NEW, "staff", "multitoken-2"),
    ] {
        assert_eq!(client_of(&app, key).await, (user.into(), client.into()));
    }
    assert_unauthorized(app.whoami(MULTI_INACTIVE).await, "Invalid token.").await;
    let key = app.login_as("root", PASSWORD, "web").await;
    assert_eq!(app.whoami_status(&key).await, StatusCode::OK);
    // The devices show which ones came from Django.
    let mut via: Vec<(String, String)> = app
        .devices(&key)
        .await
        .iter()
        .map(|device| {
            let field = |name: &str| device[name].as_str().unwrap_or_default().to_owned();
            (field("client"), field("via"))
        })
        .collect();
    via.sort();
    assert_eq!(
        via,
        [
            ("drf".to_owned(), "import".to_owned()),
            ("knox-1".to_owned(), "import".to_owned()),
            ("web".to_owned(), "password".to_owned()),
        ]
    );
    for refused in ["old", "nopass", "gone"] {
        let response = app.post_login(refused, PASSWORD, "web").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{refused}");
    }
    // No key of an inactive Django user was imported (L6 of the third
    // review): none comes back when the user is made active here.
    app.set_active_in_db("gone", true);
    for key in [GONE_DRF, GONE_MULTI] {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
    // No key, and no knox digest, in clear anywhere in the token table.
    let stored: Vec<Vec<u8>> = tokens::table
        .select(tokens::digest)
        .load(&mut conn)
        .expect("digests");
    for digest in stored {
        assert_eq!(digest.len(), 32);
    }
}

#[on_both_backends]
async fn a_second_import_changes_nothing_and_update_refreshes_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = source();
    import(&app, &source.path, &[]);
    let snapshot = |app: &TestApp| {
        let mut conn = app.connection();
        let users: Vec<(i64, String, String)> = users::table
            .order(users::id)
            .select((users::id, users::username, users::password_hash))
            .load(&mut conn)
            .expect("users");
        let tokens: Vec<(i64, String, Vec<u8>)> = tokens::table
            .order(tokens::id)
            .select((tokens::user_id, tokens::client, tokens::digest))
            .load(&mut conn)
            .expect("tokens");
        (users, tokens)
    };
    let before = snapshot(&app);
    let again = import(&app, &source.path, &[]);
    assert!(stdout(&again).starts_with("users: 0 imported, 5 skipped, 0 updated\n"));
    // Each skipped user named, by the name Django has.
    assert!(
        stdout(&again).ends_with(
            "skipped: Root (exists)\nskipped: staff (exists)\nskipped: old (exists)\n\
             skipped: nopass (exists)\nskipped: gone (exists)\n"
        ),
        "{}",
        stdout(&again)
    );
    assert_eq!(snapshot(&app), before);
    let mut conn = SqliteConnection::establish(&source.path).expect("source");
    conn.batch_execute("UPDATE auth_user SET email = 'new@example.com' WHERE id = 2")
        .expect("change");
    let updated = import(&app, &source.path, &["--update"]);
    assert!(stdout(&updated).starts_with("users: 0 imported, 0 skipped, 5 updated\n"));
    let email: String = app.read(
        users::table
            .filter(users::username.eq("staff"))
            .select(users::email),
    );
    assert_eq!(email, "new@example.com");
    assert_eq!(snapshot(&app), before, "no user or token duplicated");
}

#[on_both_backends]
async fn a_dry_run_reports_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = source();
    let output = import(&app, &source.path, &["--dry-run"]);
    assert_eq!(
        stdout(&output),
        format!("dry run: nothing was written\n{FIRST_REPORT}")
    );
    let mut conn = app.connection();
    let counted: i64 = users::table.count().get_result(&mut conn).expect("users");
    let tokens: i64 = tokens::table.count().get_result(&mut conn).expect("tokens");
    assert_eq!((counted, tokens), (0, 0));
    assert_unauthorized(app.whoami(DRF_KEY).await, "Invalid token.").await;
}

#[on_both_backends]
async fn admins_and_the_drf_client_follow_the_options(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = source();
    import(
        &app,
        &source.path,
        &["--admins", "staff", "--drf-client", "legacy-web"],
    );
    let admins: Vec<String> = users::table
        .filter(users::is_admin.eq(true))
        .order(users::id)
        .select(users::username)
        .load(&mut app.connection())
        .expect("admins");
    assert_eq!(admins, ["Root", "staff"]);
    assert_eq!(
        client_of(&app, DRF_KEY).await,
        ("Root".into(), "legacy-web".into())
    );

    let app = TestApp::spawn(backend).await;
    import(&app, &source.path, &["--admins", "none"]);
    let admins: i64 = app.read(users::table.filter(users::is_admin.eq(true)).count());
    assert_eq!(admins, 0);
}

#[on_both_backends]
async fn a_database_that_is_not_djangos_or_cannot_be_read_fails_with_exit_1(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other.sqlite3").display().to_string();
    SqliteConnection::establish(&other)
        .expect("create")
        .batch_execute("CREATE TABLE things (id INTEGER)")
        .expect("table");
    let missing = dir.path().join("missing.sqlite3").display().to_string();
    for (url, message) in [
        (
            other.as_str(),
            "not a Django database: it has no auth_user table",
        ),
        (missing.as_str(), "cannot read the Django database"),
        (
            "postgres://nobody@127.0.0.1:1/none",
            "cannot read the Django database",
        ),
    ] {
        assert_failed_with(&app.cli(&["import-django", url], ""), message);
    }
    assert!(
        !std::path::Path::new(&missing).exists(),
        "no file is created"
    );
}

#[on_both_backends]
async fn an_update_that_deactivates_a_user_takes_their_tokens_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = source();
    import(&app, &source.path, &[]);
    assert_eq!(client_of(&app, MULTI_OLD).await.0, "staff");
    SqliteConnection::establish(&source.path)
        .expect("source")
        .batch_execute("UPDATE auth_user SET is_active = 0 WHERE id = 2")
        .expect("deactivate");
    let updated = import(&app, &source.path, &["--update"]);
    assert!(
        stdout(&updated).contains(
            "not imported: 3 tokens of rest_framework_multitoken_multitoken whose user is inactive\n"
        ),
        "{}",
        stdout(&updated)
    );
    // As a deactivation here does: the tokens are gone, not just asleep.
    app.set_active_in_db("staff", true);
    for key in [MULTI_OLD, MULTI_NEW] {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
}

#[on_both_backends]
async fn hashes_over_the_bounds_are_imported_unusable_counted_by_reason_and_fail_fast(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("100/15m");
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("django.sqlite3").display().to_string();
    let mut conn = SqliteConnection::establish(&path).expect("create");
    conn.batch_execute(DJANGO_SCHEMA).expect("schema");
    let at_bounds = [
        (
            "pb_bound",
            format!("pbkdf2_sha256$5000000$saltsalt${KEY32}"),
        ),
        ("bc_bound", format!("bcrypt$$2b$16${BCRYPT_TAIL}")),
        (
            "ar_bound",
            "argon2$argon2id$v=19$m=262144,t=10,p=16$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA".into(),
        ),
        ("sc_bound", format!("scrypt$262144$saltsalt$8$16${KEY64}")),
    ];
    let over = over_the_bounds();
    for (id, (username, hash)) in over.iter().chain(at_bounds.iter()).enumerate() {
        diesel::sql_query(
            "INSERT INTO auth_user VALUES (?, ?, NULL, 0, ?, '', '', 0, 1, '2021-01-01 00:00:00', '')",
        )
        .bind::<diesel::sql_types::BigInt, _>(id as i64 + 1)
        .bind::<diesel::sql_types::Text, _>(hash)
        .bind::<diesel::sql_types::Text, _>(username)
        .execute(&mut conn)
        .expect("user");
    }
    let output = import(&app, &path, &[]);
    assert_eq!(
        stdout(&output),
        "\
users: 16 imported, 0 skipped, 0 updated
password hashes argon2: 1
password hashes argon2 lanes over 16 (now unusable): 1
password hashes argon2 memory over 256 MiB (now unusable): 2
password hashes argon2 time over 10 (now unusable): 1
password hashes bcrypt: 1
password hashes bcrypt cost over 16 (now unusable): 2
password hashes pbkdf2 over 5,000,000 iterations (now unusable): 2
password hashes pbkdf2_sha256: 1
password hashes scrypt: 1
password hashes scrypt memory over 256 MiB (now unusable): 2
password hashes scrypt p over 16 (now unusable): 2
"
    );
    let stored: Vec<(String, String)> = users::table
        .order(users::id)
        .select((users::username, users::password_hash))
        .load(&mut app.connection())
        .expect("users");
    for (username, hash) in &stored {
        match at_bounds.iter().find(|(name, _)| name == username) {
            Some((_, kept)) => assert_eq!(hash, kept, "{username}: kept as Django wrote it"),
            None => assert!(hash.starts_with('!'), "{username}: {hash}"),
        }
    }
    // A login names them: each fails as a wrong password does, at once,
    // and the server is still there to let a user in afterwards.
    for (username, _) in &over {
        let started = std::time::Instant::now();
        let response = app.post_login(username, "anything", "web").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{username}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{username}: {:?}",
            started.elapsed()
        );
    }
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
}
