//! Outgoing mail, behind one small trait chosen by the `MAIL` setting:
//! `console` logs each message (for development), `file:DIR` writes one
//! RFC 5322 file per message, `smtp://HOST:PORT` hands it to an SMTP relay
//! in plain text, and the URL forms with TLS and credentials
//! (`smtp://USER:PASS@HOST:PORT?tls=required` for STARTTLS,
//! `smtps://USER:PASS@HOST:PORT` for implicit TLS; see [`SmtpRelay`]) to a
//! real provider. TLS is rustls, trusting the Mozilla roots and, when
//! `SMTP_CA_FILE` names one, a private CA. Credentials never appear in a
//! log line, an error or `Debug` output.
//!
//! Callers never send on a request's path: they queue mails in the outbox
//! ([`crate::service::shared::outbox`]), whose background worker sends them here.

use futures_util::future::BoxFuture;
use lettre::message::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use percent_encoding::percent_decode_str;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long an SMTP server may take to answer before the send fails.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where mail goes, parsed from `MAIL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailSetting {
    Console,
    File(PathBuf),
    /// `smtp://HOST:PORT`: plain SMTP, no authentication, for a local relay.
    Smtp {
        host: String,
        port: u16,
    },
    /// An SMTP URL with TLS or credentials.
    Relay(SmtpRelay),
}

/// How the connection to an SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// None: `smtp://` without `?tls=required`.
    Plain,
    /// STARTTLS, required: a server that does not offer it gets nothing.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// An SMTP server given by URL, with TLS or credentials or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<SmtpCredentials>,
}

/// A user name and password for SMTP AUTH. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpCredentials(<redacted>)")
    }
}

/// `text` with any `USER:PASS@` replaced, safe to repeat in a message.
fn without_credentials(text: &str) -> String {
    match (text.split_once("://"), text.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &text[at..]),
        (None, Some(_)) => "(a value with credentials)".to_owned(),
        _ => text.to_owned(),
    }
}

/// `HOST[:PORT]`, with `default_port`.
fn host_and_port(address: &str, default_port: u16, shown: &str) -> Result<(String, u16), String> {
    let address = address.trim_end_matches('/');
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("invalid SMTP port {port:?}"))?,
        ),
        None => (address, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(format!(
            "invalid SMTP server {shown:?}: expected smtp://[USER:PASS@]HOST[:PORT][?tls=required] or smtps://[USER:PASS@]HOST[:PORT]"
        ));
    }
    Ok((host.to_owned(), port))
}

fn decoded(part: &str, what: &str) -> Result<String, String> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| format!("the SMTP {what} is not valid UTF-8 once percent-decoded"))
}

impl SmtpRelay {
    /// `smtp://…` or `smtps://…` (the text after the scheme is `rest`).
    fn parse(implicit_tls: bool, rest: &str, shown: &str) -> Result<MailSetting, String> {
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let security = match (implicit_tls, query) {
            (true, None) => SmtpSecurity::Implicit,
            (false, None) => SmtpSecurity::Plain,
            (false, Some("tls=required")) => SmtpSecurity::StartTls,
            (_, Some(_)) => {
                return Err(format!(
                    "invalid SMTP options in {shown:?}: smtp:// takes only ?tls=required, smtps:// none"
                ))
            }
        };
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((userinfo, address)) => {
                let (user, password) = userinfo.split_once(':').ok_or_else(|| {
                    format!("invalid SMTP credentials in {shown:?}: expected USER:PASS@HOST")
                })?;
                let credentials = SmtpCredentials {
                    user: decoded(user, "user")?,
                    password: decoded(password, "password")?,
                };
                if credentials.user.is_empty() {
                    return Err(format!("the SMTP user is empty in {shown:?}"));
                }
                (Some(credentials), address)
            }
            None => (None, rest),
        };
        let default_port = if implicit_tls { 465 } else { 25 };
        let (host, port) = host_and_port(address, default_port, shown)?;
        if security == SmtpSecurity::Plain && credentials.is_none() {
            return Ok(MailSetting::Smtp { host, port });
        }
        Ok(MailSetting::Relay(SmtpRelay {
            host,
            port,
            security,
            credentials,
        }))
    }
}

