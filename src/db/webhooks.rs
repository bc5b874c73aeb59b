//! Queries on `webhook_outbox`: one delivery per (event, URL), queued in the
//! transaction that records the event, claimed by one worker at a time
//! (as the mail outbox's are), deleted once delivered or given up.

use super::schema::webhook_outbox;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A delivery a worker has claimed: it is its own until `next_attempt_at`.
#[derive(Debug, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub event_id: i64,
    /// The SHA-256 of the receiver's URL, hex.
    #[diesel(sql_type = Text)]
    pub receiver: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    /// Attempts so far, this one included.
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

pub fn insert(
    conn: &mut AnyConnection,
    event_id: i64,
    receiver: &str,
    body: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(webhook_outbox::table)
        .values((
            webhook_outbox::event_id.eq(event_id),
            webhook_outbox::receiver.eq(receiver),
            webhook_outbox::body.eq(body),
            webhook_outbox::created_at.eq(now),
            webhook_outbox::attempts.eq(0_i64),
            webhook_outbox::next_attempt_at.eq(now),
        ))
        .execute(conn)
}

/// Claims up to `limit` deliveries due at `now` in one statement, for a
/// lease until `lease_until` (see `outbox::claim_due`: `SKIP LOCKED` on
/// PostgreSQL, one writer at a time on SQLite).
pub fn claim_due(
    conn: &mut AnyConnection,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    let columns = "id, event_id, receiver, body, created_at, attempts";
    super::outbox::claim_due_in(conn, "webhook_outbox", columns, now, lease_until, limit)
}

/// Puts a claimed delivery back, to be tried again at `next_attempt_at`.
pub fn retry_at(conn: &mut AnyConnection, id: i64, next_attempt_at: i64) -> QueryResult<usize> {
    diesel::update(webhook_outbox::table.find(id))
        .set(webhook_outbox::next_attempt_at.eq(next_attempt_at))
        .execute(conn)
}

/// Removes a delivery once it is made, or given up on.
pub fn delete(conn: &mut AnyConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(webhook_outbox::table.find(id)).execute(conn)
}

/// Deliveries not made yet: due, being made, or waiting to be tried again.
pub fn pending(conn: &mut AnyConnection) -> QueryResult<i64> {
    webhook_outbox::table.count().get_result(conn)
}
