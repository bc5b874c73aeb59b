//! Queries on `signing_keys`: the keys that sign JWT access tokens. The
//! current signer is the one row with no `retired_at`; a unique index allows
//! only one, so [`insert_current_or_get`] is safe for instances that start
//! at once.

use super::schema::signing_keys;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    /// SEC1 uncompressed point.
    pub public_key: Vec<u8>,
    /// AES-256-GCM nonce and ciphertext of the PKCS#8 document.
    pub encrypted_private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub public_key: &'a [u8],
    pub encrypted_private_key: &'a [u8],
    pub created_at: i64,
}

pub fn current(conn: &mut AnyConnection) -> QueryResult<Option<SigningKeyRow>> {
    signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()
}

/// Every key not retired before `retired_since` (the current one too), newest first.
pub fn verifying(conn: &mut AnyConnection, retired_since: i64) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::retired_at.gt(retired_since)),
        )
        .order(signing_keys::id.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// Every key, newest first.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .order(signing_keys::id.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// Makes `new` the current signer unless another process made one first;
/// returns the current signer, this one or the other.
pub fn insert_current_or_get(
    conn: &mut AnyConnection,
    new: &NewSigningKey<'_>,
) -> QueryResult<SigningKeyRow> {
    match diesel::insert_into(signing_keys::table)
        .values(new)
        .execute(conn)
    {
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            current(conn)?.ok_or(Error::NotFound)
        }
        Err(other) => Err(other),
    }
}

/// Retires the current signer (if any) and makes `new` the current one, in
/// one transaction.
pub fn rotate(conn: &mut AnyConnection, new: &NewSigningKey<'_>, now: i64) -> QueryResult<()> {
    crate::db::transaction(conn, |conn| {
        diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
            .set(signing_keys::retired_at.eq(now))
            .execute(conn)?;
        diesel::insert_into(signing_keys::table)
            .values(new)
            .execute(conn)?;
        Ok(())
    })
}

/// Deletes the keys retired before `retired_before`: none of them can
/// verify an unexpired access token any more.
pub fn delete_retired_before(conn: &mut AnyConnection, retired_before: i64) -> QueryResult<usize> {
    diesel::delete(signing_keys::table.filter(signing_keys::retired_at.lt(retired_before)))
        .execute(conn)
}
