//! Mail: where it goes, whom it comes from, the CA an SMTP server may be
//! signed by, and how often a failed mail is tried again.

use super::parse::{named, positive, secret};
use crate::mail::MailSetting;
use clap::Args;
use lettre::message::Mailbox;
use std::path::PathBuf;
use std::time::Duration;

/// The wait after a mail's first failed attempt, doubled after each one.
pub const MAIL_RETRY_BASE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Mail")]
pub struct MailSettings {
    /// Where mail goes: console (the log, for development), file:DIR (one RFC 5322 file per mail),
    /// smtp://[USER:PASS@]HOST[:PORT][?tls=required] (STARTTLS when required; plain otherwise, for local relays)
    /// or smtps://[USER:PASS@]HOST[:PORT] (implicit TLS).
    #[arg(long, env = "MAIL", default_value = "console", global = true, hide_env_values = true,
          value_parser = secret(MailSetting::parse))]
    pub mail: MailSetting,

    /// A PEM CA certificate that TLS connections to the SMTP server trust, besides the usual roots.
    #[arg(long, env = "SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<PathBuf>,

    /// Attempts to send one mail before it is given up (logged and counted); the waits between them double from 5s, up to 30m.
    #[arg(long, env = "MAIL_MAX_ATTEMPTS", default_value = "10", global = true,
          value_parser = named(positive))]
    pub mail_max_attempts: u32,

    /// Internal: the wait after a mail's first failed attempt.
    #[arg(skip = MAIL_RETRY_BASE)]
    pub mail_retry_base: Duration,

    /// Sender of the mails the service sends, as in `Accounts <accounts@example.com>`.
    #[arg(long, env = "MAIL_FROM", default_value = "webmaster@localhost", global = true,
          value_parser = named(parse_mailbox))]
    pub mail_from: Mailbox,
}

fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|e| format!("invalid address {text:?}: {e}"))
}
