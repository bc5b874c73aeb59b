//! The database: where it is, and how long its statements and its
//! connections may wait.

use super::parse::named;
use crate::db::Database;
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Database")]
    pub struct DatabaseSettings {
        /// A SQLite path or sqlite://PATH (created if missing), or postgres://...
        database_url: Database = "multitoken.db" => named(Database::parse),

        /// PostgreSQL: the longest one statement of a request may run (the server's statement_timeout).
        database_statement_timeout: Duration = "5s" => named(crate::domain::parse_duration),

        /// SQLite: how much of the database file each connection reads through a memory map, in MiB (0: read() calls only).
        #[arg(default_value_t = crate::db::SQLITE_MMAP_MIB)]
        sqlite_mmap_mib: u32 => named(mebibytes),

        /// SQLite: each pooled connection's own page cache, in MiB.
        #[arg(default_value_t = crate::db::SQLITE_CACHE_MIB)]
        sqlite_cache_mib: u32 => named(mebibytes),

        /// Internal: how long a SQLite connection waits for another writer.
        internal sqlite_busy_timeout: Duration = crate::db::SQLITE_BUSY_TIMEOUT,
    }
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
