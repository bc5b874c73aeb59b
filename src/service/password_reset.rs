//! Password reset by mail.
//!
//! `POST /password/reset` only checks the address's shape, counts the
//! request under `PASSWORD_RESET_THROTTLE` (per e-mail address and per
//! client address) and puts it on a bounded queue, so it answers the same,
//! in the same time, whether or not the address belongs to anyone, and
//! whether or not it was over the limit. A background task
//! ([`ResetMailWorker`]) looks the address up and sends one mail to it,
//! with a link for each active user who has it (the ten most recently
//! signed in, when there are more), each carrying a `uid` and a signed,
//! single-use token ([`crate::domain::reset_token`]); a mail that cannot be
//! sent is logged, never turned into an error for the user. `POST /password/reset/confirm` checks the token, the new password,
//! and sets it, revoking every token of the user.

use super::throttle::{address_scope, count_use, reset_email_scope};
use super::{Error, Services};
use crate::db::users::{self as accounts, ResetUser};
use crate::domain::reset_token::{check_token, decode_uid, encode_uid, make_token, ResetSubject};
use crate::domain::{FieldErrors, Password, Timestamp};
use crate::mail::MailBackend;
use crate::metrics::{RevocationCause, ThrottledAction};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

pub const RESET_SENT: &str = "Password reset e-mail has been sent.";
pub const RESET_DONE: &str = "Password has been reset with the new password.";
pub const INVALID_VALUE: &str = "Invalid value";
pub const RESET_SUBJECT: &str = "Password reset";

/// At most this many accounts are listed in one mail: the address is not
/// verified, so anyone could give it to any number of accounts.
pub const MAX_ACCOUNTS_PER_MAIL: usize = 10;

/// The key purpose under which reset tokens are signed.
const KEY_PURPOSE: &str = "password-reset";
/// Requests waiting for their mail; beyond this they are dropped (and
/// logged), so a flood of requests cannot grow memory without bound.
const QUEUE_CAPACITY: usize = 1024;

/// The request side of the queue, held in the application services.
#[derive(Clone)]
pub struct ResetMailQueue(mpsc::Sender<String>);

/// The delivery side of the queue, run once in the background by
/// `jobs::send_reset_mails`.
pub struct ResetMailWorker {
    jobs: mpsc::Receiver<String>,
    backend: Arc<dyn MailBackend>,
}

pub fn queue(backend: Arc<dyn MailBackend>) -> (ResetMailQueue, ResetMailWorker) {
    let (sender, jobs) = mpsc::channel(QUEUE_CAPACITY);
    (ResetMailQueue(sender), ResetMailWorker { jobs, backend })
}

impl ResetMailQueue {
    /// Queues a reset mail for `email`; never waits.
    pub fn request(&self, email: String) {
        match self.0.try_send(email) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                log::warn!("password-reset request dropped: {QUEUE_CAPACITY} mails already queued");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                log::error!("password-reset request dropped: the mail worker is not running");
            }
        }
    }
}

/// `POST /password/reset`: queues the mail for `email`, asked for from
/// `address`, unless either is past `PASSWORD_RESET_THROTTLE`. A refused
/// request is not an error: the client gets the same answer either way,
/// so it learns nothing about the address, and nothing is mailed.
pub async fn request_reset(
    services: &Services,
    email: String,
    address: Option<IpAddr>,
) -> Result<(), Error> {
    let email_scope = reset_email_scope(&email);
    let mut scopes = vec![email_scope.clone()];
    scopes.extend(address.map(|address| address_scope("reset", address)));
    match count_use(services, services.settings.password_reset_throttle, scopes).await {
        Ok(_) => {
            services.reset_mails.request(email);
            Ok(())
        }
        Err(Error::Throttled(_)) => {
            services.metrics.throttled(ThrottledAction::PasswordReset);
            // The e-mail address only as a prefix of its scope's digest,
            // enough to tell repeated requests apart.
            let digest = email_scope.rsplit(':').next().unwrap_or_default();
            log::info!(
                "password-reset request over PASSWORD_RESET_THROTTLE (e-mail sha256 {}…): no mail sent",
                digest.get(..12).unwrap_or(digest)
            );
            Ok(())
        }
        Err(other) => Err(other),
    }
}

impl ResetMailWorker {
    /// The next address a reset was requested for; `None` once the server stops.
    pub async fn next_request(&mut self) -> Option<String> {
        self.jobs.recv().await
    }

    /// Mails one reset mail to `email`, with a link for each of its users.
    pub async fn send(&self, services: &Services, email: String) -> Result<(), Error> {
        send_reset_mail(services, self.backend.as_ref(), email).await
    }
}

/// The users a reset mail lists: the most recently signed in first (never
/// signed in last, then by age), at most [`MAX_ACCOUNTS_PER_MAIL`].
fn listed_in_mail(mut users: Vec<ResetUser>) -> Vec<ResetUser> {
    users.sort_by_key(|user| (std::cmp::Reverse(user.last_login_at), user.id));
    users.truncate(MAX_ACCOUNTS_PER_MAIL);
    users
}

