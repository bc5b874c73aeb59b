//! Queries on `device_grants`: the OAuth device grants waiting for, or
//! given, a person's approval (RFC 8628), found by the digest of either
//! code. State changes are conditional updates, so that of two polls or two
//! approvals at once (on one instance or several) exactly one wins.

use super::schema::device_grants;
use super::tokens::delete_due_batch;
use super::AnyConnection;
use diesel::prelude::*;

#[derive(Insertable)]
#[diesel(table_name = device_grants)]
pub struct NewGrant<'a> {
    pub device_code_digest: &'a [u8],
    pub user_code_digest: &'a [u8],
    pub client: &'a str,
    pub scopes: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
    pub poll_interval: i64,
    pub state: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = device_grants)]
pub struct GrantRow {
    pub id: i64,
    pub client: String,
    pub scopes: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub poll_interval: i64,
    pub last_poll_at: Option<i64>,
    pub state: String,
    pub approver_id: Option<i64>,
    pub approved_scopes: Option<String>,
}

/// Stores a new grant; a unique violation (a user code that a live grant
/// has already, or stale) is the caller's to retry with new codes.
pub fn insert(conn: &mut AnyConnection, grant: &NewGrant<'_>) -> QueryResult<usize> {
    diesel::insert_into(device_grants::table)
        .values(grant)
        .execute(conn)
}

pub fn by_device_code(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<Option<GrantRow>> {
    let query = device_grants::table.filter(device_grants::device_code_digest.eq(digest));
    first_grant(conn, query.into_boxed())
}

pub fn by_user_code(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<Option<GrantRow>> {
    let query = device_grants::table.filter(device_grants::user_code_digest.eq(digest));
    first_grant(conn, query.into_boxed())
}

/// The grant `query` finds, whole: the device polls by one code and the
/// person approving types the other, and either finds the same row to read
/// the same way.
fn first_grant(
    conn: &mut AnyConnection,
    query: device_grants::BoxedQuery<'_, <AnyConnection as diesel::Connection>::Backend>,
) -> QueryResult<Option<GrantRow>> {
    query.select(GrantRow::as_select()).first(conn).optional()
}

/// Records a poll at `now` if no other poll was recorded since the one
/// `seen` (the grant's `last_poll_at` as read); `false` when one was.
pub fn record_poll(
    conn: &mut AnyConnection,
    id: i64,
    seen: Option<i64>,
    now: i64,
) -> QueryResult<bool> {
    let target = device_grants::table.filter(device_grants::id.eq(id));
    let set = device_grants::last_poll_at.eq(now);
    let updated = match seen {
        Some(seen) => diesel::update(target.filter(device_grants::last_poll_at.eq(seen)))
            .set(set)
            .execute(conn)?,
        None => diesel::update(target.filter(device_grants::last_poll_at.is_null()))
            .set(set)
            .execute(conn)?,
    };
    Ok(updated > 0)
}

/// A poll that came too soon: the grant's interval grows by `seconds` and
/// the next poll is measured from this one.
pub fn slow_down(conn: &mut AnyConnection, id: i64, seconds: i64, now: i64) -> QueryResult<usize> {
    diesel::update(device_grants::table.filter(device_grants::id.eq(id)))
        .set((
            device_grants::poll_interval.eq(device_grants::poll_interval + seconds),
            device_grants::last_poll_at.eq(now),
        ))
        .execute(conn)
}

/// Moves a pending, unexpired grant to `state` (`approved` or `denied`) by
/// `approver`; `false` when it was no longer pending.
pub fn decide(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    approver: i64,
    approved_scopes: Option<&str>,
    now: i64,
) -> QueryResult<bool> {
    let updated = diesel::update(
        device_grants::table
            .filter(device_grants::id.eq(id))
            .filter(device_grants::state.eq("pending"))
            .filter(device_grants::expires_at.gt(now)),
    )
    .set((
        device_grants::state.eq(state),
        device_grants::approver_id.eq(approver),
        device_grants::approved_scopes.eq(approved_scopes),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// Marks an approved grant spent; `false` when another request spent it.
pub fn spend(conn: &mut AnyConnection, id: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        device_grants::table
            .filter(device_grants::id.eq(id))
            .filter(device_grants::state.eq("approved")),
    )
    .set(device_grants::state.eq("spent"))
    .execute(conn)?;
    Ok(updated > 0)
}

/// Deletes up to `limit` grants that expired at or before `cutoff`.
pub fn delete_expired_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> QueryResult<usize> {
    let expired = device_grants::expires_at.le(cutoff);
    delete_due_batch!(conn, device_grants::id as i64, expired, limit)
}
