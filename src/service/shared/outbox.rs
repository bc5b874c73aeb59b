//! The durable mail outbox. A use case that sends mail builds a [`Mail`]
//! and calls [`Outbox::enqueue`] with the connection of its own
//! transaction, so the mail is queued if and only if the change that causes
//! it commits; then [`Outbox::wake`] once it has committed. A background
//! worker (`jobs::send_mails`, one per serving process) claims due mails
//! ([`deliver_due`]), sends them, and deletes each one sent; a failure is
//! tried again with exponential backoff, and after `MAIL_MAX_ATTEMPTS` the
//! mail is given up with a log line and `mails_total{outcome="gave_up"}`.
//!
//! Mails survive restarts (they are rows), and several instances on one
//! database never send the same mail twice while they run: a claim takes a
//! mail for a lease (`db::outbox::claim_due`, `SKIP LOCKED` on PostgreSQL).
//! An instance killed in the middle of a send leaves its mail claimed until
//! the lease ends; then another tries it again, so such a mail may arrive
//! twice (at least once, never lost).
//!
//! Mails may carry secret links, so rows hold them sealed: AES-256-GCM
//! under a key derived from `SECRET_KEY` with HKDF-SHA256, with the mail's
//! kind as associated data. Neither a mail's text nor its address is logged.

use crate::db::{outbox as queries, AnyConnection};
use crate::domain::sealed::Sealer;
use crate::domain::{SecretKey, Timestamp};
use crate::mail::MailBackend;
use crate::metrics::MailOutcome;
use crate::service::{Error, Services};
use diesel::QueryResult;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a worker holds a claimed mail: far longer than one send may take
/// (each SMTP step times out after 10 s).
pub const LEASE: Duration = Duration::from_secs(120);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// Mails one claim takes at most.
const CLAIM_BATCH: i64 = 20;

/// One plain-text mail. `Debug` shows neither its address nor its text.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What a row holds, once opened.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    to: String,
    subject: String,
    text: String,
}

impl Mail {
    /// The message as sent, from `from`.
    pub fn message(&self, from: &Mailbox) -> Result<Message, String> {
        // Links stay on one line, as readers of `file:` mails and scripts
        // expect: lettre would choose quoted-printable for a line over 76
        // characters, which breaks it with soft line breaks. Our mails'
        // lines are far below RFC 5322's 998 and hold no NUL, so 7bit/8bit
        // is valid.
        let encoding = if self.text.is_ascii() {
            ContentTransferEncoding::SevenBit
        } else {
            ContentTransferEncoding::EightBit
        };
        Message::builder()
            .from(from.clone())
            .to(self.to.clone())
            .subject(self.subject.clone())
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(Body::dangerous_pre_encoded(
                self.text.clone().into_bytes(),
                encoding,
            ))
            .map_err(|e| e.to_string())
    }
}

/// Queues the mail `build` makes for the users `find` returns, then wakes
/// the worker; nothing when `find` returns nobody. The lookup and the row
/// are one database call without a transaction: the mail is its only write
/// (and on SQLite a read before a write in one would risk SQLITE_BUSY). A
/// mail that cannot be built is logged; logs name users by id (`id_of`),
/// never by address.
pub async fn queue_for_users<U, Find, Build>(
    services: &Services,
    kind: &'static str,
    find: Find,
    id_of: fn(&U) -> i64,
    build: Build,
) -> Result<(), Error>
where
    U: Send + 'static,
    Find: FnOnce(&mut AnyConnection) -> Result<Vec<U>, Error> + Send + 'static,
    Build: FnOnce(&[U]) -> Result<Mail, String> + Send + 'static,
{
    let outbox = services.outbox.clone();
    let queued = services
        .db(move |conn| {
            let users = find(conn)?;
            if users.is_empty() {
                return Ok(None);
            }
            let whom = whom(users.iter().map(id_of));
            match build(&users) {
                Ok(mail) => {
                    outbox.enqueue(conn, kind, &mail)?;
                    Ok(Some(whom))
                }
                Err(error) => {
                    log::error!("{kind} mail for {whom} not built: {error}");
                    Ok(None)
                }
            }
        })
        .await?;
    if let Some(whom) = queued {
        services.outbox.wake();
        log::info!("{kind} mail queued for {whom}");
    }
    Ok(())
}

/// A stored address as a mail's recipient; one that does not parse cannot
/// be mailed (the mail is then not built, see [`queue_for_users`]).
pub fn deliverable(email: &str) -> Result<Mailbox, String> {
    email
        .parse()
        .map_err(|e| format!("the stored address is not deliverable: {e}"))
}