impl MailSetting {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "console" {
            return Ok(MailSetting::Console);
        }
        if let Some(dir) = text.strip_prefix("file:") {
            if dir.is_empty() {
                return Err("file: needs a directory, as in file:/var/spool/multitoken".into());
            }
            return Ok(MailSetting::File(PathBuf::from(dir)));
        }
        let shown = without_credentials(text);
        if let Some(rest) = text.strip_prefix("smtp://") {
            return SmtpRelay::parse(false, rest, &shown);
        }
        if let Some(rest) = text.strip_prefix("smtps://") {
            return SmtpRelay::parse(true, rest, &shown);
        }
        Err(format!(
            "invalid value {shown:?}: expected console, file:DIR, smtp://[USER:PASS@]HOST[:PORT][?tls=required] or smtps://[USER:PASS@]HOST[:PORT]"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

/// Delivers one message; implementations must be safe to share.
pub trait MailBackend: Send + Sync {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), MailError>>;
}

/// The backend `setting` names; a file directory is created if missing.
/// `ca_file` is a PEM certificate that TLS connections trust besides the
/// usual roots (`SMTP_CA_FILE`).
pub fn backend(
    setting: &MailSetting,
    ca_file: Option<&Path>,
) -> Result<Arc<dyn MailBackend>, MailError> {
    Ok(match setting {
        MailSetting::Console => Arc::new(ConsoleMail),
        MailSetting::File(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                MailError(format!(
                    "MAIL: cannot create the mail directory {}: {e}",
                    dir.display()
                ))
            })?;
            Arc::new(FileMail { dir: dir.clone() })
        }
        MailSetting::Smtp { host, port } => Arc::new(SmtpMail {
            // Plain SMTP to a relay the operator names, as Django's default
            // EMAIL_USE_TLS=False does; the relay does the rest.
            transport: AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                .port(*port)
                .timeout(Some(SMTP_TIMEOUT))
                .build(),
        }),
        MailSetting::Relay(relay) => Arc::new(SmtpMail {
            transport: relay_transport(relay, ca_file)?,
        }),
    })
}

fn relay_transport(
    relay: &SmtpRelay,
    ca_file: Option<&Path>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.host.as_str())
        .port(relay.port)
        .timeout(Some(SMTP_TIMEOUT));
    if relay.security != SmtpSecurity::Plain {
        let mut parameters = TlsParameters::builder(relay.host.clone());
        if let Some(path) = ca_file {
            let fail = |e: String| {
                MailError(format!(
                    "SMTP_CA_FILE: cannot use {} as a CA certificate: {e}",
                    path.display()
                ))
            };
            let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| fail(e.to_string()))?;
            parameters = parameters.add_root_certificate(certificate);
        }
        let parameters = parameters
            .build_rustls()
            .map_err(|e| MailError(format!("MAIL: cannot set up TLS: {e}")))?;
        builder = builder.tls(match relay.security {
            SmtpSecurity::Implicit => Tls::Wrapper(parameters),
            _ => Tls::Required(parameters),
        });
    }
    if let Some(warning) = clear_credentials_warning(relay) {
        log::warn!("{warning}");
    }
    if let Some(credentials) = &relay.credentials {
        builder = builder.credentials(Credentials::new(
            credentials.user.clone(),
            credentials.password.clone(),
        ));
    }
    Ok(builder.build())
}

/// The warning for credentials that would cross the network in clear (an
/// `smtp://` URL with `USER:PASS@` and without `?tls=required`): lettre
/// sends `AUTH PLAIN` to a server that offers no STARTTLS. Plain SMTP stays
/// allowed for a local relay, so this warns rather than refuses. Names the
/// server, never the user or the password.
fn clear_credentials_warning(relay: &SmtpRelay) -> Option<String> {
    (relay.security == SmtpSecurity::Plain && relay.credentials.is_some()).then(|| {
        format!(
            "MAIL: the SMTP password for {}:{} goes in clear: the URL has no ?tls=required; \
             add it (STARTTLS) or use smtps:// (implicit TLS)",
            relay.host, relay.port
        )
    })
}

/// Logs each message whole, like Django's console e-mail backend. Meant for
/// development: a reset link in the log works for whoever reads the log.
pub struct ConsoleMail;

impl MailBackend for ConsoleMail {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            log::info!(
                "mail (MAIL=console):\n{}",
                String::from_utf8_lossy(&message.formatted())
            );
            Ok(())
        })
    }
}

/// Writes each message to its own `.eml` file in a directory: first to a
/// temporary file there, then renamed into place, so a reader never sees a
/// partial message.
pub struct FileMail {
    dir: PathBuf,
}

impl MailBackend for FileMail {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), MailError>> {
        let dir = self.dir.clone();
        let bytes = message.formatted();
        Box::pin(async move {
            actix_web::web::block(move || write_atomically(&dir, &bytes))
                .await
                .map_err(|e| MailError(e.to_string()))?
        })
    }
}

fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let fail =
        |e: std::io::Error| MailError(format!("cannot write a mail to {}: {e}", dir.display()));
    let mut file = tempfile::Builder::new()
        .prefix(".incoming-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    let name = format!(
        "{}-{:016x}.eml",
        crate::domain::Timestamp::now().millis(),
        rand::random::<u64>()
    );
    file.persist_noclobber(dir.join(name))
        .map_err(|e| fail(e.error))?;
    Ok(())
}

