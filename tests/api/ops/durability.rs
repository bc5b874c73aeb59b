//! Durability: the real binary is SIGKILLed in the middle of a stream of
//! logins and logouts and started again on the same database. Every login
//! that was answered 200 still authenticates; every logout answered 200
//! stays revoked. Requests cut off by the kill may have gone either way and
//! are not judged.

use crate::helpers::on_both_backends;
use crate::helpers::{run_cli, Backend, ServerProcess, TestDatabase, PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Outcomes {
    /// Logged in (200) and not logged out.
    live: Vec<String>,
    /// Logged out (200).
    revoked: Vec<String>,
}

async fn churn(http: Client, base: String, worker: usize, outcomes: Arc<Mutex<Outcomes>>) {
    for round in 0.. {
        let client = format!("w{worker}-{round}");
        let login = http
            .post(format!("{base}/login"))
            .json(&json!({"username": "alice", "password": PASSWORD, "client": client}))
            .send()
            .await;
        let Ok(response) = login else { return };
        if response.status() != StatusCode::OK {
            continue;
        }
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let key = body["auth_token"].as_str().unwrap_or_default().to_owned();
        if round % 2 == 0 {
            outcomes.lock().expect("outcomes").live.push(key);
            continue;
        }
        let logout = http
            .post(format!("{base}/logout"))
            .header("Authorization", format!("Token {key}"))
            .send()
            .await;
        match logout {
            Ok(response) if response.status() == StatusCode::OK => {
                outcomes.lock().expect("outcomes").revoked.push(key)
            }
            // Not answered: the logout may or may not have happened.
            _ => return,
        }
    }
}

#[on_both_backends]
async fn answered_logins_and_logouts_survive_a_sigkill(backend: Backend) {
    let db = TestDatabase::create(backend);
    let created = run_cli(
        &db.url(),
        &["user", "create", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(created.status.success(), "{created:?}");
    let env = [
        ("RUST_LOG", "warn,multitoken::startup=info"),
        ("MAX_CLIENTS_PER_USER", "100000"),
        ("LOGIN_THROTTLE", "1000000/1s"),
    ];
    let mut server = ServerProcess::start(&db.url(), &env);
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            actix_web::rt::spawn(churn(
                http.clone(),
                server.address.clone(),
                worker,
                outcomes.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill();
    for worker in workers {
        worker.await.expect("worker");
    }

    let restarted = ServerProcess::start(&db.url(), &env);
    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    assert!(
        outcomes.live.len() >= 2 && outcomes.revoked.len() >= 2,
        "the run was too short to mean anything: {} live, {} revoked",
        outcomes.live.len(),
        outcomes.revoked.len()
    );
    eprintln!(
        "after SIGKILL: checking {} live and {} revoked tokens",
        outcomes.live.len(),
        outcomes.revoked.len()
    );
    let check = Client::new();
    for (keys, expected) in [
        (&outcomes.live, StatusCode::OK),
        (&outcomes.revoked, StatusCode::UNAUTHORIZED),
    ] {
        for key in keys {
            let status = check
                .get(restarted.url("/whoami"))
                .header("Authorization", format!("Token {key}"))
                .send()
                .await
                .expect("whoami")
                .status();
            assert_eq!(status, expected);
        }
    }
}
