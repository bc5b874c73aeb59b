//! Security events pushed to other services as Standard Webhooks: each
//! event to each URL, signed so that the PyPI and npm `standardwebhooks`
//! libraries verify it, retried with the same `webhook-id` until
//! `WEBHOOK_MAX_AGE`, filtered by `WEBHOOK_EVENTS`, kept across a SIGKILL,
//! sent once by two instances; bad settings stop the start.

use crate::helpers::mail::closed_port;
use crate::helpers::on_both_backends;
use crate::helpers::webhooks::{Received, Receiver};
use crate::helpers::{
    create_user_by_cli, multitoken, serve_command, stdout_of, Backend, ServerProcess, TestApp,
    TestDatabase,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use multitoken::config::Settings;
use multitoken::domain::webhook::{WebhookEvents, WebhookSecret, WebhookUrls};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Webhooks to `urls`, signed with [`SECRET`], retried after 200 ms.
fn webhooks_to(urls: &[&str]) -> impl FnOnce(&mut Settings) {
    let urls = urls.join(",");
    move |settings| {
        let hooks = &mut settings.webhooks;
        hooks.webhook_urls = Some(WebhookUrls::parse(&urls).expect("urls"));
        hooks.webhook_secret = Some(WebhookSecret::parse(SECRET).expect("secret"));
        hooks.webhook_retry_base = Duration::from_millis(200);
    }
}

/// The signature of a message, computed here as the spec says (not by the
/// service's code).
fn expected_signature(id: &str, timestamp: &str, body: &str) -> String {
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks one delivery's method, headers and signature; returns its body.
fn checked(message: &Received) -> Value {
    let body = message.json();
    assert_eq!(message.path, "/hook");
    assert_eq!(message.header("content-type"), "application/json");
    let id = message.header("webhook-id");
    assert_eq!(id, format!("msg_{}", body["data"]["id"]), "{message:?}");
    let timestamp = message.header("webhook-timestamp");
    let sent: i64 = timestamp.parse().expect("Unix seconds");
    let now = chrono::Utc::now().timestamp();
    assert!((now - sent).abs() < 60, "sent now, not at {sent}");
    assert_eq!(
        message.header("webhook-signature"),
        expected_signature(id, timestamp, &message.body)
    );
    assert_eq!(body["type"], body["data"]["type"]);
    assert_eq!(body["timestamp"], body["data"]["at"]);
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
    body
}

fn jwt_sid(access: &str) -> String {
    let payload = access.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json");
    claims["sid"].as_str().expect("sid").to_owned()
}

/// Alice signs in on `web` and (for a JWT) on `cli`, signs out of `web`,
/// signs in on `phone`; returns what each of two receivers got (4 each,
/// oldest first), her events as `GET /events` lists them (newest first),
/// and the `sid` of her JWT.
async fn alice_comes_and_goes(
    backend: Backend,
) -> (Vec<Received>, Vec<Received>, Vec<Value>, String) {
    let (first, second) = (Receiver::start(), Receiver::start());
    let app = TestApp::spawn_with(backend, webhooks_to(&[&first.url, &second.url])).await;
    app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let (_, access) = app.obtain_jwt("alice", "cli").await;
    let response = app.post_with_token("/logout", &web).await;
    assert!(response.status().is_success(), "{}", response.status());
    let phone = app.login("alice", "phone").await;
    let mut got = first.wait_for(4).await;
    let mut also = second.wait_for(4).await;
    for received in [&mut got, &mut also] {
        received.sort_by_key(|message| message.json()["data"]["id"].as_i64());
    }
    let events = app.own_events(&phone).await;
    assert_eq!(counted(&app, "delivered", 8).await, 8);
    (got, also, events, jwt_sid(&access))
}

#[on_both_backends]
async fn each_event_is_posted_to_each_url_signed_with_its_sid(backend: Backend) {
    let (got, also, events, sid) = alice_comes_and_goes(backend).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    let bodies: Vec<Value> = got.iter().map(checked).collect();
    let others: Vec<Value> = also.iter().map(checked).collect();
    assert_eq!(bodies, others, "the same events to both URLs");
    let kinds: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["type"].as_str().unwrap_or_default(),
                b["data"]["client"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("login", "web"),
            ("login", "cli"),
            ("logout", "web"),
            ("login", "phone")
        ]
    );
    // The data is the event as GET /events lists it, sid included.
    let mut listed: Vec<Value> = events
        .into_iter()
        .filter(|e| e["type"] != "user_created")
        .collect();
    listed.reverse();
    let data: Vec<Value> = bodies.iter().map(|b| b["data"].clone()).collect();
    assert_eq!(data, listed);
    // The sid: the JWT's for its device, one per device, the same at logout.
    let sids: Vec<&str> = data
        .iter()
        .map(|d| d["sid"].as_str().expect("a sid"))
        .collect();
    assert_eq!(sids[1], sid, "the cli device's sid is its JWT's");
    assert_eq!(sids[0], sids[2], "login and logout of web");
    assert!(sids[0] != sids[1] && sids[0] != sids[3] && sids[1] != sids[3]);
}

/// Runs a verifier of `tests/webhooks_client/` on the messages; returns
/// the payloads it verified.
fn verified_by(program: &Path, script: &str, messages: &[Received]) -> Vec<Value> {
    let input: Vec<Value> = messages
        .iter()
        .map(|m| json!({"headers": m.headers, "body": m.body}))
        .collect();
    let script = Path::new(env!("MULTITOKEN_REPOSITORY"))
        .join("tests/webhooks_client")
        .join(script);
    let mut child = Command::new(program)
        .arg(&script)
        .env("WEBHOOK_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the verifier");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::from(input).to_string().as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("verifier");
    assert!(output.status.success(), "{script:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect()
}

/// The same messages, one byte of each body changed.
fn tampered(messages: &[Received]) -> Vec<Received> {
    messages
        .iter()
        .map(|m| Received {
            body: m.body.replacen("\"login", "\"logout", 1),
            ..m.clone()
        })
        .collect()
}

fn refused_by(program: &Path, script: &str, messages: &[Received]) -> bool {
    let outcome = std::panic::catch_unwind(|| verified_by(program, script, messages));
    outcome.is_err()
}

#[on_both_backends(needs webhook_python_tests, "standardwebhooks is not in .venv-tests (pip install -r tests/resource_server/requirements.txt, or run .ci/run)")]
async fn pypi_standardwebhooks_verifies_the_deliveries(backend: Backend) {
    let (got, _, _, _) = alice_comes_and_goes(backend).await;
    let python = Path::new(env!("MULTITOKEN_REPOSITORY")).join(".venv-tests/bin/python");
    let payloads = verified_by(&python, "verify.py", &got);
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    assert_eq!(payloads, bodies);
    assert!(refused_by(&python, "verify.py", &tampered(&got)));
}

#[on_both_backends(needs webhook_node_tests, "tests/webhooks_client is not installed (npm ci there, or run .ci/run)")]
async fn npm_standardwebhooks_verifies_the_deliveries(backend: Backend) {
    let (got, _, _, _) = alice_comes_and_goes(backend).await;
    let node = Path::new("node");
    let payloads = verified_by(node, "verify.mjs", &got);
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    assert_eq!(payloads, bodies);
    assert!(refused_by(node, "verify.mjs", &tampered(&got)));
}

async fn metric(app: &TestApp, result: &str) -> u64 {
    let metrics = app.scrape().await;
    let prefix = format!("multitoken_webhooks_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// The count of deliveries with `result` once it is at least `count`
/// (waiting 10 s at most): the worker counts a delivery after its receiver
/// has answered and its row is removed, so a receiver may hold a message
/// before it is counted.
async fn counted(app: &TestApp, result: &str, count: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counted = metric(app, result).await;
        if counted >= count {
            return counted;
        }
        assert!(Instant::now() < deadline, "{result}: {counted} of {count}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[on_both_backends]
async fn a_refused_delivery_is_retried_with_the_same_id_until_it_is_taken(backend: Backend) {
    let receiver = Receiver::start();
    // A redirect is not a delivery either.
    receiver.answer_with(&[500, 302]);
    let app = TestApp::spawn_with(backend, webhooks_to(&[&receiver.url])).await;
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
    let got = receiver.wait_for(3).await;
    let ids: Vec<&str> = got.iter().map(|m| m.header("webhook-id")).collect();
    assert_eq!(ids, [ids[0]; 3], "the same webhook-id on each retry");
    for message in &got {
        checked(message);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 3, "not again once taken");
    assert_eq!(metric(&app, "retried").await, 2);
    assert_eq!(metric(&app, "delivered").await, 1);
}

#[on_both_backends]
async fn a_2xx_too_late_is_not_a_delivery(backend: Backend) {
    let receiver = Receiver::start();
    // The first answer comes after the send timeout (10 s; 300 ms here).
    receiver.answer_after(&[Duration::from_millis(1500)]);
    let configure = webhooks_to(&[&receiver.url]);
    let app = TestApp::spawn_with(backend, |settings| {
        configure(settings);
        settings.webhooks.webhook_send_timeout = Duration::from_millis(300);
    })
    .await;
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    counted(&app, "delivered", 1).await;
    assert_eq!(
        metric(&app, "retried").await,
        1,
        "the late 200 was a failure"
    );
}

#[on_both_backends]
async fn a_receiver_that_was_down_gets_the_event_when_it_is_back(backend: Backend) {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let app = TestApp::spawn_with(backend, webhooks_to(&[&url])).await;
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
    counted(&app, "retried", 2).await;
    let receiver = Receiver::start_on(port);
    let got = receiver.wait_for(1).await;
    assert_eq!(checked(&got[0])["type"], "login");
    assert_eq!(counted(&app, "delivered", 1).await, 1);
}

#[on_both_backends]
async fn only_the_types_in_webhook_events_are_sent(backend: Backend) {
    let receiver = Receiver::start();
    let configure = webhooks_to(&[&receiver.url]);
    let app = TestApp::spawn_with(backend, |settings| {
        configure(settings);
        settings.webhooks.webhook_events =
            Some(WebhookEvents::parse("logout revoked").expect("types"));
    })
    .await;
    app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let phone = app.login("alice", "phone").await;
    assert_eq!(
        app.login_status("alice", "wrong", "web").await,
        StatusCode::BAD_REQUEST
    );
    app.post_with_token("/logout", &web).await;
    let response = app.post_with_token("/logout/all", &phone).await;
    assert!(response.status().is_success(), "{}", response.status());
    let got = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kinds: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|m| {
            let body = checked(m);
            (body["type"].to_string(), body["data"]["client"].to_string())
        })
        .collect();
    assert_eq!(got.len(), 2);
    let sids: Vec<Value> = got
        .iter()
        .map(|m| m.json()["data"]["sid"].clone())
        .collect();
    assert!(
        sids.iter().all(Value::is_string),
        "a revoked device's sid: {sids:?}"
    );
    assert_eq!(
        kinds,
        [
            ("\"logout\"".to_owned(), "\"web\"".to_owned()),
            ("\"revoked\"".to_owned(), "\"phone\"".to_owned())
        ]
    );
}

#[on_both_backends]
async fn a_delivery_is_given_up_after_webhook_max_age_and_counted(backend: Backend) {
    let receiver = Receiver::start();
    receiver.answer_with(&[500; 1000]);
    let configure = webhooks_to(&[&receiver.url]);
    let app = TestApp::spawn_with(backend, |settings| {
        configure(settings);
        settings.webhooks.webhook_max_age = Duration::from_secs(1);
    })
    .await;
    app.create_user("alice", "", false);
    let queued = Instant::now();
    app.login("alice", "web").await;
    counted(&app, "gave_up", 1).await;
    assert!(
        queued.elapsed() >= Duration::from_secs(1),
        "tried for WEBHOOK_MAX_AGE"
    );
    let tried = receiver.received().len();
    assert!(tried >= 2, "tried more than once ({tried})");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.received().len(), tried, "not tried again");
    assert_eq!(metric(&app, "retried").await, tried as u64 - 1);
    assert_eq!(metric(&app, "delivered").await, 0);
}

#[on_both_backends]
async fn a_queued_delivery_survives_a_sigkill(backend: Backend) {
    let db = TestDatabase::create(backend);
    let url = db.url();
    create_user_by_cli(&url, "alice", "");
    let port = closed_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let env = [("WEBHOOK_URLS", hook.as_str()), ("WEBHOOK_SECRET", SECRET)];
    let mut server = ServerProcess::start(&url, &env);
    let response = reqwest::Client::new()
        .post(server.url("/login"))
        .json(&json!({"username": "alice", "password": crate::helpers::PASSWORD, "client": "web"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let failed = server.wait_for_log("not delivered");
    assert!(failed.contains("(attempt 1)"), "{failed}");
    server.kill();
    let log = server.log();
    assert!(!log.contains(SECRET.trim_start_matches("whsec_")), "{log}");
    assert!(
        !log.contains("/hook"),
        "logs show a URL's origin only: {log}"
    );

    let receiver = Receiver::start_on(port);
    let mut server = ServerProcess::start(&url, &env);
    let got = receiver.wait_for(1).await;
    server.wait_for_log("delivered to");
    assert_eq!(checked(&got[0])["data"]["client"], "web");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "once");
}

#[on_both_backends]
async fn two_instances_on_one_database_deliver_each_event_once(backend: Backend) {
    let receiver = Receiver::start();
    let app = TestApp::spawn_with(backend, webhooks_to(&[&receiver.url])).await;
    let second = app.spawn_on_same_database(webhooks_to(&[&receiver.url]));
    const USERS: usize = 20;
    app.create_users("u", USERS);
    for n in 0..USERS {
        let base = if n % 2 == 0 { &app.address } else { &second };
        let response = app
            .http
            .post(format!("{base}/login"))
            .json(&json!({"username": format!("u{n:03}"), "password": crate::helpers::PASSWORD, "client": "web"}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK);
    }
    receiver.wait_for(USERS).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in receiver.received() {
        checked(&message);
        *seen
            .entry(message.header("webhook-id").to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), USERS, "every event");
    assert!(seen.values().all(|&n| n == 1), "none twice: {seen:?}");
}

#[on_both_backends]
async fn a_revocation_at_the_command_line_is_posted_with_the_devices_sid(backend: Backend) {
    let receiver = Receiver::start();
    let app = TestApp::spawn_with(backend, webhooks_to(&[&receiver.url])).await;
    app.create_user("alice", "", false);
    app.login("alice", "web").await;
    let login = checked(&receiver.wait_for(1).await[0]);
    // The command reads the secret key the server keeps in the database,
    // so its sids are the server's; the running server sends what it queued.
    stdout_of(
        multitoken()
            .args(["tokens", "revoke", "alice", "web"])
            .env_clear()
            .env("DATABASE_URL", app.db.url())
            .env("WEBHOOK_URLS", &receiver.url)
            .env("WEBHOOK_SECRET", SECRET)
            .stdin(Stdio::null()),
        "tokens revoke",
    );
    let revoked = checked(&receiver.wait_for(2).await[1]);
    assert_eq!(revoked["type"], "revoked");
    assert_eq!(revoked["data"]["actor"], "cli");
    assert_eq!(revoked["data"]["detail"], "device");
    assert!(login["data"]["sid"].is_string(), "{login}");
    assert_eq!(revoked["data"]["sid"], login["data"]["sid"]);
}

#[test]
fn bad_webhook_settings_stop_the_start() {
    let good = ("WEBHOOK_URLS", "https://hooks.example/in");
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[good],
            "WEBHOOK_SECRET is required when WEBHOOK_URLS is set",
        ),
        (
            &[good, ("WEBHOOK_SECRET", "whsec_c2hvcnQ=")],
            "WEBHOOK_SECRET: must hold 24 to 64",
        ),
        (
            &[good, ("WEBHOOK_SECRET", "s3cret-s3cret-s3cret-s3cret")],
            "WEBHOOK_SECRET: must start with whsec_",
        ),
        (
            &[
                ("WEBHOOK_URLS", "ftp://hooks.example/in"),
                ("WEBHOOK_SECRET", SECRET),
            ],
            "WEBHOOK_URLS",
        ),
        (
            &[
                good,
                ("WEBHOOK_SECRET", SECRET),
                ("WEBHOOK_EVENTS", "login,exploded"),
            ],
            "unknown event type \"exploded\"",
        ),
    ];
    let db = TestDatabase::create(Backend::Sqlite);
    let database = db.url();
    for (env, message) in cases {
        let output = serve_command(&database, env).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{env:?}: {stderr}");
        assert!(stderr.contains(message), "{env:?}: {stderr}");
        assert!(
            !stderr.contains("s3cret") && !stderr.contains("MfKQ9"),
            "{stderr}"
        );
    }
}
