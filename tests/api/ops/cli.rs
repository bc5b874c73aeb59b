//! The operations commands, run as the real binary against the same
//! database as a running server.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_failed_with, assert_unauthorized, multitoken, run_cli, Backend, TestApp, PASSWORD,
};
use reqwest::StatusCode;
use std::process::Output;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[on_both_backends]
async fn users_are_created_and_listed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.cli(
        &[
            "user",
            "create",
            "Alice",
            "--email",
            "alice@example.com",
            "--admin",
            "--password-stdin",
        ],
        "long-enough-pw\n",
    );
    assert!(created.status.success(), "{created:?}");
    assert!(
        stdout(&created).starts_with("created user Alice (id "),
        "{}",
        stdout(&created)
    );
    let plain = app.cli(
        &["user", "create", "bob", "--password-stdin"],
        "another-password\r\n",
    );
    assert!(plain.status.success(), "{plain:?}");
    let list = stdout(&app.cli(&["user", "list"], ""));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].contains("Alice\talice@example.com\tactive\tadmin\tlast login never"),
        "{list}"
    );
    assert!(lines[1].contains("bob\t-\tactive\tuser"), "{list}");
    // The password is the first line only, without its line ending.
    assert_eq!(
        app.login_status("bob", "another-password", "web").await,
        StatusCode::OK
    );
    assert_eq!(
        app.login_status("alice", "long-enough-pw", "web").await,
        StatusCode::OK
    );
}

#[on_both_backends]
async fn bad_users_and_passwords_are_refused_with_exit_1(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    let taken = app.cli(
        &["user", "create", "ALICE", "--password-stdin"],
        "long-enough-pw\n",
    );
    assert_failed_with(&taken, "A user with that username already exists.");
    let weak = app.cli(&["user", "create", "carol", "--password-stdin"], "1234\n");
    assert_failed_with(
        &weak,
        "This password is too short. It must contain at least 8 characters.",
    );
    assert_failed_with(&weak, "This password is entirely numeric.");
    let bad_name = app.cli(
        &["user", "create", "a b", "--password-stdin"],
        "long-enough-pw\n",
    );
    assert_failed_with(&bad_name, "username refused");
    let bad_email = app.cli(
        &[
            "user",
            "create",
            "dave",
            "--email",
            "nope",
            "--password-stdin",
        ],
        "long-enough-pw\n",
    );
    assert_failed_with(&bad_email, "Enter a valid email address.");
    let list = stdout(&app.cli(&["user", "list"], ""));
    assert_eq!(list.lines().count(), 1, "nothing was created: {list}");
}

#[on_both_backends]
async fn a_revoke_from_the_cli_is_seen_by_the_running_server(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    let output = app.cli(&["tokens", "revoke", "alice", "ios"], "");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output).trim(), "revoked ios of alice");
    assert_unauthorized(app.whoami(&ios).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
}

#[on_both_backends]
async fn revoking_an_unknown_client_or_user_fails_cleanly(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    assert_failed_with(
        &app.cli(&["tokens", "revoke", "alice", "tv"], ""),
        "alice has no client \"tv\"",
    );
    assert_failed_with(
        &app.cli(&["tokens", "revoke-all", "nobody"], ""),
        "no user named \"nobody\"",
    );
    assert_failed_with(
        &app.cli(&["user", "deactivate", "nobody"], ""),
        "no user named \"nobody\"",
    );
}

#[on_both_backends]
async fn revoke_all_set_password_and_deactivate_revoke_every_token(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    for (command, stdin) in [
        (vec!["tokens", "revoke-all", "alice"], ""),
        (
            vec!["user", "set-password", "alice", "--password-stdin"],
            "brand-new-password\n",
        ),
    ] {
        let keys = [
            app.login("alice", "web").await,
            app.login("alice", "ios").await,
        ];
        let output = app.cli(&command, stdin);
        assert!(output.status.success(), "{output:?}");
        assert!(
            stdout(&output).contains("2 token(s)"),
            "{}",
            stdout(&output)
        );
        for key in &keys {
            assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
        }
    }
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );
    let web = app.login_as("alice", "brand-new-password", "web").await;
    let output = app.cli(&["user", "deactivate", "alice"], "");
    assert!(output.status.success(), "{output:?}");
    assert_unauthorized(app.whoami(&web).await, "Invalid token.").await;
    assert_eq!(
        app.login_status("alice", "brand-new-password", "web").await,
        StatusCode::BAD_REQUEST
    );
}

