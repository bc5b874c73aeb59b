//! `BOOTSTRAP_ADMIN`: the first admin, created at start when there is no
//! active admin; nothing done when there is one; a refused password or
//! contradictory settings stop the start, as the real binary shows.

use crate::helpers::on_both_backends;
use crate::helpers::{run_cli, serve_command, Backend, ServerProcess, TestApp, TestDatabase};
use multitoken::config::Settings;
use multitoken::domain::{Password, Username};
use reqwest::StatusCode;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const ROOT_PASSWORD: &str = "first-Admin-Lantern-7";
const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";

fn bootstrap(settings: &mut Settings, name: &str, password: &str) {
    settings.bootstrap.bootstrap_admin = Some(Username::parse(name).expect("username"));
    settings.bootstrap.bootstrap_admin_password = Some(Password::new(password.to_owned()));
}

/// Whether `username` (signing in with `password`) may use the admin API.
async fn is_admin(app: &TestApp, username: &str, password: &str) -> bool {
    let key = app.login_as(username, password, "web").await;
    app.admin_get("/admin/users", &key).await.status() == StatusCode::OK
}

fn user_lines(database_url: &str) -> Vec<String> {
    let listed = run_cli(database_url, &["user", "list"], "");
    assert!(listed.status.success(), "{listed:?}");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `multitoken serve` with `env`, which must fail at start: its output,
/// once it has exited (killed and failed if it serves instead).
fn failed_start(database_url: &str, env: &[(&str, &str)]) -> Output {
    let mut child = serve_command(database_url, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run multitoken serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[on_both_backends]
async fn the_admin_is_created_at_start_when_there_is_none_and_left_alone_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        bootstrap(settings, "root", ROOT_PASSWORD)
    })
    .await;
    assert!(is_admin(&app, "root", ROOT_PASSWORD).await);
    // A restart with another password changes nothing: an admin exists.
    let restarted = app
        .spawn_on_same_database(|settings| bootstrap(settings, "root", "second-Admin-Lantern-8"));
    let http = reqwest::Client::new();
    let login = |password: &str| {
        http.post(format!("{restarted}/login"))
            .json(&serde_json::json!({"username": "root", "password": password, "client": "cli"}))
            .send()
    };
    assert_eq!(
        login("second-Admin-Lantern-8")
            .await
            .expect("login")
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        login(ROOT_PASSWORD).await.expect("login").status(),
        StatusCode::OK
    );
    // Nor does another name: one admin only, the first.
    app.spawn_on_same_database(|settings| bootstrap(settings, "other", ROOT_PASSWORD));
    let users = user_lines(&app.db.url());
    assert_eq!(users.len(), 1, "{users:?}");
    assert!(users[0].contains("\troot\t-\tactive\tadmin\t"), "{users:?}");
}

#[on_both_backends]
async fn an_existing_active_admin_means_nothing_is_done_and_one_line_says_so(backend: Backend) {
    let db = TestDatabase::create(backend);
    crate::helpers::create_user_by_cli(&db.url(), "alice", "alice@example.com");
    let promoted = run_cli(
        &db.url(),
        &["user", "create", "boss", "--admin", "--password-stdin"],
        &format!("{ROOT_PASSWORD}\n"),
    );
    assert!(promoted.status.success(), "{promoted:?}");
    let mut server = ServerProcess::start(
        &db.url(),
        &[
            ("BOOTSTRAP_ADMIN", "root"),
            ("BOOTSTRAP_ADMIN_PASSWORD", ROOT_PASSWORD),
        ],
    );
    let line = server.wait_for_log("BOOTSTRAP_ADMIN: an active admin exists, nothing to do");
    assert!(line.contains("INFO"), "{line}");
    drop(server);
    let users = user_lines(&db.url());
    assert_eq!(users.len(), 2, "{users:?}");
}

