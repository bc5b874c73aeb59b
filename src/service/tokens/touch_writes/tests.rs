//! Touches written together, on a SQLite file of the test's own.

use super::*;
use crate::db::schema;
use crate::domain::TokenDigest;
use crate::service::tokens::lookup_batch::tests::{held_batches, seeded};
use diesel::prelude::*;
use futures_util::future::join_all;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;

const LIMIT: Duration = Duration::from_secs(10);

/// The touch a check finds due for each seeded key (seeded as last used
/// long ago), used `at` from `from` with a 60 s interval and 14 days' life.
fn due_touches(
    pool: &DbPool,
    keys: &[(TokenDigest, i64)],
    at: Timestamp,
    from: IpAddr,
) -> Vec<Touch> {
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    keys.iter()
        .map(|(digest, _)| {
            let owner = tokens::by_digest(&mut conn, digest.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("a seeded key is not found"));
            Touch {
                token_id: owner.token_id,
                now: at,
                expires_at: at.plus(Duration::from_secs(14 * 86_400)),
                touched_before: at.minus(Duration::from_secs(60)),
                from: Some(from),
            }
        })
        .collect()
}

#[tokio::test]
async fn touches_due_at_once_are_written_together_and_each_before_its_answer() {
    let (_dir, pool, keys) = seeded(50);
    let (at, from) = (Timestamp::now(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    let touches = due_touches(&pool, &keys, at, from);
    let (open, batches, held) = held_batches();
    let writes = TouchWrites::writing_with(pool.clone(), LIMIT, move |conn, touches| {
        held.pass();
        record_uses(conn, touches)
    });
    let tasks: Vec<_> = touches
        .into_iter()
        .map(|touch| {
            let writes = writes.clone();
            tokio::spawn(async move { writes.write(touch).await })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    drop(open);
    for written in join_all(tasks).await {
        written
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // The worker may have taken one touch before the rest were queued.
    let batches = batches.load(Ordering::SeqCst);
    assert!(batches <= 2, "{batches} transactions for 50 touches");
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<(i64, Option<String>)> = schema::tokens::table
        .select((schema::tokens::last_used_at, schema::tokens::last_ip))
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 50);
    for (last_used_at, last_ip) in rows {
        assert_eq!(last_used_at, at.millis());
        assert_eq!(last_ip.as_deref(), Some("192.0.2.7"));
    }
}

#[tokio::test]
async fn a_lone_touch_is_written_at_once_by_the_real_writer() {
    let (_dir, pool, keys) = seeded(1);
    let (at, from) = (Timestamp::now(), IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
    let touch = due_touches(&pool, &keys, at, from)[0];
    let writes = TouchWrites::start(pool.clone(), LIMIT);
    writes.write(touch).await.unwrap_or_else(|e| panic!("{e}"));
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    let last_used_at: i64 = schema::tokens::table
        .select(schema::tokens::last_used_at)
        .first(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(last_used_at, at.millis());
}
