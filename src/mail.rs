//! Outgoing mail, behind one small trait chosen by the `MAIL` setting:
//! `console` logs each message (for development), `file:DIR` writes one
//! RFC 5322 file per message, `smtp://HOST:PORT` hands it to an SMTP server.
//!
//! Callers never send on a request's path: they queue mails in the outbox
//! ([`crate::service::outbox`]), whose background worker sends them here.

use futures_util::future::BoxFuture;
use lettre::message::Message;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
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
    Smtp { host: String, port: u16 },
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
        if let Some(address) = text.strip_prefix("smtp://") {
            let address = address.trim_end_matches('/');
            let (host, port) = match address.rsplit_once(':') {
                Some((host, port)) => (
                    host,
                    port.parse::<u16>()
                        .ok()
                        .filter(|port| *port > 0)
                        .ok_or_else(|| format!("invalid SMTP port {port:?}"))?,
                ),
                None => (address, 25),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || host.contains(['/', '@', '?', '#']) {
                return Err(format!(
                    "invalid SMTP server {text:?}: expected smtp://HOST:PORT"
                ));
            }
            return Ok(MailSetting::Smtp {
                host: host.to_owned(),
                port,
            });
        }
        Err(format!(
            "invalid value {text:?}: expected console, file:DIR or smtp://HOST:PORT"
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
pub fn backend(setting: &MailSetting) -> Result<Arc<dyn MailBackend>, MailError> {
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
            "smtps://host:465",
        ] {
            assert!(MailSetting::parse(bad).is_err(), "{bad:?}");
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
