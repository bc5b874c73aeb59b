//! SMTP with TLS and credentials, against a real SMTP server (aiosmtpd, run
//! by `tests/smtp_server/server.py` in `.venv-tests`) with a certificate
//! from a CA made for each test, which the service trusts via
//! `SMTP_CA_FILE`: STARTTLS with AUTH, implicit TLS, a wrong password
//! (logged, never the password), and `tls=required` against a server that
//! offers no STARTTLS (nothing sent in clear).
//!
//! Needs aiosmtpd in `.venv-tests` (`.ci/run` installs it from
//! `tests/resource_server/requirements.txt`): `build.rs` sets `smtp_tests`
//! when that interpreter can import it, and under CI; without, these tests
//! are reported ignored.

use crate::helpers::mail::{mail_files, wait_for_mail_files, ResetLink};
use crate::helpers::on_both_backends;
use crate::helpers::{create_user_by_cli, Backend, ServerProcess, TestApp, TestDatabase};
use multitoken::mail::MailSetting;
use reqwest::StatusCode;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

const USER: &str = "mailer@example.com";
const SMTP_PASSWORD: &str = "smtp-Pa55word-that-must-stay-secret";

fn python() -> PathBuf {
    Path::new(env!("MULTITOKEN_REPOSITORY")).join(".venv-tests/bin/python")
}

fn script() -> PathBuf {
    Path::new(env!("MULTITOKEN_REPOSITORY")).join("tests/smtp_server/server.py")
}

/// aiosmtpd on a loopback port, with its certificates and what it received.
struct PySmtp {
    child: Child,
    port: u16,
    certs: TempDir,
    received: TempDir,
}

impl PySmtp {
    fn start(mode: &str, auth: bool) -> Self {
        let certs = tempfile::tempdir().expect("certs dir");
        let made = Command::new(python())
            .arg(script())
            .arg("make-certs")
            .arg(certs.path())
            .status()
            .expect("run server.py make-certs");
        assert!(made.success());
        let received = tempfile::tempdir().expect("received dir");
        let mut command = Command::new(python());
        command
            .arg(script())
            .arg("serve")
            .arg(mode)
            .arg(certs.path())
            .arg(received.path());
        if auth {
            command.args([USER, SMTP_PASSWORD]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run server.py serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the port");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        PySmtp {
            child,
            port,
            certs,
            received,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.certs.path().join("ca.pem")
    }

    fn url(&self, scheme: &str, password: &str, query: &str) -> String {
        let user = USER.replace('@', "%40");
        format!(
            "{scheme}://{user}:{password}@localhost:{}{query}",
            self.port
        )
    }
}

impl Drop for PySmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn reset_mail_arrives(backend: Backend, smtp: &PySmtp, mail: &str) {
    let app = TestApp::spawn_with(backend, |s| {
        s.mail.mail = MailSetting::parse(mail).expect("MAIL");
        s.mail.smtp_ca_file = Some(smtp.ca_file());
    })
    .await;
    app.create_user("alice", "alice@example.com", false);
    let response = app.request_reset("alice@example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    let files = wait_for_mail_files(smtp.received.path(), 1).await;
    let message = std::fs::read_to_string(&files[0]).expect("mail");
    assert!(message.contains("To: alice@example.com"), "{message}");
    let link = ResetLink::in_mail(&message);
    let confirmed = app.confirm_link(&link, "fresh-Violet-Kettle-42").await;
    assert_eq!(confirmed.status(), StatusCode::OK);
}

/// What the server's authenticator saw: one `MECHANISM ok|refused` line per AUTH.
fn auth_attempts(smtp: &PySmtp) -> String {
    std::fs::read_to_string(smtp.received.path().join("auth.log")).unwrap_or_default()
}

fn assert_auth_attempts_contain(smtp: &PySmtp, outcome: &str) {
    let attempts = auth_attempts(smtp);
    assert!(attempts.contains(outcome), "{attempts}");
}

/// A server in `mode`, reached as `scheme` with the right password and
/// `query`: the reset mail arrives, and the server saw a good AUTH.
async fn reset_mail_arrives_with_auth(backend: Backend, mode: &str, scheme: &str, query: &str) {
    let smtp = PySmtp::start(mode, true);
    let mail = smtp.url(scheme, SMTP_PASSWORD, query);
    reset_mail_arrives(backend, &smtp, &mail).await;
    assert_auth_attempts_contain(&smtp, " ok");
}

#[on_both_backends(needs smtp_tests, "no aiosmtpd in .venv-tests")]
async fn a_reset_mail_arrives_over_starttls_with_auth(backend: Backend) {
    reset_mail_arrives_with_auth(backend, "starttls", "smtp", "?tls=required").await;
}

#[on_both_backends(needs smtp_tests, "no aiosmtpd in .venv-tests")]
async fn a_reset_mail_arrives_over_implicit_tls(backend: Backend) {
    reset_mail_arrives_with_auth(backend, "smtps", "smtps", "").await;
}

/// The real binary, for its log: a reset requested with `mail` as `MAIL`;
/// returns the log line of the failed attempt and the whole log.
async fn failed_attempt(backend: Backend, smtp: &PySmtp, mail: &str) -> (String, String) {
    let db = TestDatabase::create(backend);
    let url = db.url();
    create_user_by_cli(&url, "alice", "alice@example.com");
    let ca = smtp.ca_file();
    let mut server = ServerProcess::start(
        &url,
        &[
            ("MAIL", mail),
            ("SMTP_CA_FILE", ca.to_str().expect("path")),
            ("RUST_LOG", "debug"),
        ],
    );
    server.request_password_reset("alice@example.com").await;
    let line = server.wait_for_log("password-reset mail #");
    tokio::time::sleep(Duration::from_millis(200)).await;
    (line, server.log())
}

#[on_both_backends(needs smtp_tests, "no aiosmtpd in .venv-tests")]
async fn a_wrong_smtp_password_is_logged_without_the_password(backend: Backend) {
    let smtp = PySmtp::start("starttls", true);
    let wrong = "wrong-Secret-Password-77";
    let mail = smtp.url("smtp", wrong, "?tls=required");
    let (line, log) = failed_attempt(backend, &smtp, &mail).await;
    assert!(line.contains("not sent (attempt 1 of 10)"), "{line}");
    assert!(line.contains("535"), "the server's refusal: {line}");
    for secret in [wrong, SMTP_PASSWORD] {
        assert!(!log.contains(secret), "no password in the log:\n{log}");
    }
    assert_eq!(mail_files(smtp.received.path()).len(), 0);
    assert_auth_attempts_contain(&smtp, "refused");
}

#[on_both_backends(needs smtp_tests, "no aiosmtpd in .venv-tests")]
async fn tls_required_refuses_a_server_without_starttls(backend: Backend) {
    let smtp = PySmtp::start("plain", true);
    let mail = smtp.url("smtp", SMTP_PASSWORD, "?tls=required");
    let (line, log) = failed_attempt(backend, &smtp, &mail).await;
    assert!(line.contains("not sent (attempt 1 of 10)"), "{line}");
    assert!(!log.contains(SMTP_PASSWORD), "{log}");
    assert_eq!(
        mail_files(smtp.received.path()).len(),
        0,
        "no mail in clear"
    );
    assert_eq!(auth_attempts(&smtp), "", "no credentials in clear");
}
