//! What every request handler shares: the pool, the settings, the hasher.

use crate::config::Settings;
use crate::db::{AnyConnection, DbPool};
use crate::domain::TokenPolicy;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::service::passwords::PasswordHasher;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub policy: TokenPolicy,
    pub hasher: PasswordHasher,
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
}
