//! Reading a Django project's database for `import-django`: `auth_user`
//! and the token tables of DRF, djangorestframework-multitoken and knox.
//!
//! The connection is opened read only (SQLite `mode=ro`, a PostgreSQL
//! session whose transactions are read only), so the import cannot change
//! the source even by mistake. Rows are read a batch at a time, by keyset
//! on the user id, so memory does not grow with the size of the project.
//! Instants come back as milliseconds since the epoch on both backends.

use super::{AnyConnection, Database};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{PgConnection, SqliteConnection};

/// The token tables an import reads, in the order it reads them.
pub const DRF_TABLE: &str = "authtoken_token";
pub const MULTITOKEN_TABLE: &str = "rest_framework_multitoken_multitoken";
pub const KNOX_TABLE: &str = "knox_authtoken";

#[derive(Debug, Clone, QueryableByName)]
pub struct DjangoUser {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub username: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub password: String,
    #[diesel(sql_type = Bool)]
    pub is_active: bool,
    #[diesel(sql_type = Bool)]
    pub is_staff: bool,
    #[diesel(sql_type = Bool)]
    pub is_superuser: bool,
    #[diesel(sql_type = BigInt)]
    pub date_joined: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_login: Option<i64>,
}

/// A token row of any of the three tables: `secret` is DRF's and
/// multitoken's key, or knox's stored SHA-512 hex digest.
#[derive(Clone, QueryableByName)]
pub struct DjangoToken {
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub expiry: Option<i64>,
}

impl std::fmt::Debug for DjangoToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DjangoToken")
            .field("user_id", &self.user_id)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Opens the Django database read only. A SQLite path that does not exist
/// is an error here, not a new empty file.
pub fn open_read_only(url: &str) -> Result<AnyConnection, String> {
    let database = Database::parse(url)?;
    match database {
        Database::Sqlite { path } => {
            if !std::path::Path::new(&path).is_file() {
                return Err(format!("{path}: no such file"));
            }
            let escaped: String = path
                .chars()
                .map(|c| match c {
                    '%' => "%25".to_owned(),
                    '?' => "%3f".to_owned(),
                    '#' => "%23".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            SqliteConnection::establish(&format!("file:{escaped}?mode=ro"))
                .map(AnyConnection::Sqlite)
                .map_err(|e| e.to_string())
        }
        Database::Postgres { url } => {
            let mut conn = PgConnection::establish(&url).map_err(|e| e.to_string())?;
            conn.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                .map_err(|e| e.to_string())?;
            Ok(AnyConnection::Postgresql(conn))
        }
    }
}

/// The tables of the source's default schema (PostgreSQL: the search path).
pub fn tables(conn: &mut AnyConnection) -> QueryResult<Vec<String>> {
    let query = match conn {
        AnyConnection::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
        AnyConnection::Postgresql(_) => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = ANY (current_schemas(false))"
        }
    };
    let names: Vec<Name> = diesel::sql_query(query).load(conn)?;
    Ok(names.into_iter().map(|name| name.name).collect())
}

pub fn count_users(conn: &mut AnyConnection) -> QueryResult<i64> {
    let counted: Count =
        diesel::sql_query("SELECT COUNT(*) AS count FROM auth_user").get_result(conn)?;
    Ok(counted.count)
}

/// An instant column as milliseconds: SQLite holds Django's UTC text.
fn millis(conn: &AnyConnection, column: &str) -> String {
    match conn {
        AnyConnection::Sqlite(_) => {
            format!("CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS BIGINT)")
        }
        AnyConnection::Postgresql(_) => {
            format!("CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000) AS BIGINT)")
        }
    }
}

/// Up to `limit` users with ids above `after`, by id.
pub fn users_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<DjangoUser>> {
    let query = format!(
        "SELECT CAST(id AS BIGINT) AS id, username, email, password, is_active, is_staff, \
         is_superuser, {} AS date_joined, {} AS last_login FROM auth_user \
         WHERE id > $1 ORDER BY id LIMIT $2",
        millis(conn, "date_joined"),
        millis(conn, "last_login"),
    );
    diesel::sql_query(sqlite_placeholders(conn, query))
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

/// The tokens of `table` whose user id is within `first..=last`, by user
/// and then by age, oldest first: DRF's every row, multitoken's active ones,
/// knox's that have not expired by `now`.
pub fn tokens_of_users(
    conn: &mut AnyConnection,
    table: &str,
    first: i64,
    last: i64,
    now: i64,
) -> QueryResult<Vec<DjangoToken>> {
    let created = millis(conn, "created");
    let (secret, expiry, condition) = match table {
        DRF_TABLE => ("key", "NULL".to_owned(), "1 = 1".to_owned()),
        MULTITOKEN_TABLE => ("key", "NULL".to_owned(), "is_active".to_owned()),
        KNOX_TABLE => {
            let expiry = millis(conn, "expiry");
            let condition = format!("(expiry IS NULL OR {expiry} > $3)");
            ("digest", expiry, condition)
        }
        other => {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("not a token table: {other}").into(),
            ))
        }
    };
    let query = format!(
        "SELECT CAST(user_id AS BIGINT) AS user_id, {secret} AS secret, {created} AS created, \
         CAST({expiry} AS BIGINT) AS expiry FROM {table} \
         WHERE user_id >= $1 AND user_id <= $2 AND {condition} \
         AND $3 = $3 ORDER BY user_id, created, {secret}"
    );
    diesel::sql_query(sqlite_placeholders(conn, query))
        .bind::<BigInt, _>(first)
        .bind::<BigInt, _>(last)
        .bind::<BigInt, _>(now)
        .load(conn)
}

/// SQLite reads `$1` as a named parameter but binds by position, so each
/// must appear once and in order there: `?NNN` keeps the numbers.
fn sqlite_placeholders(conn: &AnyConnection, query: String) -> String {
    match conn {
        AnyConnection::Sqlite(_) => query.replace('$', "?"),
        AnyConnection::Postgresql(_) => query,
    }
}
