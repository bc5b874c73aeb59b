//! Queries of key rotation: giving a device's `tokens` row a new digest in
//! place (so everything else about the device stays as it is), and the
//! `retired_keys` that rotations replaced, each naming its device by row
//! and sign-in time (`signed_in_at`, the row's `created_at`, which only a
//! new sign-in on the client changes).

use super::schema::{retired_keys, tokens, users};
use super::tokens::{reported_columns, token_owner_columns, Reported, RevokedToken, TokenOwner};
use super::AnyConnection;
use diesel::prelude::*;

/// The device row a rotation changed.
#[derive(Debug, Clone, Queryable)]
pub struct RotatedRow {
    pub id: i64,
    pub user_id: i64,
    pub client: String,
    pub scopes: String,
    pub created_at: i64,
}

/// Gives the live device that `$which` (a filter on `tokens`) selects the
/// key `$new`, used at `$now`, and evaluates to its [`RotatedRow`] (`None`
/// if no live device matched): both rotations are this one write, and
/// differ only in how they name the device. It runs on the backend's own
/// connection type, as diesel's multi-backend connection has no
/// `RETURNING` and both backends do.
macro_rules! rekey_live_device {
    ($conn:expr, $which:expr, $new:expr, $now:expr) => {{
        let update = diesel::update(
            tokens::table
                .filter($which)
                .filter(tokens::expires_at.gt($now)),
        )
        .set((tokens::digest.eq($new), tokens::last_used_at.eq($now)));
        let row = (
            tokens::id,
            tokens::user_id,
            tokens::client,
            tokens::scopes,
            tokens::created_at,
        );
        match $conn {
            AnyConnection::Sqlite(conn) => update
                .returning(row)
                .get_result::<RotatedRow>(conn)
                .optional(),
            AnyConnection::Postgresql(conn) => update
                .returning(row)
                .get_result::<RotatedRow>(conn)
                .optional(),
        }
    }};
}

/// Gives the live device whose current key is `old` the key `new`, if there
/// is one. Run first in its transaction, this write takes the row's lock
/// (PostgreSQL) or the write lock (SQLite), so of two rotations of one key
/// only one finds it current.
pub fn rotate_current(
    conn: &mut AnyConnection,
    old: &[u8],
    new: &[u8],
    now: i64,
) -> QueryResult<Option<RotatedRow>> {
    rekey_live_device!(conn, tokens::digest.eq(old), new, now)
}

/// Gives the live device `token_id`, as signed in at `signed_in_at`, the
/// key `new`, whatever its current key is (which that ends).
pub fn rotate_device(
    conn: &mut AnyConnection,
    token_id: i64,
    signed_in_at: i64,
    new: &[u8],
    now: i64,
) -> QueryResult<Option<RotatedRow>> {
    let device = tokens::id
        .eq(token_id)
        .and(tokens::created_at.eq(signed_in_at));
    rekey_live_device!(conn, device, new, now)
}

/// Sets the expiry a rotated key starts with.
pub fn set_expiry(conn: &mut AnyConnection, token_id: i64, expires_at: i64) -> QueryResult<usize> {
    diesel::update(tokens::table.find(token_id))
        .set(tokens::expires_at.eq(expires_at))
        .execute(conn)
}

/// A retired key, as a rotation records it.
#[derive(Debug, Insertable)]
#[diesel(table_name = retired_keys)]
pub struct NewRetired<'a> {
    pub digest: &'a [u8],
    pub token_id: i64,
    pub signed_in_at: i64,
    pub retired_at: i64,
    pub expires_at: i64,
}

pub fn retire(conn: &mut AnyConnection, retired: &NewRetired<'_>) -> QueryResult<usize> {
    diesel::insert_into(retired_keys::table)
        .values(retired)
        .execute(conn)
}

/// A retired key whose device still exists, as signed in when it was
/// retired: the device as a token check needs it, its current key's digest,
/// and when the key was retired.
#[derive(Debug, Clone, Queryable)]
pub struct RetiredOwner {
    pub owner: TokenOwner,
    pub current: Vec<u8>,
    pub retired_at: i64,
}

/// Retired keys joined to their device (as signed in when they were
/// retired) and its user.
macro_rules! retired_with_device {
    () => {
        retired_keys::table
            .inner_join(
                tokens::table.on(tokens::id
                    .eq(retired_keys::token_id)
                    .and(tokens::created_at.eq(retired_keys::signed_in_at))),
            )
            .inner_join(users::table.on(users::id.eq(tokens::user_id)))
    };
}

