//! Queries on `webhook_outbox`: one delivery per (event, URL), queued in the
//! transaction that records the event, claimed by one worker at a time
//! (as the mail outbox's are), deleted once delivered or given up.

use super::outbox::outbox_queries;
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
            queued_at(now),
        ))
        .execute(conn)
}

outbox_queries!(
    webhook_outbox,
    "delivery",
    "id, event_id, receiver, body, created_at, attempts"
);
