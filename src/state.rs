//! What every request handler shares: the pool, the settings, the hasher.

use crate::config::Settings;
use crate::db::{AnyConnection, DbPool};
use crate::domain::{SecretKey, TokenPolicy};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::service::password_reset::ResetMailQueue;
use crate::service::passwords::PasswordHasher;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub policy: TokenPolicy,
    pub hasher: PasswordHasher,
    /// Whether short reads may run on the async workers (SQLite only).
    pub reads_inline: bool,
    /// The resolved `SECRET_KEY`: derive a key per purpose from it.
    pub secret_key: SecretKey,
    pub reset_mails: ResetMailQueue,
    pub metrics: Metrics,
}

impl AppState {
    /// Runs blocking database work on actix's blocking threads with a pooled
    /// connection. No pooled connection within the pool timeout means 503.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }

    /// Runs a short read right here when the backend allows it and a pooled
    /// connection is idle; `None` means: use [`AppState::db`] instead.
    pub fn try_read_now<T>(&self, read: impl FnOnce(&mut AnyConnection) -> T) -> Option<T> {
        if !self.reads_inline {
            return None;
        }
        let mut conn = self.pool.try_get()?;
        Some(read(&mut conn))
    }
}
