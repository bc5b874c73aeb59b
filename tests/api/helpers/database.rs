//! `TestDatabase`: a database that exists for one test. On SQLite a file in a
//! temp dir; on PostgreSQL a schema of its own, named
//! `mt_test_<unix seconds>_<random hex>` and dropped on `Drop`. A run that
//! was killed cannot drop its schemas, so the first PostgreSQL database of
//! each test process sweeps the schemas of runs old enough to be over.

use super::{postgres_admin_url, unix_now, Backend};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use multitoken::db::Database;
use rand::Rng;
use std::sync::Once;
use std::time::Duration;
use tempfile::TempDir;

/// Every test schema starts with this; the sweep looks at nothing else.
const SCHEMA_PREFIX: &str = "mt_test_";

/// A schema is swept once it is older than this: no test runs that long, so
/// a schema this old belongs to a run that was killed, never to a test still
/// running in this or another process.
const LEFTOVER_AGE: Duration = Duration::from_secs(2 * 3600);

/// A database that exists for one test.
pub struct TestDatabase {
    pub database: Database,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(#[allow(dead_code)] TempDir),
    PostgresSchema { admin_url: String, schema: String },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("multitoken.db");
                TestDatabase {
                    database: Database::Sqlite {
                        path: path.to_string_lossy().into_owned(),
                    },
                    cleanup: Cleanup::SqliteDir(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url().expect(
                    "TEST_DATABASE_URL is not set, but this test binary was built with it: \
                     run it through `cargo test`",
                );
                let mut admin =
                    PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
                static SWEEP: Once = Once::new();
                SWEEP.call_once(|| sweep_leftover_schemas(&mut admin, unix_now().as_secs()));
                let schema = schema_name(unix_now().as_secs(), rand::thread_rng().gen());
                admin
                    .batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
                TestDatabase {
                    database: Database::Postgres { url },
                    cleanup: Cleanup::PostgresSchema { admin_url, schema },
                }
            }
        }
    }

    pub fn url(&self) -> String {
        match &self.database {
            Database::Sqlite { path } => path.clone(),
            Database::Postgres { url } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::PostgresSchema { admin_url, schema } = &self.cleanup {
            match PgConnection::establish(admin_url) {
                Ok(mut admin) => {
                    if let Err(error) =
                        admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    {
                        eprintln!("could not drop test schema {schema}: {error}");
                    }
                }
                Err(error) => eprintln!("could not drop test schema {schema}: {error}"),
            }
        }
    }
}

fn schema_name(created: u64, random: u64) -> String {
    format!("{SCHEMA_PREFIX}{created}_{random:016x}")
}

/// What a schema's name says about it.
#[derive(Debug, PartialEq, Eq)]
enum SchemaName {
    /// `mt_test_<seconds>_<hex>`, created at that second.
    Timestamped(u64),
    /// `mt_test_<16 hex>`, the format before timestamps: only a run of an
    /// older checkout makes these.
    Untimestamped,
    /// Anything else under the prefix: not ours to touch.
    Foreign,
}

fn parse_schema_name(name: &str) -> SchemaName {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(rest) = name.strip_prefix(SCHEMA_PREFIX) else {
        return SchemaName::Foreign;
    };
    match rest.split_once('_') {
        Some((seconds, random))
            if !seconds.is_empty() && seconds.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match (seconds.parse(), is_hex(random)) {
                (Ok(seconds), true) => SchemaName::Timestamped(seconds),
                _ => SchemaName::Foreign,
            }
        }
        None if rest.len() == 16 && is_hex(rest) => SchemaName::Untimestamped,
        _ => SchemaName::Foreign,
    }
}

#[derive(QueryableByName)]
struct Schema {
    #[diesel(sql_type = Text)]
    nspname: String,
}

#[derive(QueryableByName)]
struct Age {
    /// Seconds since the schema's newest migration, or `None` when it has
    /// no migrations table (yet).
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    seconds: Option<f64>,
}

/// Drops the test schemas of runs that are over. A timestamped schema goes
/// once its name is older than [`LEFTOVER_AGE`]. A schema in the old format
/// says nothing of its age in its name, and a checkout from before this
/// format may be running its tests right now, so it goes only when its
/// newest migration is that old too. Failures are printed, never fatal.
fn sweep_leftover_schemas(admin: &mut PgConnection, now: u64) {
    let schemas: Vec<Schema> = match diesel::sql_query(
        "SELECT nspname::text AS nspname FROM pg_namespace WHERE nspname LIKE 'mt\\_test\\_%'",
    )
    .load(admin)
    {
        Ok(schemas) => schemas,
        Err(error) => return eprintln!("could not list leftover test schemas: {error}"),
    };
    for Schema { nspname: name } in schemas {
        let leftover = match parse_schema_name(&name) {
            SchemaName::Timestamped(created) => {
                now.saturating_sub(created) > LEFTOVER_AGE.as_secs()
            }
            SchemaName::Untimestamped => match newest_migration_age(admin, &name) {
                Ok(Some(seconds)) => seconds > LEFTOVER_AGE.as_secs_f64(),
                Ok(None) => false,
                Err(error) => {
                    eprintln!("could not read the age of test schema {name}: {error}");
                    false
                }
            },
            SchemaName::Foreign => false,
        };
        if leftover {
            match admin.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")) {
                Ok(()) => eprintln!("dropped leftover test schema {name}"),
                Err(error) => eprintln!("could not drop leftover test schema {name}: {error}"),
            }
        }
    }
}

fn newest_migration_age(
    admin: &mut PgConnection,
    schema: &str,
) -> diesel::QueryResult<Option<f64>> {
    // The name was checked to be `mt_test_` and hex digits: safe to quote.
    let table = format!("\"{schema}\".__diesel_schema_migrations");
    let exists: Vec<Schema> = diesel::sql_query(format!(
        "SELECT coalesce(to_regclass('{table}')::text, '') AS nspname"
    ))
    .load(admin)?;
    if exists.first().is_none_or(|found| found.nspname.is_empty()) {
        return Ok(None);
    }
    let age: Vec<Age> = diesel::sql_query(format!(
        "SELECT EXTRACT(EPOCH FROM (LOCALTIMESTAMP - max(run_on)))::float8 AS seconds FROM {table}"
    ))
    .load(admin)?;
    Ok(age.into_iter().next().and_then(|age| age.seconds))
}

#[test]
fn schema_names_carry_their_creation_time_and_only_ours_are_swept() {
    let name = schema_name(1_700_000_000, 0xab);
    assert_eq!(name, "mt_test_1700000000_00000000000000ab");
    assert_eq!(
        parse_schema_name(&name),
        SchemaName::Timestamped(1_700_000_000)
    );
    assert_eq!(
        parse_schema_name("mt_test_0123456789abcdef"),
        SchemaName::Untimestamped
    );
    for foreign in [
        "mt_test_",
        "mt_test_1700000000_",
        "mt_test_1700000000_xyz",
        "mt_test_abc",
        "mt_test__ab",
        "mt_test_12x_ab",
        "public",
        "mt_testing_1700000000_ab",
    ] {
        assert_eq!(parse_schema_name(foreign), SchemaName::Foreign, "{foreign}");
    }
}
