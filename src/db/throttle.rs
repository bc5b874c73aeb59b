//! Queries on `login_failures`: the login throttle's counters.
//!
//! Counting is one atomic upsert per scope, so concurrent attempts on one or
//! several instances never lose a count. The upsert is the one statement
//! whose dialect differs (diesel's `MultiConnection` cannot express
//! `ON CONFLICT`), hence the `match` on the backend.

use super::schema::login_failures;
use super::tokens::delete_due_batch;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A scope's count after an attempt was added to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub failures: i64,
    #[diesel(sql_type = BigInt)]
    pub window_start: i64,
}

// A window that opened at or before the cutoff has closed: the attempt opens
// a new one. Every expression in DO UPDATE reads the row as it was.
const COUNT_SQLITE: &str = "INSERT INTO login_failures (scope, window_start, failures) VALUES (?1, ?2, 1) \
     ON CONFLICT (scope) DO UPDATE SET \
     failures = CASE WHEN login_failures.window_start <= ?3 THEN 1 ELSE login_failures.failures + 1 END, \
     window_start = CASE WHEN login_failures.window_start <= ?3 THEN ?2 ELSE login_failures.window_start END \
     RETURNING failures, window_start";
const COUNT_POSTGRES: &str = "INSERT INTO login_failures (scope, window_start, failures) VALUES ($1, $2, 1) \
     ON CONFLICT (scope) DO UPDATE SET \
     failures = CASE WHEN login_failures.window_start <= $3 THEN 1 ELSE login_failures.failures + 1 END, \
     window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 ELSE login_failures.window_start END \
     RETURNING failures, window_start";

/// Adds one attempt to `scope` in its current window (opening a new window
/// at `now` when the last one closed at or before `now`), and returns the
/// count including it.
pub fn count_attempt(
    conn: &mut AnyConnection,
    scope: &str,
    now: i64,
    window_ms: i64,
) -> QueryResult<Count> {
    let closed_if_opened_by = now.saturating_sub(window_ms);
    match conn {
        AnyConnection::Sqlite(conn) => diesel::sql_query(COUNT_SQLITE)
            .bind::<Text, _>(scope)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(closed_if_opened_by)
            .get_result(conn),
        AnyConnection::Postgresql(conn) => diesel::sql_query(COUNT_POSTGRES)
            .bind::<Text, _>(scope)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(closed_if_opened_by)
            .get_result(conn),
    }
}

/// The count of `scope` in its current window, if one is open at `now`;
/// reads only, so a refused attempt costs no write.
pub fn open_window(
    conn: &mut AnyConnection,
    scope: &str,
    now: i64,
    window_ms: i64,
) -> QueryResult<Option<Count>> {
    let closed_if_opened_by = now.saturating_sub(window_ms);
    login_failures::table
        .find(scope)
        .filter(login_failures::window_start.gt(closed_if_opened_by))
        .select((login_failures::failures, login_failures::window_start))
        .first::<(i64, i64)>(conn)
        .optional()
        .map(|found| {
            found.map(|(failures, window_start)| Count {
                failures,
                window_start,
            })
        })
}

/// Takes back one attempt counted in the window opened at `window_start`
/// (an attempt that turned out not to be a failure).
pub fn uncount_attempt(
    conn: &mut AnyConnection,
    scope: &str,
    window_start: i64,
) -> QueryResult<usize> {
    diesel::update(
        login_failures::table
            .filter(login_failures::scope.eq(scope))
            .filter(login_failures::window_start.eq(window_start))
            .filter(login_failures::failures.gt(0)),
    )
    .set(login_failures::failures.eq(login_failures::failures - 1))
    .execute(conn)
}

/// Forgets every failure of `scope`.
pub fn reset(conn: &mut AnyConnection, scope: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::scope.eq(scope))).execute(conn)
}

/// Deletes up to `limit` rows whose window opened at or before `cutoff`
/// (a scope that failed anew since keeps its row).
pub fn delete_closed_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> QueryResult<usize> {
    let closed = login_failures::window_start.le(cutoff);
    delete_due_batch!(conn, login_failures::scope as String, closed, limit)
}
