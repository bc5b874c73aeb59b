//! The first minutes of a new user with the real binary: what `serve` says
//! when it cannot start (one `error: …` line, and nothing written before a
//! port in use is found), a `RUST_LOG` with a typo, a PostgreSQL that goes
//! away and comes back (one line each way, with the real cause), and what
//! `/metrics` tells about the process, the version, the pool and the outboxes.

use super::faults::{upstream, DbProxy};
use super::metrics::value;
use crate::helpers::on_both_backends;
use crate::helpers::{
    create_user_by_cli, multitoken, Backend, Sent, ServerProcess, TestApp, TestDatabase, PASSWORD,
};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use multitoken::db::schema::{mail_outbox, webhook_outbox};
use multitoken::db::Database;
use reqwest::{StatusCode, Url};
use serde_json::json;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// `multitoken serve` with only `env`, to its end.
fn serve(env: &[(&str, &str)]) -> Output {
    multitoken()
        .arg("serve")
        .env_clear()
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run multitoken serve")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Whether anything was written to the test's database: the SQLite file
/// exists, or the PostgreSQL schema holds a table.
fn database_touched(database: &TestDatabase) -> bool {
    match &database.database {
        Database::Sqlite { path } => std::path::Path::new(path).exists(),
        Database::Postgres { url } => {
            let mut conn = PgConnection::establish(url).expect("connect");
            let tables: Count = diesel::sql_query(
                "SELECT count(*) AS count FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .get_result(&mut conn)
            .expect("count the tables");
            tables.count > 0
        }
    }
}

#[on_both_backends]
async fn a_port_in_use_is_one_error_line_before_the_database_is_touched(backend: Backend) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("take a port");
    let address = taken.local_addr().expect("address");
    let database = TestDatabase::create(backend);
    assert!(!database_touched(&database), "a fresh database");

    let output = serve(&[
        ("DATABASE_URL", &database.url()),
        ("MULTITOKEN_BIND", &address.to_string()),
    ]);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    // The whole of standard error: no log line came before it, so nothing
    // was migrated and no key generated.
    assert_eq!(
        stderr(&output),
        format!("error: cannot listen on {address}: Address already in use (os error 98)\n")
    );
    assert!(
        !database_touched(&database),
        "the database was created or migrated before the port was found taken"
    );
}

/// A refusal at start: what it is, the variables that cause it, and how its
/// line begins.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// Each refusal at start is one line, `error: ` and what is wrong, whatever
/// part it comes from: the settings, the database, the port.
#[test]
fn every_error_at_start_is_one_line_in_one_style() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = dir.path().join("multitoken.db").display().to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("take a port");
    let taken = taken.local_addr().expect("address").to_string();
    let cases: [Refusal; 5] = [
        (
            "a setting's value",
            vec![("DATABASE_URL", &sqlite), ("TOKEN_TTL", "abc")],
            "error: invalid value 'abc' for '--token-ttl <TOKEN_TTL>': TOKEN_TTL: invalid duration \"abc\": expected a number and a unit, like 90s, 15m, 12h or 14d",
        ),
        (
            "settings that contradict each other",
            vec![("DATABASE_URL", &sqlite), ("TOKEN_TTL", "30s")],
            "error: TOKEN_TOUCH_INTERVAL (60s) must be shorter than TOKEN_TTL (30s), or busy tokens would expire while in use",
        ),
        (
            "a database that cannot be opened",
            vec![("DATABASE_URL", "/nonexistent-folder/multitoken.db")],
            "error: cannot open the database (SQLite at /nonexistent-folder/multitoken.db): Unable to open the database file: the folder /nonexistent-folder does not exist",
        ),
        (
            "a port in use",
            vec![("DATABASE_URL", &sqlite), ("MULTITOKEN_BIND", &taken)],
            "error: cannot listen on ",
        ),
        (
            "no SECRET_KEY on a public address",
            vec![("DATABASE_URL", &sqlite), ("MULTITOKEN_BIND", "0.0.0.0:0")],
            "error: SECRET_KEY must be set when MULTITOKEN_BIND (0.0.0.0:0) is not a loopback address",
        ),
    ];
    for (case, env, start) in cases {
        let output = serve(&env);
        assert_eq!(output.status.code(), Some(1), "{case}: {output:?}");
        let text = stderr(&output);
        let errors: Vec<&str> = text.lines().filter(|line| !line.starts_with('[')).collect();
        assert_eq!(
            errors.len(),
            1,
            "{case}: one line that is not a log line in {text:?}"
        );
        assert!(errors[0].starts_with(start), "{case}: {text:?}");
        assert!(!text.contains("multitoken: "), "{case}: {text:?}");
    }
}

