//! The cache's misses read in batches ([`MissedReads`]), on a SQLite file
//! of the test's own: the workers and the statements are the same on both
//! backends.

use super::*;
use crate::db::rotation::NewRetired;
use crate::db::tokens::NewToken;
use crate::db::users::NewUser;
use crate::db::{self, Database};
use crate::domain::PlainToken;
use diesel::r2d2::Pool;
use futures_util::future::join_all;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn database(dir: &tempfile::TempDir) -> Database {
    let path = dir.path().join("lookups.sqlite3");
    Database::Sqlite {
        path: path.to_string_lossy().into_owned(),
    }
}

/// Batches that wait until the test drops the sender, counted as they
/// pass: asks queued in one burst then make few batches, whatever the
/// threads' timing.
pub(in crate::service::tokens) struct HeldBatches {
    gate: Mutex<mpsc::Receiver<()>>,
    passed: Arc<AtomicUsize>,
}

impl HeldBatches {
    /// Waits for the gate to open, and counts the batch.
    pub(in crate::service::tokens) fn pass(&self) {
        if let Ok(gate) = self.gate.lock() {
            let _ = gate.recv();
        }
        self.passed.fetch_add(1, Ordering::SeqCst);
    }
}

/// A closed gate for batches: the sender that opens it when dropped, the
/// count of batches that passed, and what each batch calls.
pub(in crate::service::tokens) fn held_batches() -> (mpsc::Sender<()>, Arc<AtomicUsize>, HeldBatches)
{
    let (open, gate) = mpsc::channel::<()>();
    let passed = Arc::new(AtomicUsize::new(0));
    let held = HeldBatches {
        gate: Mutex::new(gate),
        passed: passed.clone(),
    };
    (open, passed, held)
}

/// `users` users with one key each: their digests, by user id order.
pub(in crate::service::tokens) fn seeded(
    users: usize,
) -> (tempfile::TempDir, DbPool, Vec<(TokenDigest, i64)>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let database = database(&dir);
    db::migrate(&database).unwrap_or_else(|e| panic!("{e}"));
    let pool = db::pool(&database).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    let keys = (0..users)
        .map(|index| {
            let name = format!("user{index}");
            let email = format!("{name}@example.com");
            let user = db::users::insert(
                &mut conn,
                &NewUser {
                    username: &name,
                    username_key: &name,
                    password_hash: "",
                    email: &email,
                    is_active: true,
                    is_admin: false,
                    is_service: false,
                    created_at: 1,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let digest = PlainToken::generate().digest();
            db::tokens::insert(&mut conn, &new_token(user.id, digest.as_bytes()))
                .unwrap_or_else(|e| panic!("{e}"));
            (digest, user.id)
        })
        .collect();
    drop(conn);
    (dir, pool, keys)
}

fn new_token(user_id: i64, digest: &[u8]) -> NewToken<'_> {
    NewToken {
        user_id,
        client: "web",
        digest,
        created_at: 1,
        last_used_at: 1,
        expires_at: i64::MAX,
        user_agent: None,
        scopes: "",
        via: "password",
        last_ip: None,
        dpop_jkt: None,
    }
}

fn batcher(pool: &DbPool) -> MissedReads {
    MissedReads::start(pool.clone(), LIMIT)
}

fn user_of(found: &Option<Found>) -> Option<i64> {
    match found {
        Some(Found::Current(owner)) => Some(owner.user_id),
        Some(Found::Retired(retired)) => Some(-retired.owner.user_id),
        None => None,
    }
}

#[tokio::test]
async fn many_concurrent_misses_are_read_together_and_each_gets_its_own_owner() {
    let (_dir, pool, keys) = seeded(50);
    let (open, reads, held) = held_batches();
    let lookups = MissedReads::reading_with(pool, LIMIT, move |conn, digests| {
        held.pass();
        lookup_many(conn, digests)
    });
    // Each key asked for four times over, in one burst.
    let asked: Vec<(TokenDigest, i64)> = keys.iter().cycle().take(200).copied().collect();
    let tasks: Vec<_> = asked
        .iter()
        .map(|&(digest, _)| {
            let lookups = lookups.clone();
            tokio::spawn(async move { lookups.read(digest).await })
        })
        .collect();
    // Every task has sent its ask once the test runs again.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    drop(open);
    let answers = join_all(tasks).await;
    for ((_, user_id), answer) in asked.iter().zip(answers) {
        let found = answer
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user_of(&found), Some(*user_id));
    }
    // Each worker may have taken a batch before the rest were queued;
    // everything else makes one more.
    let reads = reads.load(Ordering::SeqCst);
    assert!(reads <= LIMITS.workers + 1, "{reads} reads for 200 asks");
}

