//! The queries of a table that remembers what was accepted once (an ID
//! token, a DPoP proof) by digest until it expires, so that it is accepted
//! once on every instance: the same two queries for each such table.

/// Defines `use_once` and `delete_expired_batch` on the `(digest,
/// expires_at)` table `$table` of the schema, in the module that calls it.
macro_rules! used_once_table {
    ($table:ident) => {
        use super::schema::$table;
        use super::tokens::delete_due_batch;
        use super::AnyConnection;
        use diesel::prelude::*;
        use diesel::result::{DatabaseErrorKind, Error};

        #[derive(Insertable)]
        #[diesel(table_name = $table)]
        struct NewUse<'a> {
            digest: &'a [u8],
            expires_at: i64,
        }

        /// Remembers `digest` as used until `expires_at`; `false` when it was
        /// used already. Of two transactions using one at once, the unique
        /// key lets one through: the other waits for it (PostgreSQL) or for
        /// the write lock (SQLite), then finds the row.
        pub fn use_once(
            conn: &mut AnyConnection,
            digest: &[u8],
            expires_at: i64,
        ) -> QueryResult<bool> {
            match diesel::insert_into($table::table)
                .values(&NewUse { digest, expires_at })
                .execute(conn)
            {
                Ok(_) => Ok(true),
                Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
                Err(other) => Err(other),
            }
        }

        /// [`use_once`] for many at once: for each `(digest, expires_at)`
        /// in order, whether it was new. A digest listed twice is new only
        /// the first time. On PostgreSQL one statement (`INSERT ... ON
        /// CONFLICT DO NOTHING RETURNING`, one round trip); on SQLite, whose
        /// statements cost no round trip but whose commits are what costs,
        /// one transaction of an insert each (diesel runs a SQLite batch
        /// with `RETURNING` row by row, and a skipped row is `NotFound`).
        pub fn use_each_once(
            conn: &mut AnyConnection,
            uses: &[(&[u8], i64)],
        ) -> QueryResult<Vec<bool>> {
            let inserted: Vec<Vec<u8>> = match conn {
                // A refused insert ends its statement only, not the transaction.
                AnyConnection::Sqlite(_) => {
                    return super::transaction(conn, |conn| {
                        uses.iter()
                            .map(|&(digest, expires_at)| use_once(conn, digest, expires_at))
                            .collect()
                    });
                }
                AnyConnection::Postgresql(conn) => diesel::insert_into($table::table)
                    .values(
                        uses.iter()
                            .map(|&(digest, expires_at)| NewUse { digest, expires_at })
                            .collect::<Vec<_>>(),
                    )
                    .on_conflict_do_nothing()
                    .returning($table::digest)
                    .get_results(conn)?,
            };
            let mut inserted: std::collections::HashSet<Vec<u8>> = inserted.into_iter().collect();
            Ok(uses
                .iter()
                .map(|(digest, _)| inserted.remove(*digest))
                .collect())
        }

        /// Deletes up to `limit` rows remembered until `cutoff` or before.
        pub fn delete_expired_batch(
            conn: &mut AnyConnection,
            cutoff: i64,
            limit: i64,
        ) -> QueryResult<usize> {
            let expired = $table::expires_at.le(cutoff);
            delete_due_batch!(conn, $table::digest as Vec<u8>, expired, limit)
        }
    };
}

pub(super) use used_once_table;
