//! The console's cookie session: its key and middleware, what it holds (the
//! id of a server-side session once signed in, the CSRF token of its forms,
//! a one-time message), and the checks made on it. The console signs in and
//! out here; the admin API reads the same session (see `auth::Admin`).
//!
//! The cookie is an actix-session cookie (`CookieSessionStore`: the state is
//! in the cookie, encrypted and signed with [`console_session_key`]), marked
//! `HttpOnly`, `SameSite=Strict`, and `Secure` when `COOKIE_SECURE` is set.
//! Who is signed in is not in it: only the random id of a row of
//! `console_sessions` (see [`crate::service::sign_in::console_sessions`]), so that
//! signing out, or deactivating, demoting or re-passwording the admin, ends
//! every copy of the cookie. The CSRF token and messages stay in the cookie,
//! so a visitor who never signs in costs no row. Signing in renews the
//! session, so a session fixed before sign-in is worth nothing after.

use crate::domain::SecretKey;
use crate::service::sign_in::console_sessions::{self, SessionId};
use crate::service::{Error, Services};
use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
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

const SESSION_ID: &str = "session_id";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

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
pub async fn sign_in(services: &Services, session: &Session, admin_id: i64) -> Result<(), Error> {
    let id = console_sessions::start(services, admin_id).await?;
    session.renew();
    session.clear();
    session
        .insert(SESSION_ID, id.expose())
        .and_then(|_| session.insert(CSRF, random_token()))
        .map_err(|e| Error::Internal(Box::new(e)))
}

/// Ends the server-side session, then the cookie's.
pub async fn sign_out(services: &Services, session: &Session) -> Result<(), Error> {
    if let Ok(Some(id)) = session.get::<String>(SESSION_ID) {
        console_sessions::end(services, SessionId::presented(id)).await?;
    }
    session.purge();
    Ok(())
}

/// A signed-in admin, checked against the database on every request: a
/// session of a user since deactivated or demoted is worth nothing.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user_id: i64,
    pub username: String,
}

/// The admin of this session, if it is signed in, its server-side session
/// live, and its user still an active admin. Anything else ends the session.
pub async fn signed_in(services: &Services, session: &Session) -> Result<Option<SignedIn>, Error> {
    let Ok(Some(id)) = session.get::<String>(SESSION_ID) else {
        return Ok(None);
    };
    match console_sessions::resume(services, &SessionId::presented(id)).await? {
        Some(admin) => Ok(Some(SignedIn {
            user_id: admin.user_id,
            username: admin.username,
        })),
        None => {
            session.purge();
            Ok(None)
        }
    }
}

/// The longest flash message kept whole: the session lives in a cookie,
/// which browsers (and actix-session) refuse past 4 KiB.
const MAX_FLASH_CHARS: usize = 512;

/// A one-time message for the next page, cut to [`MAX_FLASH_CHARS`].
pub fn set_flash(session: &Session, message: &str) -> Result<(), Error> {
    let message = match message.char_indices().nth(MAX_FLASH_CHARS) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_owned(),
    };
    session
        .insert(FLASH, message)
        .map_err(|e| Error::Internal(Box::new(e)))
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}
