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

    /// SQLite: how much of the database file each connection reads through a memory map, in MiB (0: read() calls only).
    #[arg(long, env = "SQLITE_MMAP_MIB", default_value_t = crate::db::SQLITE_MMAP_MIB, global = true,
          value_parser = named(mebibytes))]
    pub sqlite_mmap_mib: u32,

    /// SQLite: each pooled connection's own page cache, in MiB.
    #[arg(long, env = "SQLITE_CACHE_MIB", default_value_t = crate::db::SQLITE_CACHE_MIB, global = true,
          value_parser = named(mebibytes))]
    pub sqlite_cache_mib: u32,

    /// Internal: how long a SQLite connection waits for another writer.
    #[arg(skip = crate::db::SQLITE_BUSY_TIMEOUT)]
    pub sqlite_busy_timeout: Duration,
}

/// The most either SQLite size may be: a map or a cache beyond the
/// machine's memory is a typo, not a setting.
const MAX_SQLITE_MIB: u32 = 1 << 20;

/// A size in MiB, from 0 to a TiB.
fn mebibytes(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(value) if value <= MAX_SQLITE_MIB => Ok(value),
        _ => Err(format!(
            "invalid value {text:?}: expected a whole number of MiB from 0 to {MAX_SQLITE_MIB}"
        )),
    }
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

    /// How the pool sets up each connection it opens.
    pub fn pool_options(&self, track_evictions: bool) -> crate::db::PoolOptions {
        crate::db::PoolOptions {
            busy_timeout: self.sqlite_busy_timeout,
            statement_timeout: self.database_statement_timeout,
            track_evictions,
            sqlite_mmap_mib: self.sqlite_mmap_mib,
            sqlite_cache_mib: self.sqlite_cache_mib,
        }
    }

    /// The longest a request waits for its database work: the pool's wait,
    /// one statement's timeout, and a second for the rest of the work.
    pub fn work_timeout(&self) -> Duration {
        crate::db::POOL_TIMEOUT + self.database_statement_timeout + Duration::from_secs(1)
    }
}