#[tokio::test]
async fn a_batch_answers_unknown_digests_with_nothing_and_retired_ones_with_their_device() {
    let (_dir, pool, keys) = seeded(3);
    let (retired, current) = (PlainToken::generate().digest(), keys[1]);
    {
        let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
        // Device 2's key was rotated: its old key is retired, naming it.
        let device = tokens::by_digest(&mut conn, current.0.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("seeded"));
        rotation::retire(
            &mut conn,
            &NewRetired {
                digest: retired.as_bytes(),
                token_id: device.token_id,
                signed_in_at: device.created_at,
                retired_at: 5,
                expires_at: i64::MAX,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let lookups = batcher(&pool);
    let unknown = PlainToken::generate().digest();
    let asked = [keys[0].0, unknown, retired, keys[2].0, unknown];
    let answers = join_all(asked.iter().map(|&digest| lookups.read(digest))).await;
    let users: Vec<Option<i64>> = answers
        .iter()
        .map(|answer| user_of(answer.as_ref().unwrap_or_else(|e| panic!("{e}"))))
        .collect();
    assert_eq!(
        users,
        [
            Some(keys[0].1),
            None,
            Some(-current.1),
            Some(keys[2].1),
            None
        ]
    );
    let Ok(Some(Found::Retired(device))) = &answers[2] else {
        panic!("retired");
    };
    assert_eq!(device.current, current.0.as_bytes());
    assert_eq!(device.retired_at, 5);
}

#[tokio::test]
async fn a_failing_read_fails_every_ask_of_its_batch_and_the_worker_reads_on() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // No migrations yet: no `tokens` table to read.
    let pool = db::pool(&database(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let lookups = batcher(&pool);
    let digests: Vec<TokenDigest> = (0..5).map(|_| PlainToken::generate().digest()).collect();
    let answers = join_all(digests.iter().map(|&digest| lookups.read(digest))).await;
    for answer in answers {
        assert!(
            matches!(&answer, Err(Error::Internal(_))),
            "{:?}",
            answer.map(|found| user_of(&found))
        );
    }
    db::migrate(&database(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let answer = lookups.read(digests[0]).await;
    assert!(matches!(answer, Ok(None)), "{answer:?}");
}

#[tokio::test]
async fn a_database_out_of_reach_is_unavailable_to_every_waiting_ask() {
    let (dir, pool, keys) = seeded(2);
    // A pool of one connection, which the test holds: the worker waits
    // for it as for an unreachable database.
    let small = Pool::builder()
        .max_size(1)
        .connection_timeout(Duration::from_millis(200))
        .build(db::Connector::new(&database(&dir)))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(pool);
    let held = small.get().unwrap_or_else(|e| panic!("{e}"));
    let lookups = batcher(&small);
    let answers = join_all(keys.iter().map(|&(digest, _)| lookups.read(digest))).await;
    for answer in answers {
        assert!(matches!(&answer, Err(Error::Unavailable(_))), "{answer:?}");
    }
    drop(held);
    let answer = lookups.read(keys[0].0).await;
    assert_eq!(
        user_of(&answer.unwrap_or_else(|e| panic!("{e}"))),
        Some(keys[0].1)
    );
}

#[derive(diesel::QueryableByName)]
struct PlanStep {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// A token check on SQLite walks one B-tree for the key (the covering
/// index `tokens_check`) and one for its user. A column added to the
/// check's read but not to the index would send every check to the table
/// again: one random page more per request at a million users.
#[test]
fn the_check_reads_the_index_that_holds_the_whole_key() {
    use diesel::sql_types::{BigInt, Binary};
    use diesel::RunQueryDsl;
    let (_dir, pool, _) = seeded(0);
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    let crate::db::AnyConnection::Sqlite(sqlite) = &mut *conn else {
        panic!("a SQLite file opened as another backend");
    };
    let sql = tokens::check_read_sqlite_sql();
    let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .bind::<Binary, _>(&[7_u8; 32][..])
        .bind::<BigInt, _>(1_i64)
        .load::<PlanStep>(sqlite)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|step| step.detail)
        .collect();
    assert_eq!(
        plan,
        [
            "SEARCH tokens USING COVERING INDEX tokens_check (digest=?)",
            "SEARCH users USING INTEGER PRIMARY KEY (rowid=?)",
        ],
        "the check's plan for {sql}"
    );
}
