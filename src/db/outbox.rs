//! Queries on `mail_outbox`: mails queued in the transaction of the change
//! that causes them, claimed by one worker at a time, deleted once done.

use super::schema::mail_outbox;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Text};

/// A mail a worker has claimed: it is its own until `next_attempt_at`.
#[derive(Debug, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Binary)]
    pub sealed: Vec<u8>,
    /// Attempts so far, this one included.
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

pub fn insert(conn: &mut AnyConnection, kind: &str, sealed: &[u8], now: i64) -> QueryResult<usize> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::kind.eq(kind),
            mail_outbox::sealed.eq(sealed),
            mail_outbox::created_at.eq(now),
            mail_outbox::attempts.eq(0_i64),
            mail_outbox::next_attempt_at.eq(now),
        ))
        .execute(conn)
}

/// Claims up to `limit` mails due at `now`, in one statement: each gets
/// `lease_until` as its next attempt, so no other worker takes it before
/// then, and its attempt counted. On PostgreSQL, rows another worker is
/// claiming at the same moment are skipped (`SKIP LOCKED`) rather than
/// waited for and claimed twice; SQLite runs one writer at a time.
pub fn claim_due(
    conn: &mut AnyConnection,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    claim_due_in(
        conn,
        "mail_outbox",
        "id, kind, sealed, attempts",
        now,
        lease_until,
        limit,
    )
}

/// [`claim_due`] in the outbox table `table` (with the columns `id`,
/// `attempts` and `next_attempt_at`), returning `columns` of each row
/// claimed: the mail outbox's and the webhook outbox's one statement.
pub(super) fn claim_due_in<Row>(
    conn: &mut AnyConnection,
    table: &'static str,
    columns: &'static str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> QueryResult<Vec<Row>>
where
    Row: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    let claim = format!(
        "UPDATE {table} SET next_attempt_at = $1, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM {table} WHERE next_attempt_at <= $2 ORDER BY id LIMIT $3"
    );
    let returning = format!(") RETURNING {columns}");
    match conn {
        AnyConnection::Postgresql(conn) => {
            diesel::sql_query(format!("{claim} FOR UPDATE SKIP LOCKED{returning}"))
                .bind::<BigInt, _>(lease_until)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(limit)
                .load(conn)
        }
        AnyConnection::Sqlite(conn) => diesel::sql_query(format!("{claim}{returning}"))
            .bind::<BigInt, _>(lease_until)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(conn),
    }
}

/// Puts a claimed mail back, to be tried again at `next_attempt_at`.
pub fn retry_at(conn: &mut AnyConnection, id: i64, next_attempt_at: i64) -> QueryResult<usize> {
    diesel::update(mail_outbox::table.find(id))
        .set(mail_outbox::next_attempt_at.eq(next_attempt_at))
        .execute(conn)
}

/// Removes a mail once it is sent, or given up on.
pub fn delete(conn: &mut AnyConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(mail_outbox::table.find(id)).execute(conn)
}

/// Mails not sent yet: due, being sent, or waiting to be tried again.
pub fn pending(conn: &mut AnyConnection) -> QueryResult<i64> {
    mail_outbox::table.count().get_result(conn)
}
