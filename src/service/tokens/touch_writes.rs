//! Due touches written together, on SQLite: a group commit.
//!
//! A touch (a key's last use, and its expiry slid on) is a write, and a
//! SQLite file has one writer at a time. Written one per request, each in
//! a transaction of its own, the touches that fall due at once (every key
//! used again after `TOKEN_TOUCH_INTERVAL`) queued on the file lock, each
//! holding a pooled connection, so that the reads found none idle either:
//! at 100k users with Zipf-drawn keys, `/whoami` fell from 61,400 to 17,378
//! requests/s. So touches go to one worker, which writes every touch queued
//! while it was busy in one transaction; no timer waits for company, a lone
//! touch goes out at once. Each request still waits for its own touch, so
//! what its client reads next (`GET /tokens`) shows the use.

use super::lookup_batch::service_error;
use crate::db::batch::{BatchLimits, Batcher};
use crate::db::tokens::{self, TouchRow};
use crate::db::{AnyConnection, DbPool};
use crate::domain::Timestamp;
use crate::service::Error;
use std::net::IpAddr;
use std::time::Duration;

/// A last-use write that is due: what a check found (`verify`), written
/// here on SQLite, or held by the token cache for its next batch.
#[derive(Debug, Clone, Copy)]
pub struct Touch {
    pub(super) token_id: i64,
    pub(super) now: Timestamp,
    pub(super) expires_at: Timestamp,
    pub(super) touched_before: Timestamp,
    pub(super) from: Option<IpAddr>,
}

impl Touch {
    pub(super) fn row(&self) -> TouchRow {
        TouchRow {
            token_id: self.token_id,
            used_at: self.now.millis(),
            expires_at: self.expires_at.millis(),
            touched_before: self.touched_before.millis(),
            ip: self.from,
        }
    }
}

/// Writes one touch, unless another request already did within the
/// interval (see [`tokens::touch`]).
pub fn record_use(conn: &mut AnyConnection, touch: Touch) -> Result<(), Error> {
    tokens::touch(conn, &touch.row())?;
    Ok(())
}

/// Writes a batch of touches (see [`tokens::touch_batch`]).
fn record_uses(conn: &mut AnyConnection, touches: &[Touch]) -> Result<(), Error> {
    let rows: Vec<TouchRow> = touches.iter().map(Touch::row).collect();
    tokens::touch_batch(conn, &rows)?;
    Ok(())
}

/// One worker, since one writer at a time is all SQLite allows.
const LIMITS: BatchLimits = BatchLimits {
    workers: 1,
    max_batch: 512,
    queue: 4096,
    answer_within: crate::service::WORK_TIMEOUT,
};

/// The due touches of token checks, written in batches.
#[derive(Clone)]
pub struct TouchWrites {
    batcher: Batcher<Touch, ()>,
}

impl TouchWrites {
    /// Starts the worker; each request waits at most `answer_within`.
    pub fn start(pool: DbPool, answer_within: Duration) -> Self {
        Self::writing_with(pool, answer_within, record_uses)
    }

    /// [`TouchWrites::start`], each batch written by `write` within one
    /// transaction.
    fn writing_with<F>(pool: DbPool, answer_within: Duration, write: F) -> Self
    where
        F: Fn(&mut AnyConnection, &[Touch]) -> Result<(), Error> + Send + Sync + 'static,
    {
        let limits = BatchLimits {
            answer_within,
            ..LIMITS
        };
        let batcher = Batcher::start("token-touch", limits, move |touches: &[Touch]| {
            let mut conn = pool.get()?;
            crate::db::transaction(&mut conn, |conn| write(conn, touches))?;
            Ok::<_, Error>(vec![(); touches.len()])
        });
        TouchWrites { batcher }
    }

    /// Writes `touch` with the others waiting.
    pub async fn write(&self, touch: Touch) -> Result<(), Error> {
        self.batcher.submit(touch).await.map_err(service_error)
    }
}

#[cfg(test)]
mod tests;