pub struct SmtpMail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl MailBackend for SmtpMail {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            self.transport
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| MailError(format!("SMTP delivery failed: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_settings_are_parsed() {
        assert_eq!(MailSetting::parse("console"), Ok(MailSetting::Console));
        assert_eq!(
            MailSetting::parse("file:/tmp/mail"),
            Ok(MailSetting::File("/tmp/mail".into()))
        );
        assert_eq!(
            MailSetting::parse("smtp://localhost:2525"),
            Ok(MailSetting::Smtp {
                host: "localhost".into(),
                port: 2525
            })
        );
        assert_eq!(
            MailSetting::parse("smtp://mail.example.com"),
            Ok(MailSetting::Smtp {
                host: "mail.example.com".into(),
                port: 25
            })
        );
        for bad in [
            "",
            "log",
            "file:",
            "smtp://",
            "smtp://host:0",
            "smtp://host:99999",
            "smtp://user@host:25",
            "smtp://host?tls=maybe",
            "smtps://host?tls=required",
            "smtp://:pw@host",
            "smtp://a:b@",
        ] {
            assert!(MailSetting::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn smtp_urls_with_tls_and_credentials_are_parsed() {
        let relay = |host: &str, port, security, credentials: Option<(&str, &str)>| {
            Ok(MailSetting::Relay(SmtpRelay {
                host: host.into(),
                port,
                security,
                credentials: credentials.map(|(user, password)| SmtpCredentials {
                    user: user.into(),
                    password: password.into(),
                }),
            }))
        };
        for (url, expected) in [
            (
                "smtp://me%40example.com:p%40ss:w@mail.example.com:587?tls=required",
                relay(
                    "mail.example.com",
                    587,
                    SmtpSecurity::StartTls,
                    Some(("me@example.com", "p@ss:w")),
                ),
            ),
            (
                "smtps://u:pw@mail.example.com",
                relay(
                    "mail.example.com",
                    465,
                    SmtpSecurity::Implicit,
                    Some(("u", "pw")),
                ),
            ),
            (
                "smtp://relay:2525?tls=required",
                relay("relay", 2525, SmtpSecurity::StartTls, None),
            ),
            (
                "smtp://u:pw@relay",
                relay("relay", 25, SmtpSecurity::Plain, Some(("u", "pw"))),
            ),
        ] {
            assert_eq!(MailSetting::parse(url), expected, "{url}");
        }
    }

    /// Asserts that no credential of `secrets` shows in `shown`.
    fn assert_hidden(shown: &str, secrets: &[&str]) {
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} shows in {shown}");
        }
    }

    #[test]
    fn smtp_passwords_never_show_in_errors_or_debug_output() {
        let parsed = MailSetting::parse("smtps://user:hunter2-secret@mail.example.com:465");
        let shown = format!("{parsed:?}");
        assert!(parsed.is_ok(), "{shown}");
        assert_hidden(&shown, &["hunter2", "user"]);
        for bad in [
            "smtps://user:hunter2-secret@mail.example.com:99999",
            "smtps://user:hunter2-secret@mail.example.com?x=y",
            "smtpx://user:hunter2-secret@mail.example.com",
            "smtp://user:hunter2-secret@",
        ] {
            let error = MailSetting::parse(bad).err().unwrap_or_default();
            assert!(!error.is_empty(), "{bad}");
            assert_hidden(&error, &["hunter2"]);
        }
    }

    #[test]
    fn credentials_without_tls_are_warned_about_without_the_password() {
        let warning = |url: &str| match MailSetting::parse(url) {
            Ok(MailSetting::Relay(relay)) => clear_credentials_warning(&relay),
            _ => None,
        };
        let shown =
            warning("smtp://mailuser:S3cretMailPw@mail.example.com:587").unwrap_or_default();
        assert!(shown.contains("mail.example.com:587"), "{shown}");
        assert!(shown.contains("?tls=required"), "{shown}");
        assert_hidden(&shown, &["S3cretMailPw", "mailuser"]);
        for protected in [
            "smtp://mailuser:S3cretMailPw@mail.example.com:587?tls=required",
            "smtps://mailuser:S3cretMailPw@mail.example.com",
            "smtp://relay:2525?tls=required",
        ] {
            assert_eq!(warning(protected), None, "{protected}");
        }
    }

    #[test]
    fn files_are_written_whole_with_no_temporary_left() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(write_atomically(dir.path(), b"Subject: hi\r\n\r\nbody\r\n").is_ok());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(".eml"), "{names:?}");
        let written = std::fs::read(dir.path().join(&names[0])).unwrap_or_default();
        assert_eq!(written, b"Subject: hi\r\n\r\nbody\r\n");
    }
}