#[on_both_backends]
async fn tokens_are_listed_one_line_per_device(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    app.login("alice", "web").await;
    app.login("alice", "ios").await;
    let output = app.cli(&["tokens", "list", "alice"], "");
    assert!(output.status.success(), "{output:?}");
    let listing = stdout(&output);
    let clients: Vec<&str> = listing
        .lines()
        .map(|line| line.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(clients, ["ios", "web"]);
    assert!(listing.lines().all(|line| line.contains("\tcreated 20")
        && line.contains("\tlast used 20")
        && line.contains("\texpires 20")));
}

#[test]
fn bad_settings_and_unopenable_databases_exit_1_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir.path().join("x.db").to_string_lossy().into_owned();
    let mut command = multitoken();
    let output = command
        .args(["migrate"])
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("TOKEN_TTL", "forever")
        .output()
        .expect("run");
    assert_failed_with(&output, "TOKEN_TTL");
    let output = run_cli("/nonexistent-dir/sub/x.db", &["migrate"], "");
    assert_failed_with(&output, "cannot open the database (SQLite at /nonexistent-dir/sub/x.db): Unable to open the database file");
    let output = run_cli(&url, &["migrate"], "");
    assert!(output.status.success(), "{output:?}");
    // However many migrations there are by now, all of them, at once.
    assert!(
        stdout(&output).contains("applied ") && !stdout(&output).contains("applied 0 "),
        "{}",
        stdout(&output)
    );
    let again = run_cli(&url, &["migrate"], "");
    assert!(
        stdout(&again).contains("applied 0 migration(s)"),
        "{}",
        stdout(&again)
    );
}

#[actix_web::test]
async fn healthcheck_exits_0_against_a_live_server_and_1_otherwise() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bind = app.address.trim_start_matches("http://").to_owned();
    let run = |bind: String| {
        multitoken()
            .args(["healthcheck", "--bind", &bind])
            .env_clear()
            .output()
            .expect("run healthcheck")
    };
    let live = actix_web::rt::task::spawn_blocking(move || run(bind))
        .await
        .expect("join");
    assert!(live.status.success(), "{live:?}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let unused = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let dead = actix_web::rt::task::spawn_blocking(move || run(unused))
        .await
        .expect("join");
    assert_failed_with(&dead, "health check of");
}

/// On SQLite too: a command run while the server starts on a new file
/// (the README's walk-through) once failed on "table already exists".
#[on_both_backends]
async fn instances_starting_together_migrate_once_without_failing(backend: Backend) {
    let db = crate::helpers::TestDatabase::create(backend);
    let url = db.url();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || run_cli(&url, &["migrate"], ""))
        })
        .collect();
    let outputs: Vec<Output> = runs
        .into_iter()
        .map(|run| run.join().expect("join"))
        .collect();
    for output in &outputs {
        assert!(output.status.success(), "{output:?}");
    }
    let migrated = outputs
        .iter()
        .filter(|output| !stdout(output).contains("applied 0 migration(s)"))
        .count();
    assert_eq!(migrated, 1, "exactly one instance applies the migrations");
}

#[on_both_backends]
async fn settings_that_serve_would_refuse_fail_every_command(backend: Backend) {
    let app = TestApp::spawn_with_alice(backend).await;
    for (flags, variable) in [
        (
            &["--token-touch-interval", "14d"][..],
            "TOKEN_TOUCH_INTERVAL",
        ),
        (&["--token-ttl", "0s"][..], "TOKEN_TTL"),
        (&["--token-max-age", "0s"][..], "TOKEN_MAX_AGE"),
        (
            &["--password-reset-timeout", "0s"][..],
            "PASSWORD_RESET_TIMEOUT",
        ),
        (&["--secret-key", "short"][..], "SECRET_KEY"),
    ] {
        for command in [
            &["migrate"][..],
            &["user", "list"][..],
            &["user", "deactivate", "alice"][..],
            &["tokens", "list", "alice"][..],
            &["tokens", "prune"][..],
            &["healthcheck"][..],
        ] {
            let args: Vec<&str> = command.iter().chain(flags).copied().collect();
            assert_failed_with(&app.cli(&args, ""), variable);
        }
    }
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::OK,
        "the deactivation never ran"
    );
}
