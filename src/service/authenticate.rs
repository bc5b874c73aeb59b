//! Checking a presented token: one indexed read by digest, and a write only
//! when the touch interval has passed.
//!
//! On SQLite the read runs right on the async worker when a pooled
//! connection is idle: an indexed read from a local file under WAL never
//! waits for writers and costs less than handing it to another thread. The
//! touch, a write that may wait for the file lock, always runs off the
//! workers. On PostgreSQL, which is across a network, both run off them.

use crate::db::{tokens, AnyConnection};
use crate::domain::{Timestamp, TokenDigest, TokenPolicy};
use crate::error::{ApiError, AuthFailure};
use crate::state::AppState;

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

/// A last-use write that is due.
#[derive(Debug, Clone, Copy)]
pub struct Touch {
    token_id: i64,
    now: Timestamp,
    expires_at: Timestamp,
    touched_before: Timestamp,
}

pub async fn authenticate(state: &AppState, digest: TokenDigest) -> Result<Session, ApiError> {
    let now = Timestamp::now();
    let policy = state.policy;
    if let Some(checked) = state.try_read_now(|conn| check(conn, &digest, now, &policy)) {
        let (session, touch) = checked?;
        if let Some(touch) = touch {
            state.db(move |conn| record_use(conn, touch)).await?;
        }
        return Ok(session);
    }
    state
        .db(move |conn| {
            let (session, touch) = check(conn, &digest, now, &policy)?;
            if let Some(touch) = touch {
                record_use(conn, touch)?;
            }
            Ok(session)
        })
        .await
}

/// Finds the token and decides: refused, or accepted with a touch if due.
pub fn check(
    conn: &mut AnyConnection,
    digest: &TokenDigest,
    now: Timestamp,
    policy: &TokenPolicy,
) -> Result<(Session, Option<Touch>), ApiError> {
    let owner = tokens::by_digest(conn, digest.as_bytes())?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    if TokenPolicy::is_expired(Timestamp(owner.expires_at), now) {
        return Err(ApiError::Unauthorized(AuthFailure::Expired));
    }
    if !owner.is_active {
        return Err(ApiError::Unauthorized(AuthFailure::Inactive));
    }
    let touch = policy
        .needs_touch(Timestamp(owner.last_used_at), now)
        .then(|| Touch {
            token_id: owner.token_id,
            now,
            expires_at: policy.expiry(Timestamp(owner.created_at), now),
            touched_before: now.minus(policy.touch_interval),
        });
    let session = Session {
        token_id: owner.token_id,
        client: owner.client,
        user_id: owner.user_id,
        username: owner.username,
        email: owner.email,
        is_admin: owner.is_admin,
    };
    Ok((session, touch))
}

pub fn record_use(conn: &mut AnyConnection, touch: Touch) -> Result<(), ApiError> {
    tokens::touch(
        conn,
        touch.token_id,
        touch.now.millis(),
        touch.expires_at.millis(),
        touch.touched_before.millis(),
    )?;
    Ok(())
}
