//! Queries on `secrets`: named server secrets kept across restarts.

use super::schema::secrets;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

pub fn get(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<String>> {
    secrets::table
        .find(name)
        .select(secrets::value)
        .first(conn)
        .optional()
}

/// Stores `value` under `name` unless another process stored one first;
/// returns the value that is stored now, the caller's or the other one.
pub fn insert_or_get(
    conn: &mut AnyConnection,
    name: &str,
    value: &str,
    now: i64,
) -> QueryResult<String> {
    let inserted = diesel::insert_into(secrets::table)
        .values((
            secrets::name.eq(name),
            secrets::value.eq(value),
            secrets::created_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            get(conn, name)?.ok_or(Error::NotFound)
        }
        Err(other) => Err(other),
    }
}
