//! Password reset by mail.
//!
//! `POST /password/reset` checks the address's shape, counts the request
//! under `PASSWORD_RESET_THROTTLE` (per e-mail address and per client
//! address) and, within the limit, looks the address up and queues one
//! mail to it in the outbox ([`crate::service::shared::outbox`]), with a link for each
//! active user who has it (the ten most recently signed in, when there are
//! more), each carrying a `uid` and a signed, single-use token
//! ([`crate::domain::reset_token`]). It answers the same whether or not the
//! address belongs to anyone, and whether or not it was over the limit; the
//! outbox's worker sends the mail, and a mail that cannot be sent is
//! logged, never turned into an error for the user.
//! `POST /password/reset/confirm` checks the token, the new password, and
//! sets it, revoking every token of the user.

use crate::config::Settings;
use crate::db::events::What;
use crate::db::users::{self as accounts, ResetUser};
use crate::domain::event::{EventKind, EventSource, RevokedBy};
use crate::domain::reset_token::{check_token, decode_uid, encode_uid, make_token, ResetSubject};
use crate::domain::{FieldErrors, Password, Timestamp};
use crate::metrics::{RevocationCause, ThrottledAction};
use crate::service::shared::events;
use crate::service::shared::outbox::{mail_about_accounts, queue_for_users, Mail, MailedAccount};
use crate::service::sign_in::throttle::{
    address_scope, count_use, email_scope, mail_request_throttled,
};
use crate::service::{Error, Services};
use std::net::IpAddr;

use crate::domain::messages::INVALID_VALUE;

pub const RESET_SUBJECT: &str = "Password reset";

/// At most this many accounts are listed in one mail: the address is not
/// verified, so anyone could give it to any number of accounts.
pub const MAX_ACCOUNTS_PER_MAIL: usize = 10;

/// The key purpose under which reset tokens are signed.
const KEY_PURPOSE: &str = "password-reset";
/// The outbox's name for these mails.
const MAIL_KIND: &str = "password-reset";

/// `POST /password/reset`: queues the mail for `email`, asked for from
/// `address`, unless either is past `PASSWORD_RESET_THROTTLE`. A refused
/// request is not an error: the client gets the same answer either way,
/// so it learns nothing about the address, and nothing is mailed.
pub async fn request_reset(
    services: &Services,
    email: String,
    address: Option<IpAddr>,
) -> Result<(), Error> {
    let email_scope = email_scope("reset", &email);
    let mut scopes = vec![email_scope.clone()];
    scopes.extend(address.map(|address| address_scope("reset", address)));
    match count_use(
        services,
        services.settings.throttles.password_reset_throttle,
        scopes,
    )
    .await
    {
        Ok(_) => queue_reset_mail(services, email).await,
        Err(Error::Throttled(_)) => {
            mail_request_throttled(
                services,
                ThrottledAction::PasswordReset,
                ("password-reset request", "PASSWORD_RESET_THROTTLE"),
                &email_scope,
            );
            Ok(())
        }
        Err(other) => Err(other),
    }
}

/// The users a reset mail lists: the most recently signed in first (never
/// signed in last, then by age), at most [`MAX_ACCOUNTS_PER_MAIL`].
fn listed_in_mail(mut users: Vec<ResetUser>) -> Vec<ResetUser> {
    users.sort_by_key(|user| (std::cmp::Reverse(user.last_login_at), user.id));
    users.truncate(MAX_ACCOUNTS_PER_MAIL);
    users
}

/// Looks `email` up and queues one mail to it, if it has any active user.
async fn queue_reset_mail(services: &Services, email: String) -> Result<(), Error> {
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    let settings = services.settings.clone();
    queue_for_users(
        services,
        MAIL_KIND,
        move |conn| Ok(listed_in_mail(accounts::active_by_email(conn, &email)?)),
        |user: &ResetUser| user.id,
        move |users| reset_mail(&settings, users, &key, Timestamp::now()),
    )
    .await
}

/// What became of an admin's request to mail a user a reset link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminResetMail {
    Queued,
    /// The user has no address to mail.
    NoEmail,
    /// A reset link would not work for an inactive user.
    Inactive,
    /// The stored address cannot be written as a recipient: nothing was sent.
    Undeliverable,
}

/// An admin's "send a password-reset mail" for one user: the mail and link
/// of `POST /password/reset`, to that user only (not every account sharing
/// the address), through the outbox, recorded as `password_reset_mailed`.
/// No throttle: only admins can ask, one user at a time.
pub async fn send_reset_to_user(
    services: &Services,
    user_id: i64,
    source: &EventSource,
) -> Result<AdminResetMail, Error> {
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    let settings = services.settings.clone();
    let outbox = services.outbox.clone();
    let source = source.clone();
    // The user's state, the mail and its event in one transaction: the
    // event says a mail was queued only when one was, for a user who was
    // active and had an address at that moment.
    let outcome = services
        .db(move |conn| {
            crate::db::transaction(conn, |conn| {
                let user = accounts::reset_user_by_id(conn, user_id)?.ok_or(Error::NotFound)?;
                if user.email.is_empty() {
                    return Ok(AdminResetMail::NoEmail);
                }
                if !user.is_active {
                    return Ok(AdminResetMail::Inactive);
                }
                let mail = match reset_mail(&settings, &[user], &key, Timestamp::now()) {
                    Ok(mail) => mail,
                    Err(error) => {
                        log::error!("{MAIL_KIND} mail for user {user_id} not built: {error}");
                        return Ok(AdminResetMail::Undeliverable);
                    }
                };
                outbox.enqueue(conn, MAIL_KIND, &mail)?;
                let mailed = What::to_user(EventKind::PasswordResetMailed, user_id);
                events::record(conn, &source, mailed, Timestamp::now())?;
                Ok(AdminResetMail::Queued)
            })
        })
        .await?;
    if outcome == AdminResetMail::Queued {
        services.outbox.wake();
        log::info!("{MAIL_KIND} mail queued for user {user_id}");
    }
    Ok(outcome)
}

