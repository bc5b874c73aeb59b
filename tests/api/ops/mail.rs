//! The mail backends other than `file:` (which the reset tests use):
//! SMTP against a real SMTP server started here, a failing SMTP server,
//! and the console backend, read from the real binary's log.

use crate::helpers::mail::{closed_port, silent_server, ResetLink, SmtpServer, NEW_PASSWORD};
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_detail, assert_json_of, Backend, Sent, ServerProcess, TestApp, PASSWORD,
};
use multitoken::mail::MailSetting;
use reqwest::{Method, StatusCode};
use serde_json::json;

const SENT: &str = "Password reset e-mail has been sent.";

#[on_both_backends]
async fn a_reset_mail_goes_through_smtp_and_its_link_works(backend: Backend) {
    let smtp = SmtpServer::start(false);
    let port = smtp.port;
    let app = spawn_mailing_to(backend, port).await;
    assert_detail(
        app.request_reset("alice@example.com").await,
        StatusCode::OK,
        SENT,
    )
    .await;
    let message = smtp.next_message().await;
    assert!(message.contains("To: alice@example.com\r\n"), "{message}");
    assert!(message.contains("Subject: Password reset\r\n"), "{message}");
    let commands = smtp.commands.lock().expect("lock").clone();
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<webmaster@localhost>")),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("RCPT TO:<alice@example.com>")),
        "{commands:?}"
    );
    let link = ResetLink::in_mail(&message);
    assert_detail(
        app.confirm_link(&link, NEW_PASSWORD).await,
        StatusCode::OK,
        "Password has been reset with the new password.",
    )
    .await;
    app.login_as("alice", NEW_PASSWORD, "web").await;
}

#[on_both_backends]
async fn a_failing_smtp_server_is_logged_and_never_fails_the_request(backend: Backend) {
    let db = crate::helpers::TestDatabase::create(backend);
    let url = db.url();
    crate::helpers::create_user_by_cli(&url, "alice", "alice@example.com");
    let http = reqwest::Client::new();
    let reset = |address: String| {
        let http = http.clone();
        async move {
            http.post(format!("{address}/password/reset"))
                .json(&json!({"email": "alice@example.com"}))
                .sent()
                .await
        }
    };

    // A server that refuses the mail, then none at all (a port closed when
    // its case starts).
    let refusing = SmtpServer::start(true);
    let cases = [
        (
            "a server that refuses the mail",
            Some(refusing.port),
            Some("no mail accepted here"),
        ),
        ("no server at all", None, None),
    ];
    let mut last = None;
    for (case, port, reason) in cases {
        drop(last.take());
        let mail = format!("smtp://127.0.0.1:{}", port.unwrap_or_else(closed_port));
        let mut server = ServerProcess::start(&url, &[("MAIL", &mail)]);
        let response = reset(server.address.clone()).await;
        assert_json_of(case, response, StatusCode::OK, json!({ "detail": SENT })).await;
        let logged = server.wait_for_log("password-reset mail #");
        assert!(logged.contains("not sent"), "{case}: {logged}");
        if let Some(reason) = reason {
            assert!(logged.contains(reason), "{case}: {logged}");
        }
        last = Some(server);
    }
    let server = last.expect("the last case's server");
    // The server goes on serving.
    let health = http.get(format!("{}/healthz", server.address)).sent().await;
    assert_eq!(health.status(), StatusCode::OK);
    assert!(!server.log().contains("token="), "no link in the log");
}

#[on_both_backends]
async fn a_hung_smtp_server_does_not_hold_up_the_answer(backend: Backend) {
    let (port, accepted) = silent_server();
    let app = spawn_mailing_to(backend, port).await;
    // Well below the 10 s that the SMTP client waits for a server: were the
    // mail sent on the request's path, the answer would come too late.
    let response = app
        .request(Method::POST, "/password/reset")
        .timeout(std::time::Duration::from_secs(5))
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .expect("an answer while the mail server hangs");
    assert_detail(response, StatusCode::OK, SENT).await;
    for _ in 0..100 {
        if *accepted.lock().expect("lock") > 0 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(*accepted.lock().expect("lock"), 1, "the mail was attempted");
    // Other requests are served meanwhile.
    assert_eq!(app.whoami_status("mt_x").await, StatusCode::UNAUTHORIZED);
}

#[on_both_backends]
async fn the_console_backend_logs_the_mail(backend: Backend) {
    let db = crate::helpers::TestDatabase::create(backend);
    let url = db.url();
    crate::helpers::create_user_by_cli(&url, "alice", "alice@example.com");
    let mut server = ServerProcess::start(&url, &[]);
    let address = server.address.clone();
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{address}/password/reset"))
        .json(&json!({"email": "alice@example.com"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let log = server.console_mail("password-reset mail #1 sent", "Password reset");
    let link = ResetLink::in_mail(&log);
    assert!(
        link.url.starts_with(&format!("{address}/reset?uid=")),
        "{}",
        link.url
    );
    let response = http
        .post(format!("{address}/password/reset/confirm"))
        .json(&json!({"uid": link.uid, "token": link.token, "new_password": NEW_PASSWORD}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let log = server.log();
    assert!(!log.contains(NEW_PASSWORD), "never a password in the log");
    assert!(!log.contains(PASSWORD), "never a password in the log");
}

/// An app that sends its mail by SMTP to 127.0.0.1:`port`, with `alice`
/// (who has an address to mail) in it.
async fn spawn_mailing_to(backend: Backend, port: u16) -> TestApp {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.mail.mail = MailSetting::Smtp {
            host: "127.0.0.1".into(),
            port,
        };
    })
    .await;
    app.create_user("alice", "alice@example.com", false);
    app
}

/// `smtp://USER:PASS@…` without `?tls=required` sends `AUTH PLAIN` in clear
/// to a server that offers no STARTTLS: the service says so at start, at
/// `warn`, naming the server and never the password. With TLS it is quiet.
#[on_both_backends]
async fn smtp_credentials_without_tls_are_warned_about_at_start(backend: Backend) {
    const SMTP_PASSWORD: &str = "S3cretMailPw-never-logged";
    let db = crate::helpers::TestDatabase::create(backend);
    let url = db.url();
    let port = closed_port();
    let plain = format!("smtp://mailuser:{SMTP_PASSWORD}@127.0.0.1:{port}");
    let mut server = ServerProcess::start(&url, &[("MAIL", &plain)]);
    let line = server.wait_for_log("goes in clear");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("?tls=required"), "{line}");
    let log = server.log();
    assert!(!log.contains(SMTP_PASSWORD), "{log}");
    assert!(!log.contains("mailuser"), "{log}");
    drop(server);

    for protected in [
        format!("{plain}?tls=required"),
        format!("smtps://mailuser:{SMTP_PASSWORD}@127.0.0.1:{port}"),
        format!("smtp://127.0.0.1:{port}"),
    ] {
        let server = ServerProcess::start(&url, &[("MAIL", &protected)]);
        let log = server.log();
        assert!(!log.contains("goes in clear"), "{protected}: {log}");
        assert!(!log.contains(SMTP_PASSWORD), "{log}");
    }
}
