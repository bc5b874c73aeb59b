//! No password and no token key in clear in the database, the logs, or any
//! response but the login that issued the key; no `Authorization` header in
//! the logs; and in the security events (`events`), not even a key's
//! digest or whatever was typed as a username. A whole flow runs against
//! the real binary, logging at `trace`.

use crate::helpers::on_both_backends;
use crate::helpers::{run_cli, Backend, Sent, ServerProcess, TestDatabase};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use diesel::{Connection, PgConnection, QueryDsl, QueryableByName, RunQueryDsl, SelectableHelper};
use multitoken::db::events::Event;
use multitoken::db::schema::events;
use multitoken::db::Database;
use multitoken::domain::TokenDigest;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{json, Value};

const ALICE_PASSWORD: &str = "alice-Secret-Passw0rd-4417";
const CAROL_PASSWORD: &str = "carol-Secret-Passw0rd-9923";
const WRONG_PASSWORD: &str = "wrong-Secret-Passw0rd-0001";
const ALICE_NEW_PASSWORD: &str = "alice-Newer-Passw0rd-5508";
/// A password typed into the username field (a mistake users make): the
/// failed login it is goes on record without it.
const TYPED_AS_USERNAME: &str = "typed-Secret-Passw0rd-7731";

/// Every response seen: (body, the key it issued if it was a login).
#[derive(Default)]
struct Transcript {
    bodies: Vec<(String, Option<String>)>,
}

impl Transcript {
    async fn send(&mut self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.sent().await;
        let status = response.status();
        let text = response.text().await.expect("body");
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let issued = body["auth_token"].as_str().map(str::to_owned);
        self.bodies.push((text, issued));
        (status, body)
    }

    async fn login(
        &mut self,
        http: &Client,
        url: &str,
        user: &str,
        password: &str,
        client: &str,
    ) -> String {
        let credentials = json!({"username": user, "password": password, "client": client});
        self.issued_key(http.post(url).json(&credentials)).await
    }

