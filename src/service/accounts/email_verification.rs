//! E-mail verification (`EMAIL_VERIFICATION`, allauth's conventions).
//!
//! Unless the mode is `none`, registering with an address, an admin
//! creating a user with one, and an admin changing a user's address each
//! ask for a verification mail through [`send_verification`], the one call
//! that queues it in the outbox ([`crate::service::shared::outbox`]), whose worker sends
//! it, so no request waits on a mail server; the mail carries a link built from
//! `EMAIL_VERIFICATION_URL` with a signed key
//! ([`crate::domain::email_verification`]) valid for
//! `EMAIL_VERIFICATION_TIMEOUT`.
//!
//! `POST /register/verify-email` sets `email_verified` when the key checks
//! for the user's current, unverified address, with a conditional write:
//! a key works once. `POST /register/resend-email` answers the same for
//! every address, known or not, verified or not, throttled or not: it only
//! counts the request under `EMAIL_VERIFICATION_RESEND_THROTTLE` (per
//! address) and queues the mail for the unverified users of that address.
//!
//! The rule `mandatory` adds to every sign-in is with the sign-in, in
//! [`crate::service::sign_in::credentials::allow_sign_in`].

use crate::config::Settings;
use crate::db::email_verification::{self as queries, VerifyingUser};
use crate::db::events::What;
use crate::domain::email_verification::{make_key, EmailVerification, PresentedKey};
use crate::domain::event::{EventKind, EventSource};
use crate::domain::Timestamp;
use crate::metrics::ThrottledAction;
use crate::service::shared::events;
use crate::service::shared::outbox::{mail_about_accounts, queue_for_users, Mail, MailedAccount};
use crate::service::sign_in::throttle::{count_use, email_scope, mail_request_throttled};
use crate::service::{Error, Services};

use crate::domain::messages::INVALID_KEY;

pub const VERIFICATION_SUBJECT: &str = "Please confirm your e-mail address";

/// At most this many accounts get a link in one resent mail.
pub const MAX_ACCOUNTS_PER_MAIL: i64 = 10;
/// The key purpose under which verification keys are signed.
const KEY_PURPOSE: &str = "email-verification";
/// The outbox's name for these mails.
const MAIL_KIND: &str = "email_verification";

/// A verification mail to send: to one user, or to every unverified user
/// of an address (a resend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationMail {
    User(i64),
    Address(String),
}

/// Queues a verification mail to the user's current address in the outbox,
/// unless `EMAIL_VERIFICATION=none`. Call it after the transaction that set
/// the address committed; users with no address, an address already
/// verified, or no longer active get nothing. A mail that cannot be queued
/// (the database went away) is logged: the change it follows stands, and
/// the user can ask again with `/register/resend-email`.
pub async fn send_verification(services: &Services, user_id: i64) {
    if !services.settings.accounts.email_verification.sends_mail() {
        return;
    }
    if let Err(error) = queue_mail(services, VerificationMail::User(user_id)).await {
        log::warn!(
            "verification mail for user {user_id} not queued: {}",
            error.chain()
        );
    }
}

/// Looks up who `mail` is for and queues one mail in the outbox, with a
/// link for each of them (at most [`MAX_ACCOUNTS_PER_MAIL`]).
async fn queue_mail(services: &Services, mail: VerificationMail) -> Result<(), Error> {
    let signing_key = services.secret_key.derive_key(KEY_PURPOSE);
    let settings = services.settings.clone();
    let find = move |conn: &mut crate::db::AnyConnection| {
        let users: Vec<VerifyingUser> = match mail {
            VerificationMail::User(id) => queries::by_id(conn, id)?.into_iter().collect(),
            VerificationMail::Address(email) => {
                crate::db::users::unverified_by_email(conn, &email, MAX_ACCOUNTS_PER_MAIL)?
            }
        };
        Ok(users
            .into_iter()
            .filter(VerifyingUser::awaits_verification)
            .collect())
    };
    queue_for_users(
        services,
        MAIL_KIND,
        find,
        |user: &VerifyingUser| user.id,
        move |users| verification_mail(&settings, &signing_key, users, Timestamp::now()),
    )
    .await
}

/// Whether registering must give an address: it is the only way a
/// registered user could ever verify one.
pub fn registration_needs_email(settings: &Settings) -> bool {
    settings.accounts.email_verification == EmailVerification::Mandatory
}

