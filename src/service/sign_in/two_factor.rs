//! Two-factor authentication (TOTP): setting it up, confirming it with a
//! first code (which gives the recovery codes), turning it off, and the
//! second check of every sign-in.
//!
//! The secret is kept sealed (see `domain::sealed`); recovery codes only as
//! keyed digests. A code is accepted once: the time step of the last
//! accepted code is stored, and only a later step passes, decided by one
//! conditional update, so two concurrent sign-ins cannot share a code.

use super::credentials::{self, Credentials};
use super::throttle::{second_factor_under_throttle, under_throttle, Guess, GuessKind};
use crate::db::events::What;
use crate::db::two_factor as queries;
use crate::db::users;
use crate::domain::event::{EventKind, EventSource};
use crate::domain::principal::Principal;
use crate::domain::sealed::Sealer;
use crate::domain::two_factor::{
    generate_recovery_codes, is_totp_code, qr_svg, recovery_code_digest, TotpSecret,
};
use crate::domain::{Password, Timestamp};
use crate::metrics::ThrottledAction;
use crate::service::shared::events;
use crate::service::{Error, Services};

use crate::domain::messages::{ALREADY_ENABLED, INVALID_PASSWORD, NOT_ENABLED, NOT_SET_UP};

const SEALING_PURPOSE: &str = "totp secrets";
const RECOVERY_PURPOSE: &str = "recovery codes";

/// What an authenticator app needs; nothing is enabled until a code from
/// it is confirmed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TotpSetup {
    /// The secret in base32, to type into an app.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

fn sealer(services: &Services) -> Sealer {
    Sealer::new(&services.secret_key, SEALING_PURPOSE)
}

fn recovery_key(services: &Services) -> [u8; 32] {
    services.secret_key.derive_key(RECOVERY_PURPOSE)
}

fn unix_seconds(now: Timestamp) -> u64 {
    u64::try_from(now.millis() / 1000).unwrap_or(0)
}

/// A check of the signed-in user's own password, code, or both, under the
/// login throttle of their username: a wrong password is the `password`
/// field's error; a wrong code (`WrongCode`) is counted like a wrong
/// password; a right answer resets nothing (see [`GuessKind::Own`]).
async fn own_check<T>(
    services: &Services,
    principal: &Principal,
    source: &EventSource,
    check: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let guess = Guess {
        username: &principal.username,
        kind: GuessKind::Own,
        source,
        action: "two_factor",
        device_proofs: &[],
    };
    match under_throttle(services, guess, check).await {
        Err(Error::BadCredentials) => Err(Error::field("password", INVALID_PASSWORD)),
        Err(error @ Error::Throttled(_)) => {
            services.metrics.throttled(ThrottledAction::TwoFactor);
            Err(error)
        }
        other => other,
    }
}

/// `POST /2fa/totp/setup`: a new secret, pending until confirmed. A set-up
/// begun again replaces the pending secret.
pub async fn set_up(
    services: &Services,
    principal: &Principal,
    password: Password,
    source: &EventSource,
) -> Result<TotpSetup, Error> {
    let user_id = principal.user_id;
    own_check(
        services,
        principal,
        source,
        credentials::verify_own(services, user_id, password),
    )
    .await?;
    let secret = TotpSecret::generate();
    let otpauth_uri = secret
        .otpauth_uri(&principal.username)
        .map_err(Error::internal)?;
    let qr_svg = qr_svg(&otpauth_uri).map_err(Error::internal)?;
    let sealed = sealer(services)
        .seal(user_id.to_string().as_bytes(), secret.as_bytes())
        .ok_or_else(|| Error::internal("could not seal the TOTP secret"))?;
    let stored = services
        .db(move |conn| Ok(queries::set_pending(conn, user_id, &sealed)?))
        .await?;
    if stored == 0 {
        return Err(Error::field("non_field_errors", ALREADY_ENABLED));
    }
    Ok(TotpSetup {
        secret: secret.base32(),
        otpauth_uri,
        qr_svg,
    })
}

/// `POST /2fa/totp/confirm`: a code from the app turns two-factor on;
/// returns the recovery codes, which exist in clear only in this answer.
pub async fn confirm(
    services: &Services,
    principal: &Principal,
    code: &str,
    source: &EventSource,
) -> Result<Vec<String>, Error> {
    let user_id = principal.user_id;
    // A guess at the code of a pending set-up, like one at the second
    // factor: whoever confirms it gets the recovery codes.
    let (sealed, step) = own_check(services, principal, source, async {
        let state = services
            .db(move |conn| Ok(queries::state(conn, user_id)?))
            .await?
            .ok_or(Error::NotFound)?;
        if state.enabled {
            return Err(Error::field("non_field_errors", ALREADY_ENABLED));
        }
        let Some(sealed) = state.sealed_secret else {
            return Err(Error::field("non_field_errors", NOT_SET_UP));
        };
        let step = open(services, user_id, &sealed)?
            .matching_step(code, unix_seconds(Timestamp::now()))
            .and_then(|step| i64::try_from(step).ok())
            .ok_or(Error::WrongCode {
                field: "code",
                user_id,
            })?;
        Ok((sealed, step))
    })
    .await?;
    let codes = generate_recovery_codes();
    let key = recovery_key(services);
    let digests: Vec<_> = codes
        .iter()
        .map(|code| recovery_code_digest(&key, code))
        .collect();
    let source = source.clone();
    let enabled = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                let enabled = queries::enable(conn, user_id, &sealed, step, &digests)?;
                if enabled {
                    let what = What::to_user(EventKind::TwoFactorEnabled, user_id);
                    events::record(conn, &source, what, Timestamp::now())?;
                }
                Ok(enabled)
            })
        })
        .await?;
    match enabled {
        true => Ok(codes),
        // Confirmed or set up again meanwhile, by another request.
        false => Err(Error::WrongCode {
            field: "code",
            user_id,
        }),
    }
}

