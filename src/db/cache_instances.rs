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

/// The instances other than the writer's that have not acknowledged a
/// number yet.
#[derive(QueryableByName, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unacknowledged {
    /// Those that may still trust their cache: their last heartbeat is
    /// younger than the lease, by the database's clock. The writer waits.
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    /// Those silent for longer than a lease but less than a minute (paused,
    /// cut off, or just stopped): their caches are not trusted, and they
    /// are not waited for.
    #[diesel(sql_type = BigInt)]
    pub lagging: i64,
}

/// Which instances other than `except` have not acknowledged `seq` yet.
pub fn unacknowledged(
    conn: &mut AnyConnection,
    seq: i64,
    except: Option<i64>,
    lease: Duration,
) -> diesel::QueryResult<Unacknowledged> {
    let AnyConnection::Postgresql(conn) = conn else {
        return Ok(Unacknowledged::default());
    };
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $3)) AS pending, \
                count(*) FILTER (WHERE heartbeat_at <= clock_timestamp() - make_interval(secs => $3) \
                                   AND heartbeat_at > clock_timestamp() - interval '1 minute') AS lagging \
         FROM cache_instances WHERE id <> $1 AND applied_seq < $2",
    )
    .bind::<BigInt, _>(except.unwrap_or(-1))
    .bind::<BigInt, _>(seq)
    .bind::<Double, _>(lease.as_secs_f64())
    .get_result(conn)
}

/// Registers a listener whose `LISTEN` is in place, in place of its
/// `previous` registration if it had one: its id, and the number up to
/// which every announcement is already in the database.
pub async fn register(
    client: &tokio_postgres::Client,
    previous: Option<i64>,
) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT instance, applied FROM multitoken_register_instance($1)",
            &[&previous],
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
