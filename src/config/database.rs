//! The database: where it is, and how long its statements and its
//! connections may wait.

use super::parse::named;
use crate::db::Database;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseSettings {
    /// A SQLite path or sqlite://PATH (created if missing), or postgres://...
    #[arg(long, env = "DATABASE_URL", default_value = "multitoken.db", global = true,
          value_parser = named(Database::parse))]
    pub database_url: Database,

    /// PostgreSQL: the longest one statement of a request may run (the server's statement_timeout).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "5s", global = true,
          value_parser = named(crate::domain::parse_duration))]
    pub database_statement_timeout: Duration,

    /// Internal: how long a SQLite connection waits for another writer.
    #[arg(skip = crate::db::SQLITE_BUSY_TIMEOUT)]
    pub sqlite_busy_timeout: Duration,
}

impl DatabaseSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.database_statement_timeout < Duration::from_millis(100) {
            return Err(format!(
                "DATABASE_STATEMENT_TIMEOUT ({:?}) must be at least 100ms",
                self.database_statement_timeout
            ));
        }
        Ok(())
    }

    /// The longest a request waits for its database work: the pool's wait,
    /// one statement's timeout, and a second for the rest of the work.
    pub fn work_timeout(&self) -> Duration {
        crate::db::POOL_TIMEOUT + self.database_statement_timeout + Duration::from_secs(1)
    }
}
