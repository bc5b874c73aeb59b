//! Storage: one diesel codebase over SQLite and PostgreSQL.
//!
//! The backend is chosen at run time from `DATABASE_URL`; every query is
//! written once against [`AnyConnection`] and lives in the file of its table
//! (`users`, `tokens`, `throttle` for `login_failures`, `secrets`,
//! `console_sessions`, `outbox` for `mail_outbox`) as a plain
//! `fn(&mut AnyConnection, ..) -> QueryResult<..>`.

pub mod activity;
pub mod batch;
pub mod cache_instances;
pub mod console_sessions;
pub mod device_grants;
pub mod django;
pub mod email_verification;
pub mod events;
pub mod identities;
mod migrations;
pub mod notifications;
pub mod outbox;
pub mod rotation;
pub mod schema;
pub mod secrets;
pub mod signing_keys;
pub mod throttle;
pub mod tokens;
pub mod two_factor;
pub mod used_dpop_proofs;
pub mod used_id_tokens;
mod used_once;
mod user_by_id;
pub mod users;
pub mod webhooks;

pub use migrations::migrate;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{CustomizeConnection, HandleError, ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, ConnectionResult, PgConnection, RunQueryDsl, SqliteConnection};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Sqlite(SqliteConnection),
    Postgresql(PgConnection),
}

pub type DbPool = Pool<Connector>;

/// Runs `work` in a transaction: the service's only way to open one.
///
/// On SQLite the outermost transaction begins with `BEGIN IMMEDIATE`. A
/// deferred one that reads and then writes cannot wait for another writer:
/// when a write committed after its first read, SQLite refuses the upgrade
/// at once (`SQLITE_BUSY`, whatever `busy_timeout` says), which surfaced as
/// a rare `503` when a request and the mail worker wrote together. Taking the
/// write lock first makes it wait its turn instead. PostgreSQL and nested
/// transactions (savepoints) are diesel's own.
#[allow(clippy::disallowed_methods)] // the one place diesel's transaction is called
pub fn transaction<T, E, F>(conn: &mut AnyConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let AnyConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    if AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()?
        .is_some()
    {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        // As diesel's own: the work's error wins over a failed rollback,
        // unless the rollback left the connection unusable.
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// How long a SQLite connection waits for another writer before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection before it gets a 503.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of a SQLite file each connection maps into memory, in MiB.
pub const SQLITE_MMAP_MIB: u32 = 256;
/// Each SQLite connection's own page cache, in MiB.
pub const SQLITE_CACHE_MIB: u32 = 2;

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite { path: String },
    Postgres { url: String },
}

impl Database {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres {
                url: url.to_owned(),
            });
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if scheme != "sqlite" {
                return Err(format!(
                    "unsupported database scheme {scheme:?}: use a SQLite path, sqlite://PATH or postgres://..."
                ));
            }
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            return Err("the SQLite path is empty".into());
        }
        Ok(Database::Sqlite {
            path: path.to_owned(),
        })
    }

    /// What connections are opened with. A PostgreSQL URL gains what makes
    /// a dead or silent link fail instead of hanging, unless it says
    /// otherwise: a connect timeout, TCP keepalives, and a TCP user timeout
    /// (unacknowledged data gives up after 15 s).
    pub fn connection_url(&self) -> String {
        match self {
            Database::Sqlite { path } => path.clone(),
            Database::Postgres { url } => with_link_defaults(url),
        }
    }

    /// A description safe to log: no password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { path } => format!("SQLite at {path}"),
            Database::Postgres { url } => {
                // The query first: a `password=` there may hold an `@`.
                let (base, query) = url.split_once('?').unwrap_or((url, ""));
                let host = base.rsplit_once('@').map_or_else(
                    || {
                        base.trim_start_matches("postgresql://")
                            .trim_start_matches("postgres://")
                    },
                    |(_, host)| host,
                );
                let at = if host.is_empty() {
                    String::new()
                } else {
                    format!(" at {host}")
                };
                if !host.is_empty() && !host.starts_with('/') {
                    return format!("PostgreSQL{at}");
                }
                // No host (before the database, if one is named): libpq's
                // Unix socket, in the folder `host=` names, if it does.
                let socket = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("host="))
                    .map_or_else(
                        || "libpq's default Unix socket".to_owned(),
                        |folder| format!("the Unix socket in {folder}"),
                    );
                format!("PostgreSQL{at} on {socket}")
            }
        }
    }

    fn pool_size(&self) -> u32 {
        match self {
            // SQLite readers run in parallel under WAL; writers queue on the file lock.
            Database::Sqlite { .. } => 8,
            Database::Postgres { .. } => 10,
        }
    }
}

