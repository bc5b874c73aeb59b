//! Mail: where it goes, whom it comes from, the CA an SMTP server may be
//! signed by, and how often a failed mail is tried again.

use super::parse::{named, positive, secret};
use crate::mail::MailSetting;
use lettre::message::Mailbox;
use std::path::PathBuf;
use std::time::Duration;

/// The wait after a mail's first failed attempt, doubled after each one.
pub const MAIL_RETRY_BASE: Duration = Duration::from_secs(5);

settings_group! {
    #[command(next_help_heading = "Mail")]
    pub struct MailSettings {
        /// Where mail goes: console (the log, for development), file:DIR (one RFC 5322 file per mail),
        /// smtp://[USER:PASS@]HOST[:PORT][?tls=required] (STARTTLS when required; plain otherwise, for local relays)
        /// or smtps://[USER:PASS@]HOST[:PORT] (implicit TLS).
        #[arg(hide_env_values = true)]
        mail: MailSetting = "console" => secret(MailSetting::parse),

        /// A PEM CA certificate that TLS connections to the SMTP server trust, besides the usual roots.
        smtp_ca_file: Option<PathBuf>,

        /// Attempts to send one mail before it is given up (logged and counted); the waits between them double from 5s, up to 30m.
        mail_max_attempts: u32 = "10" => named(positive),

        /// Internal: the wait after a mail's first failed attempt.
        internal mail_retry_base: Duration = MAIL_RETRY_BASE,

        /// Sender of the mails the service sends, as in `Accounts <accounts@example.com>`.
        mail_from: Mailbox = "webmaster@localhost" => named(parse_mailbox),
    }
}

fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|e| format!("invalid address {text:?}: {e}"))
}