    /// Sends a login that must succeed, and returns the key it issued.
    async fn issued_key(&mut self, request: RequestBuilder) -> String {
        let (status, body) = self.send(request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["auth_token"].as_str().expect("key").to_owned()
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
}

/// The database as bytes: the SQLite files (main, WAL, shared memory), or
/// every row of every table of the test's PostgreSQL schema as text.
fn database_contents(db: &TestDatabase) -> Vec<u8> {
    match &db.database {
        Database::Sqlite { path } => ["", "-wal", "-shm", "-journal"]
            .iter()
            .filter_map(|suffix| std::fs::read(format!("{path}{suffix}")).ok())
            .flatten()
            .collect(),
        Database::Postgres { url } => {
            let mut conn = PgConnection::establish(url).expect("connect");
            let tables: Vec<Table> = diesel::sql_query(
                "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .load(&mut conn)
            .expect("tables");
            assert!(tables.len() >= 3, "the schema's tables are visible");
            let mut contents = Vec::new();
            for table in tables {
                let rows: Vec<Row> = diesel::sql_query(format!(
                    "SELECT CAST(t AS text) AS text FROM \"{}\" t",
                    table.table_name
                ))
                .load(&mut conn)
                .expect("rows");
                for row in rows {
                    contents.extend_from_slice(row.text.as_bytes());
                    contents.push(b'\n');
                }
            }
            contents
        }
    }
}

/// Every row of `events`: its types, and all its text columns (type,
/// client, actor, address, user agent, detail) as one text.
fn events_contents(db: &TestDatabase) -> (Vec<String>, String) {
    let mut conn = multitoken::db::connect_once(&db.database).expect("connect");
    let rows: Vec<Event> = events::table
        .select(Event::as_select())
        .load(&mut conn)
        .expect("events");
    let kinds = rows.iter().map(|row| row.kind.clone()).collect();
    let mut text = String::new();
    for row in rows {
        for column in [
            Some(row.kind),
            row.client,
            Some(row.actor),
            row.ip,
            row.user_agent,
            row.detail,
        ]
        .into_iter()
        .flatten()
        {
            text.push_str(&column);
            text.push('\n');
        }
    }
    (kinds, text)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// An `Authorization: Basic` value.
fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[on_both_backends]
async fn no_secret_is_ever_found_in_clear_in_the_database_logs_or_responses(backend: Backend) {
    let db = TestDatabase::create(backend);
    let mut cli_output = Vec::new();
    for (name, password) in [("alice", ALICE_PASSWORD), ("carol", CAROL_PASSWORD)] {
        let output = run_cli(
            &db.url(),
            &["user", "create", name, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(output.status.success(), "{output:?}");
        cli_output.extend(output.stdout);
        cli_output.extend(output.stderr);
    }
    let server = ServerProcess::start(&db.url(), &[("RUST_LOG", "trace")]);
    let http = Client::new();
    let login_url = server.url("/login");
    let mut transcript = Transcript::default();

    let web = transcript
        .login(&http, &login_url, "alice", ALICE_PASSWORD, "web")
        .await;
    let ios = transcript
        .issued_key(
            http.post(&login_url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!(
                    "username=ALICE&password={ALICE_PASSWORD}&client=ios"
                )),
        )
        .await;
    let carol = transcript
        .issued_key(
            http.post(&login_url)
                .header("Authorization", basic("carol", CAROL_PASSWORD))
                .json(&json!({"client": "cli"})),
        )
        .await;
    for (user, password) in [
        ("alice", WRONG_PASSWORD),
        ("nobody", WRONG_PASSWORD),
        (TYPED_AS_USERNAME, ALICE_PASSWORD),
    ] {
        let (status, _) = transcript
            .send(
                http.post(&login_url)
                    .json(&json!({"username": user, "password": password, "client": "web"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let token = |key: &str| format!("Token {key}");
    let mut steps = vec![(
        "carol with a wrong password in Basic".to_owned(),
        http.post(&login_url)
            .header("Authorization", basic("carol", WRONG_PASSWORD))
            .json(&json!({"client": "cli"})),
        StatusCode::UNAUTHORIZED,
    )];
    let keys = [web.clone(), ios.clone(), carol.clone()];
    for key in &keys {
        for path in ["/whoami", "/tokens"] {
            let request = http
                .get(server.url(path))
                .header("Authorization", token(key));
            steps.push((format!("{path} with a live key"), request, StatusCode::OK));
        }
    }
    let authorized = |path: &str, authorization: String| {
        http.post(server.url(path))
            .header("Authorization", authorization)
    };
    steps.extend([
        (
            "ios logs out".to_owned(),
            authorized("/logout", format!("Bearer {ios}")),
            StatusCode::OK,
        ),
        (
            "ios after its logout".to_owned(),
            http.get(server.url("/whoami"))
                .header("Authorization", token(&ios)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "carol logs out everywhere".to_owned(),
            authorized("/logout/all", token(&carol)),
            StatusCode::OK,
        ),
        (
            "alice logs out her other devices".to_owned(),
            authorized("/logout/others", token(&web)),
            StatusCode::OK,
        ),
        (
            "alice changes her password".to_owned(),
            authorized("/password/change", token(&web))
                .json(&json!({"old_password": ALICE_PASSWORD, "new_password": ALICE_NEW_PASSWORD})),
            StatusCode::OK,
        ),
    ]);
    for (step, request, expected) in steps {
        let (status, _) = transcript.send(request).await;
        assert_eq!(status, expected, "{step}");
    }

    let passwords = [
        ALICE_PASSWORD,
        CAROL_PASSWORD,
        WRONG_PASSWORD,
        ALICE_NEW_PASSWORD,
    ];
    let secrets: Vec<&str> = passwords
        .iter()
        .copied()
        .chain(keys.iter().map(String::as_str))
        .collect();
    let log = server.log();
    assert!(
        log.contains("\"POST /login HTTP/1.1\" 200"),
        "the log was captured:\n{log}"
    );
    let mut logs = log.into_bytes();
    logs.extend(cli_output);
    let lowered = String::from_utf8_lossy(&logs).to_lowercase();
    assert!(
        !lowered.contains("authorization"),
        "an Authorization header in the logs"
    );
    assert!(!lowered.contains("token mt_") && !lowered.contains("bearer mt_"));
    let database = database_contents(&db);
    assert!(!database.is_empty());
    for secret in &secrets {
        assert!(!contains(&logs, secret), "{secret} in the logs");
        assert!(!contains(&database, secret), "{secret} in the database");
        // The key without its prefix, too: no part of it is stored.
        let body = secret.trim_start_matches("mt_");
        assert!(
            !contains(&database, body),
            "{secret} (without prefix) in the database"
        );
    }
    assert!(
        !contains(&database, TYPED_AS_USERNAME),
        "what was typed as a username is in the database"
    );
    let (kinds, events_text) = events_contents(&db);
    for kind in [
        "user_created",
        "login",
        "login_failed",
        "logout",
        "revoked",
        "password_changed",
    ] {
        assert!(
            kinds.iter().any(|seen| seen == kind),
            "a {kind} event was written: {kinds:?}"
        );
    }
    for secret in secrets.iter().copied().chain([TYPED_AS_USERNAME]) {
        assert!(!events_text.contains(secret), "{secret} in the events");
        let body = secret.trim_start_matches("mt_");
        assert!(
            !events_text.contains(body),
            "{secret} (without prefix) in the events"
        );
    }
    for key in &keys {
        let digest = TokenDigest::of(key);
        let hex: String = digest
            .as_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert!(
            !events_text.to_lowercase().contains(&hex),
            "the digest of {key} in the events"
        );
    }
    for (body, issued) in &transcript.bodies {
        for password in passwords {
            assert!(!body.contains(password), "a password in a response: {body}");
        }
        for key in &keys {
            if issued.as_deref() != Some(key.as_str()) {
                assert!(
                    !body.contains(key.as_str()),
                    "a key in another response: {body}"
                );
            }
        }
    }
}
