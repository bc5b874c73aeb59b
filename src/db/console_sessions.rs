//! Queries on `console_sessions`: the signed-in console sessions, found by
//! the digest of the id their cookie carries.

use super::schema::{console_sessions, users};
use super::tokens::delete_due_batch;
use super::AnyConnection;
use diesel::prelude::*;

/// A live session of an active admin, as a console request needs it.
#[derive(Debug, Clone, Queryable)]
pub struct SessionAdmin {
    pub session_id: i64,
    pub last_seen_at: i64,
    pub user_id: i64,
    pub username: String,
    pub two_factor: bool,
}

pub fn insert(
    conn: &mut AnyConnection,
    digest: &[u8],
    user_id: i64,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::digest.eq(digest),
            console_sessions::user_id.eq(user_id),
            console_sessions::created_at.eq(now),
            console_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)
}

/// The session with `digest`, if it was used after `idle_cutoff`, began
/// after `age_cutoff`, and its user is still an active admin.
pub fn live_admin(
    conn: &mut AnyConnection,
    digest: &[u8],
    idle_cutoff: i64,
    age_cutoff: i64,
) -> QueryResult<Option<SessionAdmin>> {
    console_sessions::table
        .inner_join(users::table)
        .filter(console_sessions::digest.eq(digest))
        .filter(console_sessions::last_seen_at.gt(idle_cutoff))
        .filter(console_sessions::created_at.gt(age_cutoff))
        .filter(users::is_active.eq(true))
        .filter(users::is_admin.eq(true))
        .select((
            console_sessions::id,
            console_sessions::last_seen_at,
            users::id,
            users::username,
            users::two_factor,
        ))
        .first(conn)
        .optional()
}

/// Records a use, only if the last one recorded is older than
/// `touched_before`: one write per interval, not one per page.
pub fn touch(
    conn: &mut AnyConnection,
    session_id: i64,
    now: i64,
    touched_before: i64,
) -> QueryResult<usize> {
    diesel::update(
        console_sessions::table
            .find(session_id)
            .filter(console_sessions::last_seen_at.lt(touched_before)),
    )
    .set(console_sessions::last_seen_at.eq(now))
    .execute(conn)
}

pub fn delete_by_digest(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<usize> {
    diesel::delete(console_sessions::table.filter(console_sessions::digest.eq(digest)))
        .execute(conn)
}

/// Ends every console session of a user (deactivated, demoted, or with a
/// new password).
pub fn delete_for_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<usize> {
    diesel::delete(console_sessions::table.filter(console_sessions::user_id.eq(user_id)))
        .execute(conn)
}

/// Deletes up to `limit` sessions unused since `cutoff` (the idle limit).
pub fn delete_idle_batch(conn: &mut AnyConnection, cutoff: i64, limit: i64) -> QueryResult<usize> {
    let due = console_sessions::last_seen_at.le(cutoff);
    delete_due_batch!(conn, console_sessions::id as i64, due, limit)
}

/// Deletes up to `limit` sessions begun at or before `cutoff` (the absolute limit).
pub fn delete_old_batch(conn: &mut AnyConnection, cutoff: i64, limit: i64) -> QueryResult<usize> {
    let due = console_sessions::created_at.le(cutoff);
    delete_due_batch!(conn, console_sessions::id as i64, due, limit)
}
