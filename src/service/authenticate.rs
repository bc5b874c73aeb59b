//! Checking a presented token: one indexed read by digest, and a write only
//! when the touch interval has passed.

use crate::db::{tokens, AnyConnection};
use crate::domain::{Timestamp, TokenDigest, TokenPolicy};
use crate::error::{ApiError, AuthFailure};

/// Who is making an authenticated request, and with which token.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_id: i64,
    pub client: String,
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
}

pub fn authenticate(
    conn: &mut AnyConnection,
    digest: &TokenDigest,
    now: Timestamp,
    policy: &TokenPolicy,
) -> Result<Session, ApiError> {
    let owner = tokens::by_digest(conn, digest.as_bytes())?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    if TokenPolicy::is_expired(Timestamp(owner.expires_at), now) {
        return Err(ApiError::Unauthorized(AuthFailure::Expired));
    }
    if !owner.is_active {
        return Err(ApiError::Unauthorized(AuthFailure::Inactive));
    }
    if policy.needs_touch(Timestamp(owner.last_used_at), now) {
        let expires_at = policy.expiry(Timestamp(owner.created_at), now);
        tokens::touch(
            conn,
            owner.token_id,
            now.millis(),
            expires_at.millis(),
            now.minus(policy.touch_interval).millis(),
        )?;
    }
    Ok(Session {
        token_id: owner.token_id,
        client: owner.client,
        user_id: owner.user_id,
        username: owner.username,
        email: owner.email,
        is_admin: owner.is_admin,
    })
}
