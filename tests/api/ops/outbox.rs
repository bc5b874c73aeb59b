//! The durable mail outbox: mails are rows, sealed, sent by a worker that
//! retries with backoff and gives up after `MAIL_MAX_ATTEMPTS`; they survive
//! a SIGKILL, and two instances on one database send each mail once.

use crate::helpers::mail::{closed_port, mail_files, wait_for_mail_files, ResetLink};
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{create_user_by_cli, Backend, Sent, ServerProcess, TestApp, TestDatabase};
use diesel::prelude::*;
use multitoken::db::schema::mail_outbox;
use multitoken::domain::SecretKey;
use multitoken::mail::MailSetting;
use multitoken::service::shared::outbox::{Mail, Outbox};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const SECRET: &str = "outbox-test-secret-key-long-enough-0123456789";

fn outbox_rows(conn: &mut multitoken::db::AnyConnection) -> Vec<(String, Vec<u8>, i64)> {
    mail_outbox::table
        .select((
            mail_outbox::kind,
            mail_outbox::sealed,
            mail_outbox::attempts,
        ))
        .load(conn)
        .expect("outbox rows")
}

#[on_both_backends]
async fn a_queued_mail_survives_a_sigkill_and_is_sent_once_after_restart(backend: Backend) {
    let db = TestDatabase::create(backend);
    let url = db.url();
    create_user_by_cli(&url, "alice", "alice@example.com");
    // First run: no mail server, so the mail stays queued.
    let down = format!("smtp://127.0.0.1:{}", closed_port());
    let mut server = ServerProcess::start(&url, &[("MAIL", &down), ("SECRET_KEY", SECRET)]);
    server.request_password_reset("alice@example.com").await;
    let failed = server.wait_for_log("password-reset mail #");
    assert!(failed.contains("not sent (attempt 1 of 10)"), "{failed}");
    server.kill();
    let log = server.log();
    assert!(!log.contains("token="), "no link in the log: {log}");
    assert!(
        !log.contains("alice@example.com"),
        "no address in the log: {log}"
    );

    // The row is sealed: neither the address nor the link is in it.
    let mut conn = multitoken::db::connect_once(&db.database).expect("connect");
    let rows = outbox_rows(&mut conn);
    assert_eq!(rows.len(), 1, "still queued after the kill");
    let (kind, sealed, attempts) = &rows[0];
    assert_eq!((kind.as_str(), *attempts), ("password-reset", 1));
    let raw = String::from_utf8_lossy(sealed);
    assert!(!raw.contains("alice") && !raw.contains("token"), "{raw}");

    // Second run, with somewhere to deliver: the mail goes out once the
    // first attempt's backoff (5 s) has passed, and only once.
    let dir = tempfile::tempdir().expect("mail dir");
    let file = format!("file:{}", dir.path().display());
    let mut server = ServerProcess::start(&url, &[("MAIL", &file), ("SECRET_KEY", SECRET)]);
    let files = wait_for_mail_files(dir.path(), 1).await;
    server.wait_for_log("password-reset mail #1 sent (attempt 2)");
    let mail = std::fs::read_to_string(&files[0]).expect("mail");
    assert!(mail.contains("To: alice@example.com\r\n"), "{mail}");
    let link = ResetLink::in_mail(&mail);
    assert!(!link.token.is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(mail_files(dir.path()).len(), 1, "sent once");
    assert!(outbox_rows(&mut conn).is_empty(), "done with");
}

#[on_both_backends]
async fn two_instances_on_one_database_send_each_mail_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("mail dir");
    let configure = |s: &mut multitoken::config::Settings| {
        s.mail.mail = MailSetting::File(dir.path().to_owned());
        s.server.secret_key = Some(SecretKey::unchecked(SECRET));
        s.throttles.password_reset_throttle = throttle("1000/1m");
    };
    let app = TestApp::spawn_with(backend, configure).await;
    let second = app.spawn_on_same_database(configure);
    // Mails queued behind both instances' backs, so that both workers
    // find them on their next rounds and compete for each.
    const MAILS: usize = 60;
    let outbox = Outbox::new(&SecretKey::unchecked(SECRET));
    let mut conn = app.connection();
    multitoken::db::transaction::<_, multitoken::service::Error, _>(&mut conn, |conn| {
        for n in 0..MAILS {
            let mail = Mail {
                to: format!("user{n}@example.com").parse().expect("address"),
                subject: "Test".into(),
                text: format!("mail {n}"),
            };
            outbox.enqueue(conn, "test", &mail)?;
        }
        Ok(())
    })
    .expect("enqueue");
    // And reset requests through either instance.
    for n in 0..10 {
        let email = format!("r{n}@example.com");
        app.create_user(&format!("r{n}"), &email, false);
        let base = if n % 2 == 0 { &app.address } else { &second };
        let response = app
            .http
            .post(format!("{base}/password/reset"))
            .json(&json!({ "email": email }))
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let total = MAILS + 10;
    wait_for_mail_files(dir.path(), total).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !outbox_rows(&mut conn).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut recipients: Vec<String> = mail_files(dir.path())
        .iter()
        .map(|path| {
            let mail = std::fs::read_to_string(path).expect("mail");
            mail.lines()
                .find_map(|line| line.strip_prefix("To: "))
                .expect("a To line")
                .to_owned()
        })
        .collect();
    recipients.sort();
    let sent = recipients.len();
    recipients.dedup();
    assert_eq!(sent, total, "every mail once, none twice");
    assert_eq!(recipients.len(), total);
    assert!(outbox_rows(&mut conn).is_empty());
}

#[on_both_backends]
async fn a_failing_mail_is_retried_then_given_up_and_counted(backend: Backend) {
    let port = closed_port();
    let app = TestApp::spawn_with(backend, |s| {
        s.mail.mail = MailSetting::Smtp {
            host: "127.0.0.1".into(),
            port,
        };
        s.mail.mail_max_attempts = 3;
        s.mail.mail_retry_base = Duration::from_millis(300);
    })
    .await;
    app.create_user("alice", "alice@example.com", false);
    let response = app.request_reset("alice@example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut conn = app.connection();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = 0;
    loop {
        let rows = outbox_rows(&mut conn);
        if let Some((_, _, attempts)) = rows.first() {
            seen = seen.max(*attempts);
        } else if seen > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never given up: {rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen >= 2, "retried before giving up ({seen})");
    let metrics = app.scrape().await;
    for (outcome, count) in [("sent", 0), ("retried", 2), ("gave_up", 1)] {
        let line = format!("multitoken_mails_total{{outcome=\"{outcome}\"}} {count}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}