fn subject(user: &ResetUser) -> ResetSubject<'_> {
    ResetSubject {
        user_id: user.id,
        password_hash: &user.password_hash,
        last_login_at: user.last_login_at,
        email: &user.email,
        email_changes: user.email_changes,
    }
}

/// The link for `user`: `PASSWORD_RESET_URL` (by default the hosted page
/// under `PUBLIC_URL`) with `{uid}` and `{token}` filled in.
pub fn reset_link(settings: &Settings, user: &ResetUser, key: &[u8; 32], now: Timestamp) -> String {
    settings
        .accounts
        .password_reset_url(&settings.server.public_url())
        .replace("{uid}", &encode_uid(user.id))
        .replace("{token}", &make_token(key, &subject(user), now))
}

/// One mail to the address of `users` (all share it, without regard to
/// case; the first one's spelling is used), with a link for each.
fn reset_mail(
    settings: &Settings,
    users: &[ResetUser],
    key: &[u8; 32],
    now: Timestamp,
) -> Result<Mail, String> {
    let accounts: Vec<MailedAccount> = users
        .iter()
        .map(|user| MailedAccount {
            email: &user.email,
            username: &user.username,
            link: reset_link(settings, user, key, now),
        })
        .collect();
    mail_about_accounts(
        RESET_SUBJECT,
        &accounts,
        |username, link| {
            vec![
                "You're receiving this e-mail because a password reset was requested for your user account.".to_owned(),
                String::new(),
                "Go to the following page and choose a new password:".to_owned(),
                String::new(),
                link.to_owned(),
                String::new(),
                format!("Your username, in case you've forgotten: {username}"),
            ]
        },
        &[
            "You're receiving this e-mail because a password reset was requested for the user accounts with this address.",
            "",
            "Go to the page of the account whose password you want to reset, and choose a new password:",
        ],
        "If you did not ask for this, ignore this e-mail: your password stays as it is.",
    )
}

/// A confirmation: the `uid` and `token` of a reset mail's link, checked
/// here, and the new password.
pub struct ConfirmRequest {
    pub uid: String,
    pub token: String,
    pub new_password: Password,
}

/// The user of a reset link whose `uid` and `token` are still good (the
/// user active, the token signed, unexpired and unspent), without spending
/// it: the hosted page checks a link before it asks for a password.
/// Otherwise `{"uid"|"token": ["Invalid value"]}`.
pub async fn check_link(services: &Services, uid: &str, token: &str) -> Result<ResetUser, Error> {
    let invalid = |field: &str| Error::field(field, INVALID_VALUE);
    let user_id = decode_uid(uid).ok_or_else(|| invalid("uid"))?;
    let user = services
        .db(move |conn| Ok(accounts::reset_user_by_id(conn, user_id)?))
        .await?
        .ok_or_else(|| invalid("uid"))?;
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    let timeout = services.settings.accounts.password_reset_timeout;
    if !user.is_active || !check_token(&key, &subject(&user), token, Timestamp::now(), timeout) {
        return Err(invalid("token"));
    }
    Ok(user)
}

/// Sets the new password if the link is valid; returns how many tokens of
/// the user were revoked.
pub async fn confirm_reset(
    services: &Services,
    request: ConfirmRequest,
    source: &EventSource,
) -> Result<usize, Error> {
    let ConfirmRequest {
        uid,
        token,
        new_password,
    } = request;
    let invalid = |field: &str| Error::field(field, INVALID_VALUE);
    let user = check_link(services, &uid, &token).await?;
    let problems = new_password.problems_as_new_password(&user.username, &user.email);
    if !problems.is_empty() {
        let mut errors = FieldErrors::new();
        for problem in problems {
            errors.add("new_password", problem);
        }
        return Err(Error::Invalid(errors));
    }
    let new_hash = services.hasher.hash(new_password).await?;
    let source = source.clone();
    let revoked = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                let replaced = accounts::replace_password_and_revoke_tokens(
                    conn,
                    user.id,
                    &user.password_hash,
                    &new_hash,
                )?;
                let Some(revoked) = replaced else {
                    return Ok(None);
                };
                let now = Timestamp::now();
                let reset = What::to_user(EventKind::PasswordReset, user.id);
                events::record(conn, &source, reset, now)?;
                events::revoked(conn, &source, RevokedBy::PasswordReset, &revoked, now).map(Some)
            })
        })
        .await?;
    // `None`: the password changed since the check (a concurrent use of
    // the same link), which spent the token.
    let revoked = revoked.ok_or_else(|| invalid("token"))?;
    services.metrics.revoked(RevocationCause::Password, revoked);
    Ok(revoked)
}
