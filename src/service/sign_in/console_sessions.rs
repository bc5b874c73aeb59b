//! Server-side console sessions: signing in stores a row, and the cookie
//! carries only its random id ([`SessionId`]); the table keeps only the
//! id's SHA-256. So a session ends for good, on every copy of the cookie,
//! when its row goes: at sign-out, when the admin is deactivated, demoted
//! or given a new password (`db::users` deletes the rows in the same
//! transaction), or once it passes `CONSOLE_SESSION_IDLE` without use or
//! `CONSOLE_SESSION_MAX_AGE` since sign-in (checked on every request, and
//! the rows swept by `jobs::sweep_expired`).

use crate::db::console_sessions as queries;
use crate::domain::random::random_base64url;
use crate::domain::Timestamp;
use crate::service::{Error, Services};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;

/// The most a use waits before it is written down again.
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// A session's id in clear, as the cookie carries it. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// 256 bits from the operating system's CSPRNG.
    fn generate() -> Self {
        SessionId(random_base64url::<32>())
    }

    /// An id as read back from the cookie.
    pub fn presented(text: String) -> Self {
        SessionId(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// The admin a live session belongs to.
#[derive(Debug, Clone)]
pub struct SessionAdmin {
    pub user_id: i64,
    pub username: String,
}

/// Starts a session for `user_id` (already checked to be an active admin).
pub async fn start(services: &Services, user_id: i64) -> Result<SessionId, Error> {
    let id = SessionId::generate();
    let digest = id.digest();
    services
        .db(move |conn| {
            Ok(queries::insert(
                conn,
                &digest,
                user_id,
                Timestamp::now().millis(),
            )?)
        })
        .await?;
    Ok(id)
}

/// The admin of session `id` if it is live and its user still an active
/// admin; records the use (at most once per touch interval). A session
/// that is not live is deleted.
pub async fn resume(services: &Services, id: &SessionId) -> Result<Option<SessionAdmin>, Error> {
    let digest = id.digest();
    let idle = services.settings.console.console_session_idle;
    let max_age = services.settings.console.console_session_max_age;
    let require_2fa = services.settings.two_factor.require_2fa_for_admins;
    let touch_interval = (idle / 10).min(MAX_TOUCH_INTERVAL);
    services
        .db(move |conn| {
            let now = Timestamp::now();
            let live = queries::live_admin(
                conn,
                &digest,
                now.minus(idle).millis(),
                now.minus(max_age).millis(),
            )?;
            // `REQUIRE_2FA_FOR_ADMINS` also ends the session of an admin who
            // turned two-factor off after signing in.
            let Some(live) = live.filter(|live| live.two_factor || !require_2fa) else {
                queries::delete_by_digest(conn, &digest)?;
                return Ok(None);
            };
            let touched_before = now.minus(touch_interval).millis();
            if live.last_seen_at < touched_before {
                queries::touch(conn, live.session_id, now.millis(), touched_before)?;
            }
            Ok(Some(SessionAdmin {
                user_id: live.user_id,
                username: live.username,
            }))
        })
        .await
}

/// Ends session `id` (signing out).
pub async fn end(services: &Services, id: SessionId) -> Result<(), Error> {
    let digest = id.digest();
    services
        .db(move |conn| Ok(queries::delete_by_digest(conn, &digest).map(|_| ())?))
        .await
}