/// libpq parameters a PostgreSQL URL gets unless it sets them.
const LINK_DEFAULTS: [(&str, &str); 6] = [
    ("connect_timeout", "5"),
    ("keepalives", "1"),
    ("keepalives_idle", "10"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "15000"),
];

fn with_link_defaults(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let set: Vec<&str> = query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key))
        .collect();
    let mut url = url.to_owned();
    for (key, value) in LINK_DEFAULTS {
        if !set.contains(&key) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

/// What the pool sets on each connection it opens.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// SQLite: how long to wait for another writer.
    pub busy_timeout: Duration,
    /// PostgreSQL: the server's `statement_timeout`.
    pub statement_timeout: Duration,
    /// PostgreSQL: collect what this session's writes announce to the token
    /// caches, for the instance to evict its own entries at once.
    pub track_evictions: bool,
    /// SQLite: how much of the file is read through a memory map (`0`: none).
    pub sqlite_mmap_mib: u32,
    /// SQLite: the connection's own page cache.
    pub sqlite_cache_mib: u32,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            busy_timeout: SQLITE_BUSY_TIMEOUT,
            statement_timeout: Duration::from_secs(5),
            track_evictions: false,
            sqlite_mmap_mib: SQLITE_MMAP_MIB,
            sqlite_cache_mib: SQLITE_CACHE_MIB,
        }
    }
}

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for PoolOptions {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Postgresql(postgres) = conn {
            let track = if self.track_evictions { "on" } else { "off" };
            return postgres
                .batch_execute(&format!(
                    "SET statement_timeout = {}; SET multitoken.track_evictions = '{track}'",
                    self.statement_timeout.as_millis()
                ))
                .map_err(diesel::r2d2::Error::QueryError);
        }
        apply_pragmas(conn, self).map_err(diesel::r2d2::Error::QueryError)
    }
}

fn apply_pragmas(conn: &mut AnyConnection, options: &PoolOptions) -> diesel::QueryResult<()> {
    if let AnyConnection::Sqlite(sqlite) = conn {
        // WAL lets token checks read while a login writes; NORMAL sync is
        // durable against a crash of the process (not of the machine's power).
        // A page read through the map is the kernel's file cache, with no
        // read() call and no copy (at 100k users, 0.76 of 1k users' CPU per
        // check against 0.49 without). Each connection maps the file on its
        // own: a page touched by several counts in the RSS once for each,
        // as reclaimable file memory. The page cache (negative: KiB) is
        // anonymous memory of every connection.
        sqlite.batch_execute(&format!(
            "PRAGMA busy_timeout = {}",
            options.busy_timeout.as_millis()
        ))?;
        use_wal(sqlite, options.busy_timeout)?;
        sqlite.batch_execute(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA mmap_size = {}; PRAGMA cache_size = -{};",
            u64::from(options.sqlite_mmap_mib) << 20,
            u64::from(options.sqlite_cache_mib) << 10,
        ))?;
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}

