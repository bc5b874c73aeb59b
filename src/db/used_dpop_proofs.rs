//! Queries on `used_dpop_proofs`: the DPoP proofs accepted, by the digest
//! of their key's thumbprint and `jti`, so that each is accepted once on
//! every instance.

use super::schema::used_dpop_proofs;
use super::tokens::due_batch;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

#[derive(Insertable)]
#[diesel(table_name = used_dpop_proofs)]
struct NewUse<'a> {
    digest: &'a [u8],
    expires_at: i64,
}

/// Remembers the proof of `digest` as used until `expires_at`; `false`
/// when it was used already. Of two requests using one proof at once, the
/// unique key lets one through.
pub fn use_once(conn: &mut AnyConnection, digest: &[u8], expires_at: i64) -> QueryResult<bool> {
    match diesel::insert_into(used_dpop_proofs::table)
        .values(&NewUse { digest, expires_at })
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Deletes up to `limit` used proofs remembered until `cutoff` or before.
pub fn delete_expired_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> QueryResult<usize> {
    let expired = used_dpop_proofs::expires_at.le(cutoff);
    let Some(batch) = due_batch!(conn, used_dpop_proofs::digest as Vec<u8>, expired, limit)? else {
        return Ok(0);
    };
    diesel::delete(used_dpop_proofs::table.filter(batch)).execute(conn)
}
