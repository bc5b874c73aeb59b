//! What a console session holds, and the checks made on it: who signed in
//! and when, and the CSRF token of its forms. The admin API reads the same
//! session (see `auth::Admin`).

use crate::db::users as user_queries;
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;
use actix_session::Session;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::time::Duration;

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
pub fn csrf_token(session: &Session) -> Result<String, ApiError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return Ok(token);
    }
    let token = random_token();
    session.insert(CSRF, &token).map_err(ApiError::internal)?;
    Ok(token)
}

/// Whether `presented` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    let (Ok(Some(expected)), Some(presented)) = (session.get::<String>(CSRF), presented) else {
        return false;
    };
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Starts a signed-in session in a fresh one: new id, new CSRF token.
pub fn sign_in(session: &Session, admin_id: i64) -> Result<(), ApiError> {
    session.renew();
    session.clear();
    session
        .insert(ADMIN_ID, admin_id)
        .and_then(|_| session.insert(SIGNED_IN_AT, Timestamp::now().millis()))
        .and_then(|_| session.insert(CSRF, random_token()))
        .map_err(ApiError::internal)
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
pub async fn signed_in(state: &AppState, session: &Session) -> Result<Option<SignedIn>, ApiError> {
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
    let user = state
        .db(move |conn| Ok(user_queries::by_id(conn, admin_id)?))
        .await?;
    match user {
        Some(user) if user.is_active && user.is_admin => Ok(Some(SignedIn {
            user_id: user.id,
            username: user.username,
        })),
        _ => {
            session.purge();
            Ok(None)
        }
    }
}

/// A one-time message for the next page.
pub fn set_flash(session: &Session, message: &str) -> Result<(), ApiError> {
    session.insert(FLASH, message).map_err(ApiError::internal)
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}
