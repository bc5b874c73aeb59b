//! Signing in with a password: under the login throttle, through the one
//! credential check and the second factor (when the user has one), with the
//! outcome counted here and nowhere else. The
//! API's login then gives the (user, client) pair a new token; the console's
//! sign-in requires an admin.

use super::credentials::allow_sign_in;
use super::credentials::{self, Credentials};
use super::device_key::SignInDevice;
use super::throttle::{under_throttle, Guess};
use super::two_factor;
use crate::db::events::What;
use crate::db::users;
use crate::domain::event::{EventKind, EventSource};
use crate::domain::messages::REQUIRED_FOR_ADMINS;
use crate::domain::oidc::Via;
use crate::domain::{Password, Timestamp};
use crate::metrics::LoginOutcome;
use crate::service::shared::events;
use crate::service::tokens::{self, IssuedToken};
use crate::service::{Error, Services};
use std::future::Future;

pub struct LoginRequest {
    pub username: String,
    pub password: Password,
    /// The device signing in, and the key it asks for.
    pub device: SignInDevice,
}

/// `POST /login`: a new token for the client, replacing the one it had.
pub async fn login(
    services: &Services,
    request: LoginRequest,
    source: &EventSource,
) -> Result<IssuedToken, Error> {
    let LoginRequest {
        username,
        password,
        device,
    } = request;
    let SignInDevice {
        key,
        otp,
        device_proofs,
    } = device;
    key.check(&services.settings)?;
    let limits = tokens::IssueLimits::of(&services.settings);
    let guess = Guess::sign_in("login", &username, &device_proofs, source);
    let issued = sign_in(services, guess, password, otp, |user| async move {
        let source = source.clone();
        services
            .db(move |conn| {
                limits.issue(
                    conn,
                    user.user_id,
                    user.checked(),
                    key.grant(&source),
                    &Via::Password,
                )
            })
            .await
    })
    .await?;
    super::new_device::tell_if_new(services, &issued, source).await;
    Ok(issued)
}

/// The console's sign-in: the same check, the same throttle and counts as
/// `POST /login`, for admins only (`PermissionDenied` for anyone else, after
/// the password was checked).
pub async fn console_sign_in(
    services: &Services,
    username: &str,
    password: Password,
    otp: Option<String>,
    device_proofs: &[String],
    source: &EventSource,
) -> Result<Credentials, Error> {
    let guess = Guess::sign_in("console", username, device_proofs, source);
    sign_in(services, guess, password, otp, |user| async move {
        if !user.is_admin {
            return Err(Error::PermissionDenied);
        }
        if services.settings.two_factor.require_2fa_for_admins && !user.two_factor {
            return Err(Error::Forbidden(REQUIRED_FOR_ADMINS));
        }
        // Recorded like an API login, so that the console shows it and reset
        // links issued before it are spent (they are bound to the last login).
        let (user_id, checked_hash) = (user.user_id, user.checked_hash.clone());
        let rehashed = user.rehashed.clone();
        let source = source.clone();
        let recorded = services
            .db(move |conn| {
                crate::db::transaction::<_, Error, _>(conn, |conn| {
                    let now = Timestamp::now();
                    let recorded = users::record_login_if_unchanged(
                        conn,
                        user_id,
                        &checked_hash,
                        rehashed.as_deref(),
                        now.millis(),
                    )?;
                    if recorded > 0 {
                        let login = What::to_user(EventKind::Login, user_id).detail("console");
                        events::record(conn, &source, login, now)?;
                    }
                    Ok(recorded)
                })
            })
            .await?;
        match recorded {
            0 => Err(Error::BadCredentials),
            _ => Ok(user),
        }
    })
    .await
}

/// The sign-in of the hosted `/device` page, which approves a device's
/// request: the same check, throttle and counts as `POST /login`, for any
/// user; it issues nothing itself.
pub async fn device_page_sign_in(
    services: &Services,
    username: &str,
    password: Password,
    otp: Option<String>,
    source: &EventSource,
) -> Result<Credentials, Error> {
    let guess = Guess::sign_in("device", username, &[], source);
    sign_in(
        services,
        guess,
        password,
        otp,
        |user| async move { Ok(user) },
    )
    .await
}

/// Checks the password, then the second factor, under the throttle; then
/// runs `then` with the user; counts how it went.
async fn sign_in<T, F, Next>(
    services: &Services,
    guess: Guess<'_>,
    password: Password,
    otp: Option<String>,
    then: F,
) -> Result<T, Error>
where
    F: FnOnce(Credentials) -> Next,
    Next: Future<Output = Result<T, Error>>,
{
    let username = guess.username;
    let outcome = under_throttle(services, guess, async {
        let user = credentials::verify(services, username, password).await?;
        two_factor::check_sign_in(services, &user, otp.as_deref()).await?;
        allow_sign_in(&services.settings, &user.email, user.email_verified)?;
        then(user).await
    })
    .await;
    count_login(services, &outcome);
    outcome
}

/// Counts how a sign-in went, whatever proved it (a password here, a
/// provider's ID token in `oidc`).
pub(super) fn count_login<T>(services: &Services, outcome: &Result<T, Error>) {
    let counted = match outcome {
        Ok(_) => Some(LoginOutcome::Ok),
        Err(Error::BadCredentials | Error::PermissionDenied | Error::WrongCode { .. }) => {
            Some(LoginOutcome::Failed)
        }
        Err(Error::Throttled(_)) => Some(LoginOutcome::Throttled),
        Err(_) => None,
    };
    if let Some(counted) = counted {
        services.metrics.login(counted);
    }
}
