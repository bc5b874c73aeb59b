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
            queued_at(now),
        ))
        .execute(conn)
}

/// The queries both outbox tables (`mail_outbox`, `webhook_outbox`) answer
/// alike: each row is queued due at once, claimed for a lease, put back for
/// another attempt or deleted, and the rows left are counted. The two
/// workers (`service::shared::outbox`, `service::shared::webhooks`) run the
/// same lifecycle on them, so it is written once and cannot drift apart.
/// `$row` names a row in the docs; `$columns` are what a claim returns, in
/// the order of the module's `Claimed`.
macro_rules! outbox_queries {
    ($table:ident, $row:literal, $columns:literal) => {
        /// The columns of a row queued at `now`: due at once, not tried yet.
        fn queued_at(
            now: i64,
        ) -> (
            diesel::dsl::Eq<$table::created_at, i64>,
            diesel::dsl::Eq<$table::attempts, i64>,
            diesel::dsl::Eq<$table::next_attempt_at, i64>,
        ) {
            (
                $table::created_at.eq(now),
                $table::attempts.eq(0_i64),
                $table::next_attempt_at.eq(now),
            )
        }

        #[doc = concat!(
            "Claims up to `limit` rows (a ", $row, " each) due at `now`, each for a lease ",
            "until `lease_until`, in one statement (see `outbox::claim_due_in`)."
        )]
        pub fn claim_due(
            conn: &mut AnyConnection,
            now: i64,
            lease_until: i64,
            limit: i64,
        ) -> QueryResult<Vec<Claimed>> {
            let table = stringify!($table);
            $crate::db::outbox::claim_due_in(conn, table, $columns, now, lease_until, limit)
        }

        #[doc = concat!("Puts a claimed ", $row, " back, to be tried again at `next_attempt_at`.")]
        pub fn retry_at(
            conn: &mut AnyConnection,
            id: i64,
            next_attempt_at: i64,
        ) -> QueryResult<usize> {
            diesel::update($table::table.find(id))
                .set($table::next_attempt_at.eq(next_attempt_at))
                .execute(conn)
        }

        #[doc = concat!("Removes a ", $row, " once it is done with, or given up on.")]
        pub fn delete(conn: &mut AnyConnection, id: i64) -> QueryResult<usize> {
            diesel::delete($table::table.find(id)).execute(conn)
        }

        #[doc = concat!(
            "Rows (a ", $row, " each) not done yet: due, under way, or waiting to be tried again."
        )]
        pub fn pending(conn: &mut AnyConnection) -> QueryResult<i64> {
            $table::table.count().get_result(conn)
        }
    };
}
pub(super) use outbox_queries;

outbox_queries!(mail_outbox, "mail", "id, kind, sealed, attempts");

/// Claims up to `limit` rows of the outbox table `table` due at `now`, in
/// one statement, returning `columns` of each: each gets `lease_until` as
/// its next attempt, so no other worker takes it before then, and its
/// attempt counted. On PostgreSQL, rows another worker is claiming at the
/// same moment are skipped (`SKIP LOCKED`) rather than waited for and
/// claimed twice; SQLite runs one writer at a time.
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
