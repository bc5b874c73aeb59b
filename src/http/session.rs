//! The console's cookie session: its key and middleware, what it holds (who
//! signed in and when, and the CSRF token of its forms), and the checks made
//! on it. The console signs in and out here; the admin API reads the same
//! session (see `auth::Admin`).
//!
//! Sessions are actix-session cookies (`CookieSessionStore`: the state is in
//! the cookie, encrypted and signed with [`console_session_key`]), marked
//! `HttpOnly`, `SameSite=Strict`, and `Secure` when `COOKIE_SECURE` is set.
//! Signing in renews the session, so a session fixed before sign-in is worth
//! nothing after.

use crate::domain::{SecretKey, Timestamp};
use crate::service::{admin, Error, Services};
use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub const COOKIE_NAME: &str = "multitoken_console";

/// The key that encrypts and signs console sessions.
///
/// Derived from `SECRET_KEY`, so sessions survive restarts and work across
/// instances that share the key.
pub fn console_session_key(secret: &SecretKey) -> Result<Key, String> {
    // The cookie key is 64 bytes: one derived half signs, the other encrypts.
    let mut bytes = [0_u8; 64];
    bytes[..32].copy_from_slice(&secret.derive_key("console session signing"));
    bytes[32..].copy_from_slice(&secret.derive_key("console session encryption"));
    Key::try_from(&bytes[..]).map_err(|e| format!("cannot make the console session key: {e}"))
}

/// The session middleware, for the whole app so that the admin API can
/// accept a console session too. It sets a cookie only once a session
/// holds something, which happens on the console's pages alone.
pub fn session_middleware(cookie_secure: bool, key: Key) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(COOKIE_NAME.to_owned())
        .cookie_path("/".to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Strict)
        .cookie_secure(cookie_secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .build()
}

const ADMIN_ID: &str = "admin_id";
const SIGNED_IN_AT: &str = "signed_in_at";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

/// A console session ends this long after sign-in, whatever its use.
pub const MAX_AGE: Duration = Duration::from_secs(8 * 3600);

/// The form field and the API header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "X-CSRF-Token";

fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The session's CSRF token, made on first use.
pub fn csrf_token(session: &Session) -> Result<String, Error> {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return Ok(token);
    }
    let token = random_token();
    session
        .insert(CSRF, &token)
        .map_err(|e| Error::Internal(Box::new(e)))?;
    Ok(token)
}

/// Whether `presented` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    let (Ok(Some(expected)), Some(presented)) = (session.get::<String>(CSRF), presented) else {
        return false;
    };
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// Starts a signed-in session in a fresh one: new id, new CSRF token.
pub fn sign_in(session: &Session, admin_id: i64) -> Result<(), Error> {
    session.renew();
    session.clear();
    session
        .insert(ADMIN_ID, admin_id)
        .and_then(|_| session.insert(SIGNED_IN_AT, Timestamp::now().millis()))
        .and_then(|_| session.insert(CSRF, random_token()))
        .map_err(|e| Error::Internal(Box::new(e)))
}

pub fn sign_out(session: &Session) {
    session.purge();
}

/// A signed-in admin, checked against the database on every request: a
/// session of a user since deactivated or demoted is worth nothing.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user_id: i64,
    pub username: String,
}

/// The admin of this session, if it is signed in, recent enough, and its
/// user still an active admin. Anything else ends the session.
pub async fn signed_in(services: &Services, session: &Session) -> Result<Option<SignedIn>, Error> {
    let (Ok(Some(admin_id)), Ok(Some(signed_in_at))) = (
        session.get::<i64>(ADMIN_ID),
        session.get::<i64>(SIGNED_IN_AT),
    ) else {
        return Ok(None);
    };
    if Timestamp(signed_in_at).plus(MAX_AGE) <= Timestamp::now() {
        session.purge();
        return Ok(None);
    }
    let user = services
        .db(move |conn| {
            admin::user(conn, admin_id)
                .map(Some)
                .or_else(not_found_is_none)
        })
        .await?;
    match user {
        // `REQUIRE_2FA_FOR_ADMINS` also ends the session of an admin who
        // turned two-factor off after signing in.
        Some(user)
            if user.is_active
                && user.is_admin
                && (user.two_factor || !services.settings.require_2fa_for_admins) =>
        {
            Ok(Some(SignedIn {
                user_id: user.id,
                username: user.username,
            }))
        }
        _ => {
            session.purge();
            Ok(None)
        }
    }
}

/// A one-time message for the next page.
pub fn set_flash(session: &Session, message: &str) -> Result<(), Error> {
    session
        .insert(FLASH, message)
        .map_err(|e| Error::Internal(Box::new(e)))
}

fn not_found_is_none<T>(error: Error) -> Result<Option<T>, Error> {
    match error {
        Error::NotFound => Ok(None),
        other => Err(other),
    }
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}