/// Whether registering may log the new user in at once.
pub fn registration_may_sign_in(settings: &Settings) -> bool {
    settings.accounts.email_verification != EmailVerification::Mandatory
}

/// `POST /register/resend-email`: queues a mail for `email` unless it is
/// past `EMAIL_VERIFICATION_RESEND_THROTTLE`. A refused request is not an
/// error: the answer is the same either way and nothing is mailed.
pub async fn resend(services: &Services, email: String) -> Result<(), Error> {
    if !services.settings.accounts.email_verification.sends_mail() {
        return Ok(());
    }
    let scope = email_scope("verify", &email);
    let limit = services
        .settings
        .throttles
        .email_verification_resend_throttle;
    match count_use(services, limit, vec![scope.clone()]).await {
        Ok(_) => queue_mail(services, VerificationMail::Address(email)).await,
        Err(Error::Throttled(_)) => {
            mail_request_throttled(
                services,
                ThrottledAction::VerificationResend,
                ("verification resend", "EMAIL_VERIFICATION_RESEND_THROTTLE"),
                &scope,
            );
            Ok(())
        }
        Err(other) => Err(other),
    }
}

/// The user a verification key would verify now (signed, unexpired, for
/// the user's current address, not verified yet), without using it: the
/// hosted page checks a link before it offers to confirm it. Otherwise
/// `{"key": ["Invalid value"]}`.
pub async fn check_key(services: &Services, key: &str) -> Result<VerifyingUser, Error> {
    let invalid = || Error::field("key", INVALID_KEY);
    let presented = PresentedKey::parse(key).ok_or_else(invalid)?;
    let user_id = presented.user_id;
    let user = services
        .db(move |conn| Ok(queries::by_id(conn, user_id)?))
        .await?
        .ok_or_else(invalid)?;
    let signing_key = services.secret_key.derive_key(KEY_PURPOSE);
    let timeout = services.settings.accounts.email_verification_timeout;
    let authentic = presented.is_valid_for(&signing_key, user.address(), Timestamp::now(), timeout);
    if !authentic || !user.awaits_verification() {
        return Err(invalid());
    }
    Ok(user)
}

/// `POST /register/verify-email`: marks the address of the key's user
/// verified. A key that is malformed, forged, expired, already used, or
/// for an address the user no longer has is `{"key": ["Invalid value"]}`.
pub async fn verify(services: &Services, key: &str, source: &EventSource) -> Result<(), Error> {
    let invalid = || Error::field("key", INVALID_KEY);
    let user = check_key(services, key).await?;
    let source = source.clone();
    let marked = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                let marked = queries::mark_verified_at(conn, user.id, user.address())?;
                if marked > 0 {
                    let verified = What::to_user(EventKind::EmailVerified, user.id);
                    events::record(conn, &source, verified, Timestamp::now())?;
                }
                Ok(marked)
            })
        })
        .await?;
    match marked {
        0 => Err(invalid()),
        _ => Ok(()),
    }
}

/// The link for `user`: `EMAIL_VERIFICATION_URL` (by default the hosted
/// page under `PUBLIC_URL`) with `{key}` filled in.
fn verification_link(
    settings: &Settings,
    signing_key: &[u8; 32],
    user: &VerifyingUser,
    now: Timestamp,
) -> String {
    settings
        .accounts
        .email_verification_url(&settings.server.public_url())
        .replace(
            "{key}",
            &make_key(signing_key, user.id, user.address(), now),
        )
}

/// One mail to the address of `users` (all share it, without regard to
/// case; the first one's spelling is used), with a link for each.
fn verification_mail(
    settings: &Settings,
    signing_key: &[u8; 32],
    users: &[VerifyingUser],
    now: Timestamp,
) -> Result<Mail, String> {
    let accounts: Vec<MailedAccount> = users
        .iter()
        .map(|user| MailedAccount {
            email: &user.email,
            username: &user.username,
            link: verification_link(settings, signing_key, user, now),
        })
        .collect();
    mail_about_accounts(
        VERIFICATION_SUBJECT,
        &accounts,
        |username, link| {
            vec![
                format!(
                    "You're receiving this e-mail because user {username} gave this address for their account."
                ),
                String::new(),
                "To confirm that it is yours, go to the following page:".to_owned(),
                String::new(),
                link.to_owned(),
            ]
        },
        &[
            "You're receiving this e-mail because these user accounts gave this address.",
            "",
            "To confirm that it is yours, go to the page of each account:",
        ],
        "If you did not ask for this, ignore this e-mail.",
    )
}
