//! The schema's migrations, embedded in the binary, and the data
//! migrations that SQL cannot do, run after them. Apart from `mod.rs`, so
//! that the connection types every table's file uses do not depend on one
//! of those files (`tests/layers.rs` finds no circle between files).

use super::users;
use super::{connect_once, AnyConnection, Database, DbSetupError};
use crate::domain::username::lookup_key;
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies pending migrations; returns how many were applied.
///
/// On PostgreSQL an advisory lock makes instances that start together take
/// turns, so only the first one migrates; on SQLite an immediate transaction
/// does the same (see [`run_pending`]).
pub fn migrate(database: &Database) -> Result<usize, DbSetupError> {
    let mut conn = connect_once(database)?;
    let fail = |e: diesel::result::Error| DbSetupError::Migrate(database.describe(), e.to_string());
    let migrations = match database {
        Database::Sqlite { .. } => SQLITE_MIGRATIONS,
        Database::Postgres { .. } => POSTGRES_MIGRATIONS,
    };
    let lock = matches!(database, Database::Postgres { .. });
    if lock {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .map_err(fail)?;
    }
    let applied = run_pending(&mut conn, migrations)
        .map_err(|e| DbSetupError::Migrate(database.describe(), e))
        .and_then(|applied| {
            rekey_usernames(&mut conn).map_err(fail)?;
            Ok(applied)
        });
    if lock {
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .map_err(fail)?;
    }
    applied
}

/// Runs the pending migrations, each in a transaction of its own. On SQLite
/// the whole run is one immediate transaction as well: each migration's own
/// transaction checks nothing before it starts, so a second process started
/// at the same moment (a command beside a starting server) would apply the
/// same migration again and fail on "table already exists". Holding the
/// write lock from the look-up of what is pending makes it wait, then find
/// nothing to do.
fn run_pending(conn: &mut AnyConnection, migrations: EmbeddedMigrations) -> Result<usize, String> {
    match conn {
        AnyConnection::Sqlite(sqlite) => sqlite.immediate_transaction(|sqlite| {
            sqlite
                .run_pending_migrations(migrations)
                .map(|applied| applied.len())
                .map_err(MigrationFailed::Migration)
        }),
        other => other
            .run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(MigrationFailed::Migration),
    }
    .map_err(|e| e.to_string())
}

/// A migration's error, or the transaction's around the SQLite run.
#[derive(Debug)]
enum MigrationFailed {
    Migration(Box<dyn std::error::Error + Send + Sync>),
    Transaction(diesel::result::Error),
}

impl From<diesel::result::Error> for MigrationFailed {
    fn from(error: diesel::result::Error) -> Self {
        MigrationFailed::Transaction(error)
    }
}

impl std::fmt::Display for MigrationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrationFailed::Migration(error) => error.fmt(f),
            MigrationFailed::Transaction(error) => error.fmt(f),
        }
    }
}

/// Brings lookup keys made before usernames were NFKC-normalised up to
/// date (a data migration that SQL cannot do), and says what it could not.
fn rekey_usernames(conn: &mut AnyConnection) -> diesel::QueryResult<()> {
    let rekeyed = users::rekey_usernames(conn, lookup_key)?;
    if rekeyed.updated > 0 {
        log::info!(
            "re-keyed {} username(s) to their NFKC form",
            rekeyed.updated
        );
    }
    for (user, holder) in rekeyed.clashes {
        log::warn!(
            "the username of user {user} is that of user {holder} once NFKC-normalised: \
             it keeps its old lookup key, so signing in by that name reaches user {holder} \
             (deactivate user {user} if it imitates the other)"
        );
    }
    Ok(())
}

/// An arbitrary constant that names multitoken's migration lock.
const MIGRATION_LOCK: i64 = 0x6d74_6d69_6772_6174;
