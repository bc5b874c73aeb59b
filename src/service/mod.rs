//! Use cases, called alike by the HTTP API, the console and the command
//! line. Nothing here knows of HTTP: each use case takes [`Services`] (or a
//! connection, for the synchronous ones the command line also runs) and
//! answers with [`Error`].
//!
//! Functions that only touch the database take `&mut AnyConnection` and are
//! synchronous; the ones that also hash passwords or count metrics are async
//! and take the shared [`Services`].
//!
//! By capability, each folder importing only those listed after it:
//! - [`accounts`]: signing up, a user's own password and address, admins'
//!   work on users, the Django import;
//! - [`sign_in`]: proving who you are (password, OpenID, second factor,
//!   throttle), the new-device mail, console sessions;
//! - [`tokens`]: a token's life (issue, verify, cache, list, revoke), JWT
//!   access tokens, checks for other services;
//! - [`shared`]: events, the mail outbox, the password hasher, the secret key.
//!
//! This file is the composition root: [`Services`] names each folder's
//! engine, and every use case receives it.

pub mod accounts;
mod error;
pub mod shared;
pub mod sign_in;
pub mod tokens;

pub use error::{AuthFailure, Cause, Error};

use crate::config::Settings;
use crate::db::{AnyConnection, DbPool};
use crate::domain::SecretKey;
use crate::metrics::{Metrics, Scraped};
use shared::outbox::Outbox;
use shared::passwords::PasswordHasher;
use std::sync::Arc;
use tokens::verify::TokenVerifier;

/// What the use cases share: built once at start, cloned into every worker.
#[derive(Clone)]
pub struct Services {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub hasher: PasswordHasher,
    /// The resolved `SECRET_KEY`: derive a key per purpose from it.
    pub secret_key: SecretKey,
    /// Queues mails in the caller's transaction (see [`shared::outbox`]).
    pub outbox: Outbox,
    pub metrics: Metrics,
    /// Token checks, which need far less than the rest (see [`TokenVerifier`]).
    pub tokens: TokenVerifier,
    /// The OpenID Connect providers of social login, with what was fetched from them.
    pub oidc: sign_in::oidc::providers::Providers,
    /// Which throttled guesses were recorded lately (see `throttle::under_throttle`).
    pub recent_throttles: sign_in::throttle::RecentThrottles,
    /// GitHub's secret scanning keys (`SECRET_SCANNING_GITHUB_KEYS`).
    pub github_keys: tokens::secret_scanning::GithubKeys,
    /// What recording events needs (the `sid` key, the webhooks), set for
    /// the work [`Services::db`] runs.
    pub events: Arc<shared::webhooks::EventContext>,
}

impl Services {
    /// Runs blocking database work with a pooled connection (see [`run_blocking`]).
    ///
    /// With the token cache, the touches waiting in it are written first
    /// (so that what the work reads shows this instance's uses), and what
    /// the work's writes announced is evicted before its answer goes out.
    /// On PostgreSQL, a work that revoked something answers only once no
    /// other instance can still accept what it revoked (see
    /// [`tokens::revocation_sync`]); its connection is back in the pool by then.
    pub async fn db<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let limit = self.settings.database.work_timeout();
        let events = self.events.clone();
        let cache = self.tokens.cache().cloned();
        let acks = self.tokens.revocation_sync();
        let tracks_announcements = acks.is_some();
        let (done, announced) = run_blocking_within(&self.pool, limit, move |conn| {
            if let Some(cache) = cache.as_ref().filter(|cache| cache.has_pending_touches()) {
                if let Err(error) = cache.flush_touches(conn) {
                    log::warn!("token touches not written: {error}");
                }
            }
            let done = events.within(|| work(conn));
            let announced = tokens::cache::own_writes(conn, cache.as_ref(), tracks_announcements);
            Ok((done, announced))
        })
        .await?;
        if let Some(acks) = acks {
            acks.wait_for(announced).await;
        }
        done
    }
}

/// What `/metrics` measures at each scrape: live tokens, rows in the
/// outboxes, and the pool's connections.
pub async fn scrape(services: &Services) -> Result<Scraped, Error> {
    let (active_tokens, mails_pending, webhooks_pending) = services
        .db(|conn| {
            Ok((
                tokens::count_active(conn)?,
                crate::db::outbox::pending(conn)?,
                crate::db::webhooks::pending(conn)?,
            ))
        })
        .await?;
    // After the work: the scrape's own connection is back in the pool.
    let pool = services.pool.state();
    Ok(Scraped {
        active_tokens,
        pool_idle: pool.idle_connections,
        pool_in_use: pool.connections.saturating_sub(pool.idle_connections),
        mails_pending,
        webhooks_pending,
    })
}

/// Runs blocking database work on the runtime's blocking threads with a
/// pooled connection, off the async workers. No pooled connection within the
/// pool timeout is `Unavailable`.
pub async fn run_blocking<T, F>(pool: &DbPool, work: F) -> Result<T, Error>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    run_blocking_within(pool, WORK_TIMEOUT, work).await
}

/// [`run_blocking`], giving up after `limit` with `Unavailable`.
pub async fn run_blocking_within<T, F>(
    pool: &DbPool,
    limit: std::time::Duration,
    work: F,
) -> Result<T, Error>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    });
    // A link that silently stopped forwarding holds the thread and its
    // connection until the keepalives or the link give up; the request
    // does not wait for that.
    match tokio::time::timeout(limit, done).await {
        Ok(joined) => joined.map_err(|e| Error::Internal(Box::new(e)))?,
        Err(elapsed) => Err(Error::Unavailable(Box::new(elapsed))),
    }
}

/// The longest database work waits when no setting says otherwise (see
/// `DatabaseSettings::work_timeout`).
pub const WORK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the database answers a trivial query (readiness). Any failure
/// means "not ready", so it is `Unavailable`, never `Internal`.
pub fn database_answers(conn: &mut AnyConnection) -> Result<(), Error> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute("SELECT 1")
        .map_err(|e| Error::Unavailable(Box::new(e)))
}
