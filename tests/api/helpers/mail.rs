//! Mail as the tests see it: `MailApp`, a server whose mails the `file:`
//! backend writes into a directory of its own; reading those mails; and
//! mail servers on loopback ports that accept, refuse, or never answer.

use super::{assert_bad_request, Backend, TestApp};
use multitoken::config::Settings;
use multitoken::mail::MailSetting;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Asserts that `path`, an endpoint that mails the address it is given (a
/// password reset, a verification mail sent again), refuses a missing and
/// a malformed address alike.
pub async fn assert_address_checked(app: &TestApp, path: &str) {
    for (body, error) in [
        (json!({}), "This field is required."),
        (
            json!({"email": "not-an-address"}),
            "Enter a valid email address.",
        ),
    ] {
        assert_bad_request(app.post_json(path, body).await, json!({"email": [error]})).await;
    }
}

/// A server whose mails land in a directory of its own.
pub struct MailApp {
    pub app: TestApp,
    pub mail_dir: TempDir,
}

impl MailApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        let mail_dir = tempfile::tempdir().expect("mail dir");
        let path = mail_dir.path().to_owned();
        let app = TestApp::spawn_with(backend, |settings| {
            settings.mail.mail = MailSetting::File(path);
            configure(settings);
        })
        .await;
        MailApp { app, mail_dir }
    }

    /// Requests a password reset and returns the link of its mail.
    pub async fn reset_link(&self, email: &str) -> ResetLink {
        self.app
            .reset_link_by_file(email, self.mail_dir.path())
            .await
    }

    pub fn mail_count(&self) -> usize {
        mail_files(self.mail_dir.path()).len()
    }

    /// The texts of the first `n` mails, waiting for them. Mails written
    /// within one millisecond may sort either way: tell them apart by
    /// recipient ([`to`]), not by place.
    pub async fn mails(&self, n: usize) -> Vec<String> {
        let files = wait_for_mail_files(self.mail_dir.path(), n).await;
        files
            .iter()
            .take(n)
            .map(|file| std::fs::read_to_string(file).expect("read mail"))
            .collect()
    }

    /// The one mail to `address` among the first `n`.
    pub async fn mail_to(&self, address: &str, n: usize) -> String {
        let mut found = to(&self.mails(n).await, address);
        assert_eq!(found.len(), 1, "one mail to {address}: {found:?}");
        found.remove(0)
    }
}

/// The mails addressed to `address`.
pub fn to(mails: &[String], address: &str) -> Vec<String> {
    let header = format!("To: {address}\r\n");
    mails
        .iter()
        .filter(|mail| mail.contains(&header))
        .cloned()
        .collect()
}

/// A password that passes every rule for the usernames used in these tests.
pub const NEW_PASSWORD: &str = "fresh-Violet-Kettle-42";

/// How long a test waits for a mail that the background task sends.
const MAIL_WAIT: Duration = Duration::from_secs(15);

/// `uid` and `token` taken from a reset mail's link.
#[derive(Debug, Clone)]
pub struct ResetLink {
    pub url: String,
    pub uid: String,
    pub token: String,
}

impl ResetLink {
    /// The one line of the mail's body that is a link (in a log, lines may
    /// be indented).
    pub fn in_mail(mail: &str) -> Self {
        let url = mail
            .lines()
            .map(str::trim_start)
            .find(|line| line.starts_with("http://") || line.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in the mail:\n{mail}"))
            .trim()
            .to_owned();
        let query = url.split_once('?').map(|(_, query)| query).unwrap_or("");
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).expect("query of the link");
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| panic!("no {name} in {url}"))
        };
        ResetLink {
            uid: get("uid"),
            token: get("token"),
            url: url.clone(),
        }
    }
}

/// The `.eml` files in `dir`, oldest first (names start with the time).
pub fn mail_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

pub async fn wait_for_mail_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let files = mail_files(dir);
        if files.len() >= count {
            return files;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} mail(s) in {}, found {}",
            dir.display(),
            files.len()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An SMTP server on a random loopback port that accepts every message
/// (or, when `reject`, refuses every sender) and hands over each DATA it
/// receives. It speaks just enough of RFC 5321 for a client like lettre.
pub struct SmtpServer {
    pub port: u16,
    messages: mpsc::Receiver<String>,
    /// Every command line received, in order.
    pub commands: Arc<Mutex<Vec<String>>>,
}

impl SmtpServer {
    pub fn start(reject: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP test server");
        let port = listener.local_addr().expect("address").port();
        let (sender, messages) = mpsc::channel();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let seen = commands.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (sender, seen) = (sender.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = serve_smtp(stream, reject, &sender, &seen);
                });
            }
        });
        SmtpServer {
            port,
            messages,
            commands,
        }
    }

    /// The next message received, waiting for it in a blocking thread.
    pub async fn next_message(&self) -> String {
        let deadline = Instant::now() + MAIL_WAIT;
        loop {
            if let Ok(message) = self.messages.try_recv() {
                return message;
            }
            assert!(
                Instant::now() < deadline,
                "no message reached the SMTP server"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn serve_smtp(
    stream: TcpStream,
    reject: bool,
    messages: &mpsc::Sender<String>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    writer.write_all(b"220 test.invalid ESMTP ready\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        seen.lock().expect("lock").push(command.clone());
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => writer.write_all(b"250-test.invalid\r\n250 8BITMIME\r\n")?,
            "MAIL" if reject => writer.write_all(b"554 5.7.1 no mail accepted here\r\n")?,
            "DATA" => {
                writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = Vec::new();
                loop {
                    let mut data_line = Vec::new();
                    if reader.read_until(b'\n', &mut data_line)? == 0 {
                        return Ok(());
                    }
                    if data_line == b".\r\n" {
                        break;
                    }
                    // Dot-stuffing (RFC 5321, 4.5.2).
                    let unstuffed = data_line
                        .strip_prefix(b".")
                        .filter(|rest| rest.starts_with(b"."));
                    data.extend_from_slice(unstuffed.unwrap_or(&data_line));
                }
                let _ = messages.send(String::from_utf8_lossy(&data).into_owned());
                writer.write_all(b"250 2.0.0 queued\r\n")?;
            }
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => writer.write_all(b"250 2.0.0 ok\r\n")?,
        }
    }
}

/// A loopback port where connections are accepted and then never answered,
/// like a hung mail server; returns the port and how many connections came.
pub fn silent_server() -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let accepted = Arc::new(Mutex::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            *counter.lock().expect("lock") += 1;
            held.push(stream);
        }
    });
    (port, accepted)
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
