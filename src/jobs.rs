//! The background jobs a serving process runs beside its HTTP workers: the
//! sweep of expired tokens, closed throttle windows, used ID tokens past
//! their acceptance, retired keys past their device's expiry, expired
//! device grants and ended console sessions, the sending of the mails
//! and webhooks in the outboxes, and (with the token cache) the writing of touches.

use crate::db::{self, AnyConnection};
use crate::domain::event::Actor;
use crate::domain::Timestamp;
use crate::mail::MailBackend;
use crate::service::shared::{events, outbox, webhooks};
use crate::service::tokens;
use crate::service::{Error, Services};
use std::sync::Arc;
use std::time::Duration;

/// Expired tokens are kept this long, then deleted by the sweep.
pub const EXPIRED_TOKEN_GRACE: Duration = Duration::from_secs(86_400);
/// Expired device grants are kept this long, then deleted by the sweep.
pub const EXPIRED_DEVICE_GRANT_GRACE: Duration = Duration::from_secs(3600);
/// Rows one sweep batch deletes at most, so no batch holds the write lock long.
const SWEEP_BATCH: i64 = 500;

/// Deletes tokens a day after they expired, and the login throttle's
/// counts whose window has closed, every `sweep_interval`.
pub async fn sweep_expired(services: Services) {
    // A zero period would make `interval` panic.
    let period = services
        .settings
        .server
        .sweep_interval
        .max(Duration::from_millis(1));
    let mut every = tokio::time::interval(period);
    loop {
        every.tick().await;
        let cutoff = Timestamp::now().minus(EXPIRED_TOKEN_GRACE);
        let swept = sweep_in_batches(&services, "expired-token", cutoff, |conn, cutoff, limit| {
            tokens::expire_batch(conn, cutoff, limit, Actor::System)
        })
        .await;
        if swept > 0 {
            log::info!("swept {swept} expired token(s)");
        }
        let cutoff = Timestamp::now().minus(services.settings.events.events_retention);
        let swept = sweep_in_batches(
            &services,
            "security-event",
            cutoff,
            |conn, cutoff, limit| Ok(events::delete_older_batch(conn, cutoff, limit)?),
        )
        .await;
        if swept > 0 {
            log::info!("swept {swept} security event(s) older than EVENTS_RETENTION");
        }
        // Rows kept only while they can still matter, swept without a log line.
        let now = Timestamp::now();
        let window = services.settings.throttles.login_throttle.window;
        let quiet: [(&str, Timestamp, DeleteBatch); 5] = [
            ("throttle", now.minus(window), |conn, cutoff, limit| {
                Ok(db::throttle::delete_closed_batch(conn, cutoff, limit)?)
            }),
            // A used ID token is kept while it could still be accepted.
            ("used ID token", now, |conn, cutoff, limit| {
                Ok(db::used_id_tokens::delete_expired_batch(
                    conn, cutoff, limit,
                )?)
            }),
            // A retired key is kept while its device's key could still be live.
            ("retired key", now, |conn, cutoff, limit| {
                Ok(db::rotation::delete_expired_batch(conn, cutoff, limit)?)
            }),
            // A used DPoP proof is kept while its iat is within the window.
            ("used DPoP proof", now, |conn, cutoff, limit| {
                Ok(db::used_dpop_proofs::delete_expired_batch(
                    conn, cutoff, limit,
                )?)
            }),
            // Kept a while past their expiry, so a late poll is told
            // `expired_token` rather than `invalid_grant`.
            (
                "device grant",
                now.minus(EXPIRED_DEVICE_GRANT_GRACE),
                |conn, cutoff, limit| {
                    Ok(db::device_grants::delete_expired_batch(
                        conn, cutoff, limit,
                    )?)
                },
            ),
        ];
        for (what, cutoff, delete_batch) in quiet {
            sweep_in_batches(&services, what, cutoff, delete_batch).await;
        }
        sweep_console_sessions(&services).await;
    }
}