/// One account a mail to an address lists (see [`mail_about_accounts`]).
pub struct MailedAccount<'a> {
    pub email: &'a str,
    pub username: &'a str,
    /// What the mail asks to open for this account.
    pub link: String,
}

/// One mail to the address `accounts` share (without regard to case; the
/// first one's spelling is used): `one` is the text for a single account,
/// given its username and link; for several, the `several` lines come
/// first, then each account's username and link. `closing` ends either.
/// Lines end with CRLF, as mail's do.
pub fn mail_about_accounts(
    subject: &str,
    accounts: &[MailedAccount<'_>],
    one: impl FnOnce(&str, &str) -> Vec<String>,
    several: &[&str],
    closing: &str,
) -> Result<Mail, String> {
    let first = accounts.first().ok_or("no user to mail")?;
    let to = deliverable(first.email)?;
    let mut lines = Vec::new();
    if let [account] = accounts {
        lines.extend(one(account.username, &account.link));
    } else {
        lines.extend(several.iter().map(|line| (*line).to_owned()));
        for account in accounts {
            lines.extend([
                String::new(),
                format!("Username: {}", account.username),
                account.link.clone(),
            ]);
        }
    }
    lines.extend([String::new(), closing.to_owned(), String::new()]);
    Ok(Mail {
        to,
        subject: subject.to_owned(),
        text: lines.join("\r\n"),
    })
}

/// The users named by id, as logs name them.
fn whom(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    match ids.len() {
        1 => format!("user {}", ids.join(", ")),
        _ => format!("users {}", ids.join(", ")),
    }
}

/// The queue side, held in [`Services`]: seals and stores mails, and wakes
/// the worker.
#[derive(Clone)]
pub struct Outbox {
    sealer: Arc<Sealer>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(secret: &SecretKey) -> Self {
        Outbox {
            sealer: Arc::new(Sealer::new(secret, "mail outbox")),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues `mail`, of `kind` (a fixed word such as `password-reset`,
    /// shown in logs and metrics), on `conn`: call it inside the transaction
    /// of the change that causes the mail, then [`Self::wake`] after it.
    pub fn enqueue(&self, conn: &mut AnyConnection, kind: &str, mail: &Mail) -> Result<(), Error> {
        let sealed = self.seal(kind, mail)?;
        queries::insert(conn, kind, &sealed, Timestamp::now().millis())?;
        Ok(())
    }

    /// Tells the worker there is mail, so it need not wait for its next round.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits for a [`Self::wake`] or `at_most`, whichever comes first.
    pub async fn woken(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.wake.notified()).await;
    }

    fn seal(&self, kind: &str, mail: &Mail) -> Result<Vec<u8>, Error> {
        let stored = serde_json::to_vec(&Stored {
            to: mail.to.to_string(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
        })
        .map_err(|e| Error::Internal(Box::new(e)))?;
        self.sealer
            .seal(kind.as_bytes(), &stored)
            .ok_or_else(|| Error::internal("cannot seal a mail"))
    }

    fn open(&self, kind: &str, sealed: &[u8]) -> Result<Mail, String> {
        let plain = self
            .sealer
            .open(kind.as_bytes(), sealed)
            .ok_or("the stored mail cannot be opened (was SECRET_KEY changed?)")?;
        let stored: Stored =
            serde_json::from_slice(&plain).map_err(|_| "the stored mail is not readable")?;
        Ok(Mail {
            to: stored
                .to
                .parse()
                .map_err(|_| "the stored address is not deliverable")?,
            subject: stored.subject,
            text: stored.text,
        })
    }
}

/// The wait before attempt `attempts + 1`: `base`, doubled after each
/// failure, at most `MAX_BACKOFF`.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1_u32 << doublings).min(MAX_BACKOFF)
}

/// The queries of one outbox table (the mails', the webhook deliveries'),
/// for its worker: claim the rows due for a lease, then end each attempt.
pub struct Table<Row> {
    pub claim_due: fn(&mut AnyConnection, i64, i64, i64) -> QueryResult<Vec<Row>>,
    pub retry_at: fn(&mut AnyConnection, i64, i64) -> QueryResult<usize>,
    pub delete: fn(&mut AnyConnection, i64) -> QueryResult<usize>,
    /// How long a worker holds the rows it claimed: more than sending them
    /// may take.
    pub lease: Duration,
    /// Rows one claim takes at most (sent one after the other).
    pub batch: i64,
}

impl<Row: Send + 'static> Table<Row> {
    /// One round of the worker: claims the rows due and hands each to
    /// `deliver` in turn. Returns how many it claimed.
    pub async fn deliver_due<Deliver, Delivered>(
        &self,
        services: &Services,
        mut deliver: Deliver,
    ) -> Result<usize, Error>
    where
        Deliver: FnMut(Row) -> Delivered,
        Delivered: Future<Output = Result<(), Error>>,
    {
        let (claim_due, lease, batch) = (self.claim_due, self.lease, self.batch);
        let claimed = services
            .db(move |conn| {
                let now = Timestamp::now();
                Ok(claim_due(
                    conn,
                    now.millis(),
                    now.plus(lease).millis(),
                    batch,
                )?)
            })
            .await?;
        let count = claimed.len();
        for row in claimed {
            deliver(row).await?;
        }
        Ok(count)
    }

    /// Ends an attempt at row `id`: it is put back to be tried again at
    /// `retry_at` when there is one, deleted otherwise (done, or given up).
    pub async fn settle(
        &self,
        services: &Services,
        id: i64,
        retry_at: Option<i64>,
    ) -> Result<(), Error> {
        let (retry, delete) = (self.retry_at, self.delete);
        services
            .db(move |conn| {
                Ok(match retry_at {
                    Some(at) => retry(conn, id, at)?,
                    None => delete(conn, id)?,
                })
            })
            .await?;
        Ok(())
    }
}

/// The mail outbox's table.
const MAILS: Table<queries::Claimed> = Table {
    claim_due: queries::claim_due,
    retry_at: queries::retry_at,
    delete: queries::delete,
    lease: LEASE,
    batch: CLAIM_BATCH,
};

/// One round of the mail worker: claims the mails due, sends each through
/// `backend`, and records how it went. Returns how many it claimed.
pub async fn deliver_due(services: &Services, backend: &dyn MailBackend) -> Result<usize, Error> {
    MAILS
        .deliver_due(services, move |mail| deliver(services, backend, mail))
        .await
}

async fn deliver(
    services: &Services,
    backend: &dyn MailBackend,
    claimed: queries::Claimed,
) -> Result<(), Error> {
    let queries::Claimed {
        id, kind, attempts, ..
    } = claimed;
    let sent = match services.outbox.open(&kind, &claimed.sealed) {
        Ok(mail) => match mail.message(&services.settings.mail.mail_from) {
            Ok(message) => backend.send(&message).await.map_err(|e| (e.0, true)),
            Err(error) => Err((format!("the mail cannot be built: {error}"), false)),
        },
        Err(error) => Err((error, false)),
    };
    let max_attempts = i64::from(services.settings.mail.mail_max_attempts);
    let retry_in = match &sent {
        Err((_, true)) if attempts < max_attempts => {
            Some(backoff(services.settings.mail.mail_retry_base, attempts))
        }
        _ => None,
    };
    let retry_at = retry_in.map(|wait| Timestamp::now().plus(wait).millis());
    MAILS.settle(services, id, retry_at).await?;
    match (sent, retry_in) {
        (Ok(()), _) => {
            services.metrics.mail(MailOutcome::Sent);
            log::info!("{kind} mail #{id} sent (attempt {attempts})");
        }
        (Err((error, _)), Some(wait)) => {
            services.metrics.mail(MailOutcome::Retried);
            log::warn!(
                "{kind} mail #{id} not sent (attempt {attempts} of {max_attempts}), trying again in {}s: {error}",
                wait.as_secs_f64().ceil()
            );
        }
        (Err((error, _)), None) => {
            services.metrics.mail(MailOutcome::GaveUp);
            log::error!("{kind} mail #{id} given up after {attempts} attempt(s): {error}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            to: "alice@example.com"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            subject: "Password reset".into(),
            text: "https://example.com/reset?token=s3cret".into(),
        }
    }

    #[test]
    fn a_sealed_mail_opens_with_the_same_key_and_kind_only() {
        let outbox = Outbox::new(&SecretKey::unchecked(&"k".repeat(40)));
        let sealed = outbox.seal("password-reset", &mail()).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
        assert!(!String::from_utf8_lossy(&sealed).contains("alice"));
        assert_eq!(outbox.open("password-reset", &sealed), Ok(mail()));
        assert!(outbox.open("other-kind", &sealed).is_err());
        let other = Outbox::new(&SecretKey::unchecked(&"j".repeat(40)));
        assert!(other.open("password-reset", &sealed).is_err());
        assert!(outbox.open("password-reset", &sealed[..5]).is_err());
    }

    #[test]
    fn debug_shows_neither_address_nor_text() {
        let shown = format!("{:?}", mail());
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_limit() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 4), Duration::from_secs(40));
        assert_eq!(backoff(base, 60), MAX_BACKOFF);
    }
}