/// Puts the file in WAL mode, a setting the file keeps: once it is in WAL,
/// as it is for every connection after the first, this is one read.
///
/// Converting needs the file to itself, and SQLite refuses at once when
/// another connection holds it ("database is locked"): it does not call the
/// busy handler for this. Processes opening a new file together (a command
/// beside a starting server, instances started at once) met that, so the
/// conversion is tried again for up to `budget`, and is done when another
/// connection did it meanwhile.
fn use_wal(sqlite: &mut SqliteConnection, budget: Duration) -> diesel::QueryResult<()> {
    let give_up = Instant::now() + budget;
    let mut pause = Duration::from_millis(2);
    loop {
        let converted = diesel::sql_query("PRAGMA journal_mode")
            .get_result::<JournalMode>(sqlite)
            .and_then(|mode| {
                if mode.journal_mode.eq_ignore_ascii_case("wal") {
                    return Ok(mode);
                }
                diesel::sql_query("PRAGMA journal_mode = WAL").get_result::<JournalMode>(sqlite)
            });
        match converted {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message() == "database is locked" && Instant::now() < give_up =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other.map(|_| ()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot open the database ({0}): {1}")]
    Connect(String, String),
    #[error("cannot apply migrations to the database ({0}): {1}")]
    Migrate(String, String),
}

/// Opens one connection to `url` (`database`'s [`Database::connection_url`])
/// with the backend's own connection type, so that a failure says what went
/// wrong: diesel's `MultiConnection::establish` tries each backend in turn
/// and keeps none of their errors ("Invalid connection url for
/// multiconnection", whatever the cause).
fn establish(database: &Database, url: &str) -> ConnectionResult<AnyConnection> {
    match database {
        Database::Sqlite { .. } => SqliteConnection::establish(url).map(AnyConnection::Sqlite),
        Database::Postgres { .. } => PgConnection::establish(url).map(AnyConnection::Postgresql),
    }
}

/// SQLite's message for a file it cannot create says nothing of why; the
/// usual reason, a folder that does not exist, is added to it.
fn with_reason(database: &Database, message: String) -> String {
    let Database::Sqlite { path } = database else {
        return message;
    };
    match std::path::Path::new(path).parent() {
        Some(folder) if !folder.as_os_str().is_empty() && !folder.is_dir() => {
            format!("{message}: the folder {} does not exist", folder.display())
        }
        _ => message,
    }
}

/// Opens one connection, with the same per-connection settings as the pool.
pub fn connect_once(database: &Database) -> Result<AnyConnection, DbSetupError> {
    let fail = |e: String| DbSetupError::Connect(database.describe(), one_line(&e));
    let mut conn = establish(database, &database.connection_url())
        .map_err(|e| fail(with_reason(database, e.to_string())))?;
    apply_pragmas(&mut conn, &PoolOptions::default()).map_err(|e| fail(e.to_string()))?;
    Ok(conn)
}

pub fn pool(database: &Database) -> Result<DbPool, DbSetupError> {
    pool_with_busy_timeout(database, SQLITE_BUSY_TIMEOUT)
}

/// [`pool`], with SQLite connections waiting `busy_timeout` for other writers.
pub fn pool_with_busy_timeout(
    database: &Database,
    busy_timeout: Duration,
) -> Result<DbPool, DbSetupError> {
    pool_with(
        database,
        PoolOptions {
            busy_timeout,
            ..PoolOptions::default()
        },
    )
}

/// [`pool`], with each connection set up by `options`.
pub fn pool_with(database: &Database, options: PoolOptions) -> Result<DbPool, DbSetupError> {
    Pool::builder()
        .max_size(database.pool_size())
        .min_idle(Some(1))
        .connection_timeout(POOL_TIMEOUT)
        // A PostgreSQL connection can die with the network and is probed
        // before use; a SQLite file handle cannot, so it skips the probe.
        .test_on_check_out(matches!(database, Database::Postgres { .. }))
        .connection_customizer(Box::new(options))
        // r2d2 would log every failed attempt, several a second while the
        // database is down; the `Connector` tells the outage once instead.
        .error_handler(Box::new(QuietPoolErrors))
        .build(Connector::new(database))
        .map_err(|e| DbSetupError::Connect(database.describe(), e.to_string()))
}

/// Opens the pool's connections (see [`establish`]), and tells the log
/// when the database stops answering and when it answers again: one line
/// each per outage, however many attempts and requests fail in between.
#[derive(Debug)]
pub struct Connector {
    database: Database,
    url: String,
    outage: Outage,
}

impl Connector {
    pub fn new(database: &Database) -> Self {
        Connector {
            database: database.clone(),
            url: database.connection_url(),
            outage: Outage::default(),
        }
    }
}

impl ManageConnection for Connector {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match establish(&self.database, &self.url) {
            Ok(conn) => {
                self.outage.ended(&self.database);
                Ok(conn)
            }
            Err(error) => {
                self.outage.began(&self.database, &error);
                Err(diesel::r2d2::Error::ConnectionError(error))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Pools of this process whose database cannot be reached now.
static UNREACHABLE: AtomicUsize = AtomicUsize::new(0);

/// Whether a pool of this process cannot reach its database now. The
/// outage has been logged with its cause, so the requests that fail for it
/// need not be, one by one.
pub fn out_of_reach() -> bool {
    UNREACHABLE.load(Ordering::SeqCst) > 0
}

/// Since when a pool's connections fail to open, if they do.
#[derive(Debug, Default)]
struct Outage {
    since: Mutex<Option<Instant>>,
}

impl Outage {
    fn began(&self, database: &Database, cause: &diesel::ConnectionError) {
        let mut since = self.since.lock().unwrap_or_else(PoisonError::into_inner);
        let cause = one_line(&cause.to_string());
        if since.is_some() {
            log::debug!("database still unreachable: {cause}");
            return;
        }
        *since = Some(Instant::now());
        UNREACHABLE.fetch_add(1, Ordering::SeqCst);
        log::error!(
            "database unreachable ({}): {cause}; requests get 503 until it answers again",
            database.describe()
        );
    }

    fn ended(&self, database: &Database) {
        let mut since = self.since.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(began) = since.take() {
            UNREACHABLE.fetch_sub(1, Ordering::SeqCst);
            log::warn!(
                "database reachable again ({}) after {:.1} s",
                database.describe(),
                began.elapsed().as_secs_f64()
            );
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        let since = self.since.get_mut().unwrap_or_else(PoisonError::into_inner);
        if since.is_some() {
            UNREACHABLE.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// libpq's messages run over several lines (a hint under the cause); a log
/// line is one.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What r2d2 reports of failed attempts and of pooled connections found
/// dead: for debugging only, as [`Outage`] tells what matters.
#[derive(Debug)]
struct QuietPoolErrors;

impl HandleError<diesel::r2d2::Error> for QuietPoolErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        log::debug!("database pool: {}", one_line(&error.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(
            Database::parse("multitoken.db"),
            Ok(Database::Sqlite {
                path: "multitoken.db".into()
            })
        );
        assert_eq!(
            Database::parse("sqlite:///var/lib/mt.db"),
            Ok(Database::Sqlite {
                path: "/var/lib/mt.db".into()
            })
        );
        assert_eq!(
            Database::parse("postgres://u:p@db/mt"),
            Ok(Database::Postgres {
                url: "postgres://u:p@db/mt".into()
            })
        );
        assert!(matches!(
            Database::parse("postgresql://db/mt"),
            Ok(Database::Postgres { .. })
        ));
        assert!(Database::parse("mysql://db/mt").is_err());
        assert!(Database::parse("sqlite://").is_err());
    }

    #[test]
    fn postgresql_links_get_timeouts_and_keepalives_unless_set() {
        let database = Database::parse("postgres://db/mt?keepalives_idle=30");
        let url = database.map(|d| d.connection_url()).unwrap_or_default();
        assert_eq!(
            url,
            "postgres://db/mt?keepalives_idle=30&connect_timeout=5&keepalives=1\
             &keepalives_interval=5&keepalives_count=3&tcp_user_timeout=15000"
        );
        let sqlite = Database::parse("mt.db").map(|d| d.connection_url());
        assert_eq!(sqlite.as_deref(), Ok("mt.db"));
    }

    /// SQLite refused a second connection's switch to WAL at once while
    /// a first one made it: in CI, one of four `migrate`s started together
    /// on a new file failed on "database is locked".
    #[test]
    fn connections_opening_a_new_file_together_all_open_it_in_wal() {
        for round in 0..50 {
            let folder = tempfile::tempdir().expect("temporary folder");
            let path = folder.path().join("multitoken.db");
            let database = Database::Sqlite {
                path: path.display().to_string(),
            };
            let opened: Vec<Result<String, String>> = std::thread::scope(|scope| {
                let opening: Vec<_> = (0..12)
                    .map(|_| {
                        scope.spawn(|| {
                            let mut conn = connect_once(&database).map_err(|e| e.to_string())?;
                            let AnyConnection::Sqlite(sqlite) = &mut conn else {
                                return Err("not SQLite".to_owned());
                            };
                            diesel::sql_query("PRAGMA journal_mode")
                                .get_result::<JournalMode>(sqlite)
                                .map(|mode| mode.journal_mode)
                                .map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                opening
                    .into_iter()
                    .map(|thread| thread.join().unwrap_or_else(|_| Err("panicked".into())))
                    .collect()
            });
            let wal = vec![Ok("wal".to_owned()); opened.len()];
            assert_eq!(opened, wal, "round {round}");
        }
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let database = Database::parse("postgres://app:s3cret@db.internal:5432/mt?sslmode=require");
        let described = database.map(|d| d.describe()).unwrap_or_default();
        assert_eq!(described, "PostgreSQL at db.internal:5432/mt");
        let in_query = Database::parse("postgres://db.internal/mt?password=s3c@ret")
            .map(|d| d.describe())
            .unwrap_or_default();
        assert_eq!(in_query, "PostgreSQL at db.internal/mt");
        let socket =
            Database::parse("postgres://app:s3cret@/mt?password=s3cret&host=/var/run/postgresql")
                .map(|d| d.describe())
                .unwrap_or_default();
        assert_eq!(
            socket,
            "PostgreSQL at /mt on the Unix socket in /var/run/postgresql"
        );
        let default_socket = Database::parse("postgres:///mt").map(|d| d.describe());
        assert_eq!(
            default_socket.as_deref(),
            Ok("PostgreSQL at /mt on libpq's default Unix socket")
        );
        let no_database = Database::parse("postgres://app@?host=/tmp").map(|d| d.describe());
        assert_eq!(
            no_database.as_deref(),
            Ok("PostgreSQL on the Unix socket in /tmp")
        );
    }
}