/// Console sessions past their idle or absolute limit, which no request
/// would accept any more.
async fn sweep_console_sessions(services: &Services) {
    let now = Timestamp::now();
    let settings = &services.settings;
    let swept = sweep_in_batches(
        services,
        "idle console session",
        now.minus(settings.console.console_session_idle),
        |conn, cutoff, limit| {
            Ok(db::console_sessions::delete_idle_batch(
                conn, cutoff, limit,
            )?)
        },
    )
    .await
        + sweep_in_batches(
            services,
            "old console session",
            now.minus(settings.console.console_session_max_age),
            |conn, cutoff, limit| Ok(db::console_sessions::delete_old_batch(conn, cutoff, limit)?),
        )
        .await;
    if swept > 0 {
        log::info!("swept {swept} ended console session(s)");
    }
}

/// Deletes up to `limit` rows older than `cutoff` (milliseconds); returns
/// how many it deleted.
type DeleteBatch = fn(&mut AnyConnection, i64, i64) -> Result<usize, Error>;

/// Runs `delete_batch` until it deletes nothing, pausing between batches so
/// that no sweep holds the write lock for long; returns how many it deleted.
async fn sweep_in_batches(
    services: &Services,
    what: &str,
    cutoff: Timestamp,
    delete_batch: DeleteBatch,
) -> usize {
    let mut swept = 0;
    loop {
        let batch = services
            .db(move |conn| delete_batch(conn, cutoff.millis(), SWEEP_BATCH))
            .await;
        match batch {
            Ok(0) => return swept,
            Ok(deleted) => swept += deleted,
            Err(error) => {
                log_failure(&format!("{what} sweep stopped"), &error);
                return swept;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How often the mail worker looks for due mails when nobody wakes it
/// (mails queued by another instance, retries coming due).
const MAIL_POLL: Duration = Duration::from_secs(1);

/// Sends the outbox's mails until the server stops.
pub async fn send_mails(services: Services, backend: Arc<dyn MailBackend>) {
    loop {
        match outbox::deliver_due(&services, backend.as_ref()).await {
            // Some were due: more may be, at once.
            Ok(claimed) if claimed > 0 => continue,
            Ok(_) => {}
            Err(error) => log_failure("mail worker", &error),
        }
        services.outbox.woken(MAIL_POLL).await;
    }
}

/// Makes the outbox's webhook deliveries until the server stops.
pub async fn send_webhooks(services: Services) {
    let client = match webhooks::client(services.settings.webhooks.webhook_send_timeout) {
        Ok(client) => client,
        Err(error) => {
            log::error!("webhook worker not started: {error}");
            return;
        }
    };
    loop {
        match webhooks::deliver_due(&services, &client).await {
            Ok(claimed) if claimed > 0 => continue,
            Ok(_) => {}
            Err(error) => log_failure("webhook worker", &error),
        }
        services.events.woken(MAIL_POLL).await;
    }
}

/// Writes the token cache's waiting touches every `FLUSH_EVERY`, in batches.
pub async fn write_touches(services: Services) {
    let mut every = tokio::time::interval(crate::service::tokens::cache::FLUSH_EVERY);
    loop {
        every.tick().await;
        write_touches_now(&services).await;
    }
}

/// Writes the token cache's waiting touches, if any.
pub async fn write_touches_now(services: &Services) {
    let Some(cache) = services.tokens.cache().cloned() else {
        return;
    };
    if !cache.has_pending_touches() {
        return;
    }
    let written =
        crate::service::run_blocking(&services.pool, move |conn| Ok(cache.flush_touches(conn)?))
            .await;
    if let Err(error) = written {
        log_failure("token touches not written", &error);
    }
}

/// Logs a job's failure, `what: cause`. While the database is out of reach,
/// which the pool has told once, the jobs' attempts (the mail worker's,
/// every second) are for debugging only.
fn log_failure(what: &str, error: &Error) {
    match error {
        Error::Unavailable(_) if db::out_of_reach() => log::debug!("{what}: {}", error.chain()),
        _ => log::warn!("{what}: {}", error.chain()),
    }
}