#[on_both_backends]
async fn the_password_may_come_from_a_file(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("admin-password");
    std::fs::write(&file, format!("{ROOT_PASSWORD}\n")).expect("write");
    let app = TestApp::spawn_with(backend, |settings| {
        settings.bootstrap.bootstrap_admin = Some(Username::parse("root").expect("username"));
        settings.bootstrap.bootstrap_admin_password_file = Some(file.clone());
    })
    .await;
    assert!(is_admin(&app, "root", ROOT_PASSWORD).await);
}

#[on_both_backends]
async fn a_refused_password_stops_the_start_without_showing_it(backend: Backend) {
    let db = TestDatabase::create(backend);
    let weak = failed_start(
        &db.url(),
        &[
            ("BOOTSTRAP_ADMIN", "root"),
            ("BOOTSTRAP_ADMIN_PASSWORD", "9876543"),
        ],
    );
    let message = stderr(&weak);
    assert!(
        message.contains("BOOTSTRAP_ADMIN_PASSWORD refused: "),
        "{message}"
    );
    assert!(message.contains(TOO_SHORT), "{message}");
    assert!(
        message.contains("This password is entirely numeric."),
        "{message}"
    );
    assert!(
        !message.contains("9876543"),
        "never the password: {message}"
    );
    assert!(user_lines(&db.url()).is_empty(), "nobody was created");
}

#[on_both_backends]
async fn contradictory_or_incomplete_settings_stop_the_start(backend: Backend) {
    let db = TestDatabase::create(backend);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("admin-password");
    std::fs::write(&file, format!("{ROOT_PASSWORD}\n")).expect("write");
    let file = file.to_string_lossy().into_owned();
    let missing = dir.path().join("missing").to_string_lossy().into_owned();
    for (env, expected) in [
        (
            &[
                ("BOOTSTRAP_ADMIN", "root"),
                ("BOOTSTRAP_ADMIN_PASSWORD", ROOT_PASSWORD),
                ("BOOTSTRAP_ADMIN_PASSWORD_FILE", file.as_str()),
            ][..],
            "BOOTSTRAP_ADMIN_PASSWORD and BOOTSTRAP_ADMIN_PASSWORD_FILE are both set",
        ),
        (
            &[("BOOTSTRAP_ADMIN", "root")][..],
            "BOOTSTRAP_ADMIN is set without BOOTSTRAP_ADMIN_PASSWORD",
        ),
        (
            &[("BOOTSTRAP_ADMIN_PASSWORD", ROOT_PASSWORD)][..],
            "is set without BOOTSTRAP_ADMIN",
        ),
        (
            &[
                ("BOOTSTRAP_ADMIN", "root"),
                ("BOOTSTRAP_ADMIN_PASSWORD_FILE", missing.as_str()),
            ][..],
            "BOOTSTRAP_ADMIN_PASSWORD_FILE: cannot read",
        ),
        (
            &[
                ("BOOTSTRAP_ADMIN", "a b"),
                ("BOOTSTRAP_ADMIN_PASSWORD", ROOT_PASSWORD),
            ][..],
            "BOOTSTRAP_ADMIN: ",
        ),
    ] {
        let output = failed_start(&db.url(), env);
        let message = stderr(&output);
        assert!(message.contains(expected), "{env:?}: {message}");
        assert!(
            !message.contains(ROOT_PASSWORD),
            "never the password: {message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }
}

#[on_both_backends]
async fn a_name_taken_by_someone_who_is_not_an_active_admin_stops_the_start(backend: Backend) {
    let db = TestDatabase::create(backend);
    crate::helpers::create_user_by_cli(&db.url(), "root", "root@example.com");
    let output = failed_start(
        &db.url(),
        &[
            ("BOOTSTRAP_ADMIN", "Root"),
            ("BOOTSTRAP_ADMIN_PASSWORD", ROOT_PASSWORD),
        ],
    );
    let message = stderr(&output);
    assert!(
        message.contains("a user named root exists but is not an active admin"),
        "{message}"
    );
    let users = user_lines(&db.url());
    assert!(
        users[0].contains("\troot\troot@example.com\tactive\tuser\t"),
        "{users:?}"
    );
}
