//! Stopping: `SIGTERM` lets the requests in flight finish for
//! `SHUTDOWN_TIMEOUT` at most, even when they wait on password hashes that
//! would run longer (the hashing pool of the third review's issue).

use crate::helpers::django::DJANGO_SCHEMA;
use crate::helpers::on_both_backends;
use crate::helpers::{run_cli, Backend, ServerProcess, TestDatabase};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::Client;
use serde_json::json;
use std::time::Duration;

/// `pbkdf2_sha256` at exactly the bound, 5,000,000 iterations: the slowest
/// PBKDF2 hash that is verified (0.7 s of a core in a release build, far
/// more in a debug one).
const AT_THE_BOUND: &str =
    "pbkdf2_sha256$5000000$boundsalt$DmDoFUsSfeWLy//JweK+LMEgEzwhGYfuWZGQuNQYzt8=";
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// For the process to notice the signal, drop its connections and exit:
/// about 2 s past the timeout measured on a loaded two-core machine.
const MARGIN: Duration = Duration::from_secs(8);

#[on_both_backends]
async fn sigterm_does_not_wait_on_password_hashes_past_the_shutdown_timeout(backend: Backend) {
    let db = TestDatabase::create(backend);
    let env = [
        ("RUST_LOG", "warn,multitoken::startup=info"),
        ("PASSWORD_HASH_THREADS", "1"),
        ("SHUTDOWN_TIMEOUT", "1s"),
        ("LOGIN_THROTTLE", "1000/1s"),
    ];
    let mut server = ServerProcess::start(&db.url(), &env);
    // Imported once the server runs, so that its start does not time it.
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("django.sqlite3").display().to_string();
    SqliteConnection::establish(&source)
        .expect("create")
        .batch_execute(&format!(
            "{DJANGO_SCHEMA}
             INSERT INTO auth_user VALUES (1, '{AT_THE_BOUND}', NULL, 0, 'slow', '', '', 0, 1,
                                           '2021-01-01 00:00:00', '');"
        ))
        .expect("source");
    let imported = run_cli(&db.url(), &["import-django", &source], "");
    assert!(imported.status.success(), "{imported:?}");
    // Thirty wrong passwords queue thirty such hashes on the one hashing
    // thread: 20 s of work even in a release build, and the 30 s default
    // timeout would wait for them.
    let http = Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client");
    let logins: Vec<_> = (0..30)
        .map(|n| {
            let request = http
                .post(server.url("/login"))
                .json(&json!({"username": "slow", "password": "wrong", "client": format!("c{n}")}));
            actix_web::rt::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, status) = server.terminate(Duration::from_secs(60));
    assert!(
        took < SHUTDOWN_TIMEOUT + MARGIN,
        "SIGTERM took {took:?} with hashes running ({status:?}):\n{}",
        server.log()
    );
    assert!(status.is_some_and(|status| status.success()), "{status:?}");
    for login in logins {
        // Cut off by the stop: no answer, or whatever came before it.
        let _ = login.await;
    }
}