async fn send_reset_mail(
    services: &Services,
    backend: &dyn MailBackend,
    email: String,
) -> Result<(), Error> {
    let users = services
        .db(move |conn| Ok(accounts::active_by_email(conn, &email)?))
        .await?;
    let users = listed_in_mail(users);
    if users.is_empty() {
        return Ok(());
    }
    let ids = users
        .iter()
        .map(|user| user.id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let whom = if users.len() == 1 {
        format!("user {ids}")
    } else {
        format!("users {ids}")
    };
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    let message = match reset_message(services, &users, &key, Timestamp::now()) {
        Ok(message) => message,
        Err(error) => {
            log::error!("password-reset mail for {whom} not built: {error}");
            return Ok(());
        }
    };
    match backend.send(&message).await {
        Ok(()) => log::info!("password-reset mail sent for {whom}"),
        Err(error) => log::error!("password-reset mail for {whom} not sent: {error}"),
    }
    Ok(())
}

fn subject(user: &ResetUser) -> ResetSubject<'_> {
    ResetSubject {
        user_id: user.id,
        password_hash: &user.password_hash,
        last_login_at: user.last_login_at,
        email: &user.email,
    }
}

/// The link for `user`: `PASSWORD_RESET_URL` with `{uid}` and `{token}` filled in.
pub fn reset_link(services: &Services, user: &ResetUser, key: &[u8; 32], now: Timestamp) -> String {
    services
        .settings
        .password_reset_url
        .replace("{uid}", &encode_uid(user.id))
        .replace("{token}", &make_token(key, &subject(user), now))
}

/// One mail to the address of `users` (all share it, without regard to
/// case; the first one's spelling is used), with a link for each.
fn reset_message(
    services: &Services,
    users: &[ResetUser],
    key: &[u8; 32],
    now: Timestamp,
) -> Result<Message, String> {
    let first = users.first().ok_or("no user to mail")?;
    let to: Mailbox = first
        .email
        .parse()
        .map_err(|e| format!("the stored address is not deliverable: {e}"))?;
    let mut lines = Vec::new();
    if let [user] = users {
        lines.extend([
            "You're receiving this e-mail because a password reset was requested for your user account.".to_owned(),
            String::new(),
            "Go to the following page and choose a new password:".to_owned(),
            String::new(),
            reset_link(services, user, key, now),
            String::new(),
            format!("Your username, in case you've forgotten: {}", user.username),
        ]);
    } else {
        lines.extend([
            "You're receiving this e-mail because a password reset was requested for the user accounts with this address.".to_owned(),
            String::new(),
            "Go to the page of the account whose password you want to reset, and choose a new password:".to_owned(),
        ]);
        for user in users {
            lines.extend([
                String::new(),
                format!("Username: {}", user.username),
                reset_link(services, user, key, now),
            ]);
        }
    }
    lines.extend([
        String::new(),
        "If you did not ask for this, ignore this e-mail: your password stays as it is.".to_owned(),
        String::new(),
    ]);
    let text = lines.join("\r\n");
    // The link stays on one line, as readers of `file:` mails and scripts
    // expect: lettre would choose quoted-printable for a line over 76
    // characters, which breaks it with soft line breaks. Every line is far
    // below RFC 5322's 998 (usernames have at most 150 characters, the URL
    // is the operator's), and there is no NUL, so 7bit/8bit is valid.
    let encoding = if text.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    Message::builder()
        .from(services.settings.mail_from.clone())
        .to(to)
        .subject(RESET_SUBJECT)
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(Body::dangerous_pre_encoded(text.into_bytes(), encoding))
        .map_err(|e| e.to_string())
}

/// The fields of a confirmation as they came, after the body's own checks.
pub struct ConfirmRequest {
    pub uid: Option<String>,
    pub token: Option<String>,
    pub new_password: Option<Password>,
}

/// Sets the new password if the link is valid; returns how many tokens of
/// the user were revoked.
pub async fn confirm_reset(
    services: &Services,
    request: ConfirmRequest,
    errors: FieldErrors,
) -> Result<usize, Error> {
    errors.into_result()?;
    let (Some(uid), Some(token), Some(new_password)) =
        (request.uid, request.token, request.new_password)
    else {
        return Err(Error::internal("validated confirmation fields missing"));
    };
    let invalid = |field: &str| Error::field(field, INVALID_VALUE);
    let user_id = decode_uid(&uid).ok_or_else(|| invalid("uid"))?;
    let user = services
        .db(move |conn| Ok(accounts::reset_user_by_id(conn, user_id)?))
        .await?
        .ok_or_else(|| invalid("uid"))?;
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    let timeout = services.settings.password_reset_timeout;
    if !user.is_active || !check_token(&key, &subject(&user), &token, Timestamp::now(), timeout) {
        return Err(invalid("token"));
    }
    let problems = new_password.problems_as_new_password(&user.username, &user.email);
    if !problems.is_empty() {
        let mut errors = FieldErrors::new();
        for problem in problems {
            errors.add("new_password", problem);
        }
        return Err(Error::Invalid(errors));
    }
    let new_hash = services.hasher.hash(new_password).await?;
    let revoked = services
        .db(move |conn| {
            Ok(accounts::replace_password_and_revoke_tokens(
                conn,
                user.id,
                &user.password_hash,
                &new_hash,
            )?)
        })
        .await?;
    // `None`: the password changed since the check (a concurrent use of
    // the same link), which spent the token.
    let revoked = revoked.ok_or_else(|| invalid("token"))?;
    services.metrics.revoked(RevocationCause::Password, revoked);
    Ok(revoked)
}
