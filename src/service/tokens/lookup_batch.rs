//! What a presented digest names, read one at a time ([`lookup`]) or many
//! at once ([`lookup_many`]), and the token cache's misses read together
//! ([`MissedReads`]).
//!
//! On PostgreSQL a miss used to cost a `spawn_blocking`, a pool checkout
//! (which probes the connection first) and a round trip of its own. Under
//! load most checks can be misses (300,000 keys used at random do not fit
//! in the cache), so they are queued on a [`Batcher`]: its workers each
//! keep a connection between batches, take every miss queued while they
//! were busy, and read them with one statement (`digest = ANY($1)`, then
//! the retired keys among those not found). No timer waits for company: a
//! lone miss goes out at once. Each request awaits its own answer for at
//! most the work timeout.

use crate::db::batch::{BatchError, BatchLimits, Batcher};
use crate::db::rotation::{self, RetiredOwner};
use crate::db::tokens::{self, TokenOwner};
use crate::db::{AnyConnection, DbPool};
use crate::domain::TokenDigest;
use crate::service::Error;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a digest names: a device's current key, or a key rotation retired.
#[derive(Debug, Clone)]
pub enum Found {
    Current(TokenOwner),
    Retired(RetiredOwner),
}

/// Looks a digest up among current keys, then, only when it is none (a
/// key that is not live costs one more indexed read), among retired ones.
pub fn lookup(conn: &mut AnyConnection, digest: &TokenDigest) -> Result<Option<Found>, Error> {
    if let Some(owner) = tokens::by_digest(conn, digest.as_bytes())? {
        return Ok(Some(Found::Current(owner)));
    }
    Ok(rotation::owner_of(conn, digest.as_bytes())?.map(Found::Retired))
}

/// [`lookup`] of many digests, in two statements at most (the current keys
/// among them, then the retired keys among the rest): what each names, in
/// their order.
pub fn lookup_many(
    conn: &mut AnyConnection,
    digests: &[TokenDigest],
) -> Result<Vec<Option<Found>>, Error> {
    let wanted: Vec<Vec<u8>> = digests.iter().map(|d| d.as_bytes().to_vec()).collect();
    let mut found: HashMap<Vec<u8>, Found> = tokens::by_digests(conn, &wanted)?
        .into_iter()
        .map(|(digest, owner)| (digest, Found::Current(owner)))
        .collect();
    let rest: Vec<Vec<u8>> = wanted
        .iter()
        .filter(|digest| !found.contains_key(*digest))
        .cloned()
        .collect();
    if !rest.is_empty() {
        let retired = rotation::owners_of(conn, &rest)?;
        found.extend(
            retired
                .into_iter()
                .map(|(digest, retired)| (digest, Found::Retired(retired))),
        );
    }
    Ok(wanted
        .iter()
        .map(|digest| found.get(digest).cloned())
        .collect())
}

/// Two workers: while one waits for the database, the other takes the
/// next batch. Each holds one of the pool's connections.
const LIMITS: BatchLimits = BatchLimits {
    workers: 2,
    max_batch: 256,
    queue: 4096,
    answer_within: crate::service::WORK_TIMEOUT,
};

/// The token cache's misses, read in batches on connections of the pool.
#[derive(Clone)]
pub struct MissedReads {
    batcher: Batcher<TokenDigest, Option<Found>>,
}

impl MissedReads {
    /// Starts the workers; each answer is waited for at most `answer_within`.
    pub fn start(pool: DbPool, answer_within: Duration) -> Self {
        Self::reading_with(pool, answer_within, lookup_many)
    }

    fn reading_with<F>(pool: DbPool, answer_within: Duration, read: F) -> Self
    where
        F: Fn(&mut AnyConnection, &[TokenDigest]) -> Result<Vec<Option<Found>>, Error>
            + Send
            + Sync
            + 'static,
    {
        // Kept between batches: a checkout probes the connection first,
        // one more round trip. One that failed goes back to the pool,
        // which finds out whether it broke.
        let held = Mutex::new(Vec::new());
        let limits = BatchLimits {
            answer_within,
            ..LIMITS
        };
        let batcher = Batcher::start("token-lookup", limits, move |digests: &[TokenDigest]| {
            let kept = held.lock().ok().and_then(|mut held| held.pop());
            let mut conn = match kept {
                Some(conn) => conn,
                None => pool.get()?,
            };
            let found = read(&mut conn, digests)?;
            if let Ok(mut held) = held.lock() {
                held.push(conn);
            }
            Ok::<_, Error>(found)
        });
        MissedReads { batcher }
    }

    /// What `digest` names, read with the other misses waiting.
    pub async fn read(&self, digest: TokenDigest) -> Result<Option<Found>, Error> {
        self.batcher.submit(digest).await.map_err(service_error)
    }
}

/// What a request that queued work on a batcher answers when the work
/// failed: the batch's own failure keeps its kind (out of reach is 503),
/// and a full queue or no answer in time is 503 too.
pub(super) fn service_error(error: BatchError) -> Error {
    let unavailable = match &error {
        BatchError::Failed(cause) => {
            matches!(cause.downcast_ref::<Error>(), Some(Error::Unavailable(_)))
        }
        BatchError::Full | BatchError::TimedOut => true,
        BatchError::Stopped => false,
    };
    match unavailable {
        true => Error::Unavailable(Box::new(error)),
        false => Error::Internal(Box::new(error)),
    }
}

#[cfg(test)]
pub(super) mod tests;