#[on_both_backends]
async fn a_rust_log_with_a_typo_is_one_warning_and_logging_at_info(backend: Backend) {
    let database = TestDatabase::create(backend);
    for typo in ["infoo", "warning", "!!!", "info,actix_web=loud"] {
        // `start` waits for the `serving on` line, which is logged at info.
        let server = ServerProcess::start(&database.url(), &[("RUST_LOG", typo)]);
        let log = server.log();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("RUST_LOG"))
            .collect();
        assert_eq!(warnings.len(), 1, "{typo}: {log}");
        assert!(
            warnings[0].contains(" WARN ")
                && warnings[0].contains(&format!("RUST_LOG={typo:?} is not a log filter"))
                && warnings[0].ends_with("logging at info instead"),
            "{typo}: {log}"
        );
    }
    let server = ServerProcess::start(&database.url(), &[("RUST_LOG", "warn,multitoken=info")]);
    assert!(!server.log().contains("RUST_LOG"), "{}", server.log());
}

/// The log lines after `from` (a length of the log seen earlier), without
/// their timestamps, of level WARN or ERROR.
fn warnings_since(log: &str, from: usize) -> Vec<String> {
    log[from..]
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .map(|line| {
            line.split_once(' ')
                .map_or(line, |(_, rest)| rest)
                .to_owned()
        })
        .collect()
}

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_postgresql_outage_is_one_line_with_its_cause_and_one_when_it_is_back() {
    let database = TestDatabase::create(Backend::Postgres);
    let proxy = DbProxy::start(upstream());
    let mut url = Url::parse(&database.url()).expect("a URL");
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.port)).expect("port");
    let url = url.to_string();
    create_user_by_cli(&url, "alice", "alice@example.com");
    let mut server = ServerProcess::start(&url, &[]);
    let http = reqwest::Client::new();
    let login = http
        .post(server.url("/login"))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "web"}))
        .sent()
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let key = login.json::<serde_json::Value>().await.expect("JSON")["auth_token"]
        .as_str()
        .expect("a key")
        .to_owned();
    // The device list: its key may be checked from the token cache, but
    // the list is read from the database.
    let devices_url = server.url("/tokens");
    let devices = || {
        http.get(&devices_url)
            .header("Authorization", format!("Token {key}"))
            .sent()
    };
    assert_eq!(devices().await.status(), StatusCode::OK);

    let before = server.log().len();
    proxy.cut();
    // Six seconds of requests, mail worker polls and listener retries:
    // each used to log a line or more.
    for _ in 0..3 {
        let response = devices().await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(crate::helpers::header(&response, "retry-after"), Some("1"));
    }
    let log = server.log();
    let during = warnings_since(&log, before);
    let outage: Vec<&String> = during
        .iter()
        .filter(|line| line.contains("database unreachable"))
        .collect();
    assert_eq!(
        outage.len(),
        1,
        "one line for the outage in:\n{}",
        &log[before..]
    );
    // libpq's own words, which name the address that failed.
    assert!(
        outage[0].contains(&format!("port {} failed: ", proxy.port)),
        "the real cause in {outage:?}"
    );
    assert!(!log.contains("Invalid connection url"), "{log}");
    let mut distinct = during.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        during.len(),
        "a line repeated in:\n{}",
        &log[before..]
    );
    // Besides the outage: the token cache's own loss (checks go to the
    // database meanwhile), and at most one request that was using a
    // connection as it broke. Nothing per request, per retry or per poll.
    let others: Vec<&String> = during
        .iter()
        .filter(|line| {
            !line.contains("database unreachable")
                && !line.contains("token cache off")
                && !line.contains("answering unavailable")
        })
        .collect();
    assert_eq!(others, Vec::<&String>::new());
    let answers = during
        .iter()
        .filter(|line| line.contains("answering unavailable"))
        .count();
    assert!(answers <= 1, "{during:#?}");

    let cut_off = server.log().len();
    proxy.restore();
    let restored = Instant::now();
    while devices().await.status() != StatusCode::OK {
        assert!(
            restored.elapsed() < Duration::from_secs(10),
            "not back {:?} after the database",
            restored.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = server.wait_for_log("database reachable again");
    assert!(back.contains(" WARN "), "{back}");
    let log = server.log();
    let after: Vec<String> = warnings_since(&log, cut_off);
    assert_eq!(
        after
            .iter()
            .filter(|line| line.contains("database reachable again"))
            .count(),
        1,
        "{after:#?}"
    );
    assert!(
        !after
            .iter()
            .any(|line| line.contains("database unreachable")),
        "{after:#?}"
    );
}

/// What the two outboxes hold, by the gauges: (mail, webhooks).
fn outboxes_pending(text: &str) -> (f64, f64) {
    (
        value(text, "multitoken_outbox_pending{table=\"mail\"}"),
        value(text, "multitoken_outbox_pending{table=\"webhooks\"}"),
    )
}

#[on_both_backends]
async fn the_metrics_tell_the_version_the_process_the_pool_and_the_outboxes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let text = app.scrape().await;
    assert_eq!(
        value(&text, "multitoken_build_info{version=\"0.2.0\"}"),
        1.0
    );
    let started = value(&text, "process_start_time_seconds");
    let now = crate::helpers::unix_now().as_secs_f64();
    assert!(started > now - 3600.0 && started <= now, "{started} {now}");
    assert!(value(&text, "process_resident_memory_bytes") > 1e6);
    assert!(value(&text, "process_open_fds") > 0.0);
    let idle = value(&text, "multitoken_db_pool_connections{state=\"idle\"}");
    let in_use = value(&text, "multitoken_db_pool_connections{state=\"in_use\"}");
    // The pool keeps one connection open at least, and opens 10 at most.
    assert!(
        idle >= 0.0 && in_use >= 0.0 && (1.0..=10.0).contains(&(idle + in_use)),
        "{idle} {in_use}"
    );
    assert_eq!(outboxes_pending(&text), (0.0, 0.0));

    // Rows due in an hour, which no worker takes meanwhile.
    let later = (crate::helpers::unix_now() + Duration::from_secs(3600)).as_millis() as i64;
    let mut conn = app.connection();
    for _ in 0..3 {
        diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::kind.eq("password_reset"),
                mail_outbox::sealed.eq(vec![0u8; 16]),
                mail_outbox::created_at.eq(later),
                mail_outbox::next_attempt_at.eq(later),
            ))
            .execute(&mut conn)
            .expect("queue a mail");
    }
    diesel::insert_into(webhook_outbox::table)
        .values((
            webhook_outbox::event_id.eq(1_i64),
            webhook_outbox::receiver.eq("0".repeat(64)),
            webhook_outbox::body.eq("{}"),
            webhook_outbox::created_at.eq(later),
            webhook_outbox::next_attempt_at.eq(later),
        ))
        .execute(&mut conn)
        .expect("queue a delivery");
    let text = app.scrape().await;
    assert_eq!(outboxes_pending(&text), (3.0, 1.0));
}