/// The device of the retired key `digest`, if it still exists: one read by
/// primary key, joined to the device's row and user.
pub fn owner_of(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<Option<RetiredOwner>> {
    retired_with_device!()
        .filter(retired_keys::digest.eq(digest))
        .select((
            token_owner_columns!(),
            tokens::digest,
            retired_keys::retired_at,
        ))
        .first::<RetiredOwner>(conn)
        .optional()
}

/// [`owner_of`] for many digests in one statement: each retired key found,
/// with its digest, in no order.
pub fn owners_of(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
) -> QueryResult<Vec<(Vec<u8>, RetiredOwner)>> {
    retired_with_device!()
        .filter(retired_keys::digest.eq_any(digests))
        .select((
            retired_keys::digest,
            (
                token_owner_columns!(),
                tokens::digest,
                retired_keys::retired_at,
            ),
        ))
        .load::<(Vec<u8>, RetiredOwner)>(conn)
}

/// The digests of the retired keys of the user's device on `client`, as
/// signed in now (an access JWT minted from one stands for the device).
pub fn retired_of_client(
    conn: &mut AnyConnection,
    user_id: i64,
    client: &str,
) -> QueryResult<Vec<Vec<u8>>> {
    retired_keys::table
        .inner_join(
            tokens::table.on(tokens::id
                .eq(retired_keys::token_id)
                .and(tokens::created_at.eq(retired_keys::signed_in_at))),
        )
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::client.eq(client))
        .select(retired_keys::digest)
        .load(conn)
}

/// The live devices that retired keys among `digests` name, each with the
/// retired key's digest and what its owner's mail names (a leak report of
/// an old key ends its device as one of the current key does).
pub fn live_among(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
    now: i64,
) -> QueryResult<Vec<Reported>> {
    retired_with_device!()
        .filter(retired_keys::digest.eq_any(digests))
        .filter(tokens::expires_at.gt(now))
        .select(reported_columns!(retired_keys::digest))
        .load(conn)
}

/// The devices (row and sign-in time) that retired keys among `digests`
/// name, existing or not.
pub fn devices_among(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
) -> QueryResult<Vec<(i64, i64)>> {
    retired_keys::table
        .filter(retired_keys::digest.eq_any(digests))
        .select((retired_keys::token_id, retired_keys::signed_in_at))
        .load(conn)
}

/// Deletes the device `token_id` as signed in at `signed_in_at`, if it
/// still exists, and returns it.
pub fn delete_device(
    conn: &mut AnyConnection,
    token_id: i64,
    signed_in_at: i64,
) -> QueryResult<Vec<RevokedToken>> {
    let which = tokens::id
        .eq(token_id)
        .and(tokens::created_at.eq(signed_in_at));
    match conn {
        AnyConnection::Sqlite(conn) => diesel::delete(tokens::table.filter(which))
            .returning((tokens::user_id, tokens::client, tokens::digest))
            .load::<RevokedToken>(conn),
        AnyConnection::Postgresql(conn) => diesel::delete(tokens::table.filter(which))
            .returning((tokens::user_id, tokens::client, tokens::digest))
            .load::<RevokedToken>(conn),
    }
}

/// Forgets the retired keys of a device that is gone.
pub fn forget_device(
    conn: &mut AnyConnection,
    token_id: i64,
    signed_in_at: i64,
) -> QueryResult<usize> {
    diesel::delete(
        retired_keys::table
            .filter(retired_keys::token_id.eq(token_id))
            .filter(retired_keys::signed_in_at.eq(signed_in_at)),
    )
    .execute(conn)
}

/// Deletes up to `limit` retired keys remembered until `cutoff` or before
/// whose device is gone or expired by then too: a device whose key slid
/// past the expiry its old key was given keeps that key remembered (its
/// reuse still revokes it). A device that expired cannot slide again, so
/// what the select found due stays due.
pub fn delete_expired_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> QueryResult<usize> {
    let batch: Vec<Vec<u8>> = retired_keys::table
        .left_join(
            tokens::table.on(tokens::id
                .eq(retired_keys::token_id)
                .and(tokens::created_at.eq(retired_keys::signed_in_at))),
        )
        .filter(retired_keys::expires_at.le(cutoff))
        .filter(
            tokens::id
                .nullable()
                .is_null()
                .or(tokens::expires_at.nullable().le(cutoff)),
        )
        .select(retired_keys::digest)
        .limit(limit)
        .load(conn)?;
    if batch.is_empty() {
        return Ok(0);
    }
    diesel::delete(retired_keys::table.filter(retired_keys::digest.eq_any(batch))).execute(conn)
}
