//! The registry of caching instances (PostgreSQL only, migration
//! `revocation_acks`): which number of announcement each instance's
//! listener has applied, and when it last proved it is current. Writers
//! read it to know when every instance that may still trust its cache has
//! seen their revocation (see `service::tokens::revocation_sync`).

use super::AnyConnection;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use std::time::Duration;

#[derive(QueryableByName)]
struct Announced {
    #[diesel(sql_type = Nullable<Text>)]
    evicted: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    seq: Option<String>,
}

/// What this session's committed writes announced since the last call:
/// the payloads (only sessions that set `multitoken.track_evictions`
/// collect them) and the number of the last announcing transaction.
/// Forgets both. SQLite announces nothing.
pub fn take_announced(conn: &mut AnyConnection) -> diesel::QueryResult<(String, Option<i64>)> {
    let AnyConnection::Postgresql(_) = conn else {
        return Ok((String::new(), None));
    };
    let found: Announced = diesel::sql_query(
        "SELECT current_setting('multitoken.evicted', true) AS evicted, \
                current_setting('multitoken.announced_seq', true) AS seq",
    )
    .get_result(conn)?;
    let evicted = found.evicted.unwrap_or_default();
    let seq = found.seq.and_then(|seq| seq.parse::<i64>().ok());
    if !evicted.is_empty() || seq.is_some() {
        diesel::sql_query(
            "SELECT set_config('multitoken.evicted', '', false) AS evicted, \
                    set_config('multitoken.announced_seq', '', false) AS seq",
        )
        .execute(conn)?;
    }
    Ok((evicted, seq))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// How many instances other than `except` have not acknowledged `seq` yet
/// while they may still trust their cache: their last heartbeat is younger
/// than `lease`, by the database's clock.
pub fn unacknowledged(
    conn: &mut AnyConnection,
    seq: i64,
    except: Option<i64>,
    lease: Duration,
) -> diesel::QueryResult<i64> {
    let AnyConnection::Postgresql(conn) = conn else {
        return Ok(0);
    };
    let found: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM cache_instances \
         WHERE id <> $1 AND applied_seq < $2 \
           AND heartbeat_at > clock_timestamp() - make_interval(secs => $3)",
    )
    .bind::<BigInt, _>(except.unwrap_or(-1))
    .bind::<BigInt, _>(seq)
    .bind::<Double, _>(lease.as_secs_f64())
    .get_result(conn)?;
    Ok(found.count)
}

/// Registers a listener whose `LISTEN` is in place: its id, and the number
/// up to which every announcement is already in the database.
pub async fn register(
    client: &tokio_postgres::Client,
) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT instance, applied FROM multitoken_register_instance()",
            &[],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Records that `instance` has applied every announcement up to `applied`,
/// and answers the last number committed: the instance is current if it
/// has applied that far.
pub async fn heartbeat(
    client: &tokio_postgres::Client,
    instance: i64,
    applied: i64,
) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT multitoken_heartbeat($1, $2)",
            &[&instance, &applied],
        )
        .await?;
    row.try_get(0)
}