/// `POST /2fa/disable`: the password, then a code (or a recovery code).
pub async fn disable(
    services: &Services,
    principal: &Principal,
    password: Password,
    code: &str,
    source: &EventSource,
) -> Result<(), Error> {
    let user_id = principal.user_id;
    let enabled = services
        .db(move |conn| Ok(queries::state(conn, user_id)?))
        .await?
        .is_some_and(|state| state.enabled);
    if !enabled {
        return Err(Error::field("non_field_errors", NOT_ENABLED));
    }
    // The password and the code are one guess: a right password alone
    // does not undo the wrong codes counted before it.
    own_check(services, principal, source, async {
        credentials::verify_own(services, user_id, password).await?;
        accept_code(services, user_id, code, "code").await
    })
    .await?;
    let source = source.clone();
    services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                queries::disable(conn, user_id)?;
                let what = What::to_user(EventKind::TwoFactorDisabled, user_id);
                events::record(conn, &source, what, Timestamp::now())
            })
        })
        .await?;
    Ok(())
}

/// Turns two-factor off for a user who lost their authenticator and their
/// recovery codes, as an admin asks (no password, no code: the admin
/// vouches). Returns whether it was on; only then is `two_factor_disabled`
/// recorded.
pub async fn disable_for_user(
    services: &Services,
    user_id: i64,
    source: &EventSource,
) -> Result<bool, Error> {
    let source = source.clone();
    services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                let disabled = queries::disable(conn, user_id)? > 0;
                if disabled {
                    let what = What::to_user(EventKind::TwoFactorDisabled, user_id);
                    events::record(conn, &source, what, Timestamp::now())?;
                }
                Ok(disabled)
            })
        })
        .await
}

/// The second check of a sign-in, after the password matched (under the
/// sign-in's throttle, which counts a wrong code): nothing to do without
/// two-factor; otherwise `otp` must be a current code not used before, or
/// an unused recovery code (which is spent).
pub async fn check_sign_in(
    services: &Services,
    user: &Credentials,
    otp: Option<&str>,
) -> Result<(), Error> {
    if !user.two_factor {
        return Ok(());
    }
    accept_code(services, user.user_id, required_otp(otp)?, "otp").await
}

/// [`check_sign_in`] for a sign-in that checked another credential (an
/// OpenID Connect provider's ID token, `action` `oidc`; a signed-in
/// device's key approving another, `device`) instead of a password: its throttle
/// knew no username, so the code is counted here against the user's, as a
/// wrong code at `/login` is.
pub async fn check_second_factor(
    services: &Services,
    user_id: i64,
    two_factor: bool,
    otp: Option<&str>,
    device_proofs: &[String],
    source: &EventSource,
    action: &'static str,
) -> Result<(), Error> {
    if !two_factor {
        return Ok(());
    }
    let otp = required_otp(otp)?;
    let username = services
        .db(move |conn| Ok(users::by_id(conn, user_id)?.map(|user| user.username)))
        .await?
        .ok_or(Error::BadCredentials)?;
    let guess = Guess::sign_in(action, &username, device_proofs, source);
    second_factor_under_throttle(services, guess, accept_code(services, user_id, otp, "otp")).await
}

fn required_otp(otp: Option<&str>) -> Result<&str, Error> {
    match otp {
        None | Some("") => Err(Error::field("otp", "This field is required.")),
        Some(otp) => Ok(otp),
    }
}

/// Accepts `typed` once as the user's TOTP code or one of their recovery
/// codes; `WrongCode` for `field` otherwise.
async fn accept_code(
    services: &Services,
    user_id: i64,
    typed: &str,
    field: &'static str,
) -> Result<(), Error> {
    let wrong = || Error::WrongCode { field, user_id };
    if is_totp_code(typed) {
        let state = services
            .db(move |conn| Ok(queries::state(conn, user_id)?))
            .await?;
        let Some(sealed) = state
            .filter(|state| state.enabled)
            .and_then(|s| s.sealed_secret)
        else {
            return Err(wrong());
        };
        let step = open(services, user_id, &sealed)?
            .matching_step(typed, unix_seconds(Timestamp::now()))
            .and_then(|step| i64::try_from(step).ok())
            .ok_or_else(wrong)?;
        let accepted = services
            .db(move |conn| Ok(queries::accept_step(conn, user_id, step)?))
            .await?;
        return if accepted { Ok(()) } else { Err(wrong()) };
    }
    let digest = recovery_code_digest(&recovery_key(services), typed);
    let spent = services
        .db(move |conn| Ok(queries::spend_recovery_code(conn, user_id, &digest)?))
        .await?;
    if spent {
        Ok(())
    } else {
        Err(wrong())
    }
}

fn open(services: &Services, user_id: i64, sealed: &[u8]) -> Result<TotpSecret, Error> {
    sealer(services)
        .open(user_id.to_string().as_bytes(), sealed)
        .map(TotpSecret::from_bytes)
        .ok_or_else(|| {
            Error::internal(
                "a TOTP secret does not open: was SECRET_KEY changed since it was set up?",
            )
        })
}
