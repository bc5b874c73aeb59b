//! Queries on `used_id_tokens`: the ID tokens that signed someone in with
//! an OpenID Connect provider, by digest, so that each signs in once on
//! every instance.

use super::schema::used_id_tokens;
use super::tokens::due_batch;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

#[derive(Insertable)]
#[diesel(table_name = used_id_tokens)]
struct NewUse<'a> {
    digest: &'a [u8],
    expires_at: i64,
}

/// Remembers the ID token of `digest` as used until `expires_at`; `false`
/// when it was used already. Of two transactions using one token at once,
/// the unique key lets one through: the other waits for it (PostgreSQL) or
/// for the write lock (SQLite), then finds the row.
pub fn use_once(conn: &mut AnyConnection, digest: &[u8], expires_at: i64) -> QueryResult<bool> {
    match diesel::insert_into(used_id_tokens::table)
        .values(&NewUse { digest, expires_at })
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Deletes up to `limit` used ID tokens remembered until `cutoff` or before.
pub fn delete_expired_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> QueryResult<usize> {
    let expired = used_id_tokens::expires_at.le(cutoff);
    let Some(batch) = due_batch!(conn, used_id_tokens::digest as Vec<u8>, expired, limit)? else {
        return Ok(0);
    };
    diesel::delete(used_id_tokens::table.filter(batch)).execute(conn)
}
