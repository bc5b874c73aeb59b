//! Read-your-revocation across instances (PostgreSQL): once a request or
//! command that revoked a key has answered, no instance's cache accepts it.
//! The design, and its failure cases, are in the architecture page
//! (docs/src/contributing/architecture.md, "Read-your-revocation").
//!
//! Two halves meet in the registry (`db::cache_instances`):
//! - a caching instance trusts its cache only under a [`Lease`]: a
//!   heartbeat sent at `t` that found it had applied every announcement
//!   committed so far lets it trust the cache until `t` plus
//!   `REVOCATION_ACK_TIMEOUT`, less a margin;
//! - a writer whose transaction announced number `s` answers only once every
//!   other instance that may hold a lease has acknowledged `s`, or once
//!   `REVOCATION_ACK_TIMEOUT` has passed since its commit, when every lease
//!   granted before `s` was numbered has ended ([`RevocationSync::wait`]).

use crate::db::cache_instances::{self, Unacknowledged};
use crate::db::{AnyConnection, DbPool};
use crate::metrics::{LeaseEvent, Metrics, RevocationAck};
use crate::service::run_blocking_within;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a lease is shortened by, out of `REVOCATION_ACK_TIMEOUT`: room for
/// the clocks of the instance and the database to run at slightly
/// different rates, and for the time between the database's answer and
/// the writer's next look.
const LEASE_MARGIN_DIVISOR: u32 = 8;

/// How often a listener sends a heartbeat, out of `REVOCATION_ACK_TIMEOUT`:
/// several chances to renew a lease before it ends.
const BEATS_PER_TIMEOUT: u32 = 4;

/// Whether, and until when, this instance may trust its token cache.
pub struct Lease {
    base: Instant,
    /// Nanoseconds after `base` until which the cache may be trusted.
    until: AtomicU64,
    /// Whether the lease was held when last looked at (for the metrics).
    held: AtomicBool,
    length: Duration,
    /// The listener's registration (`cache_instances.id`), or -1.
    instance: AtomicI64,
    metrics: Metrics,
}

impl Lease {
    pub fn new(ack_timeout: Duration, metrics: Metrics) -> Self {
        Lease {
            base: Instant::now(),
            until: AtomicU64::new(0),
            held: AtomicBool::new(false),
            length: ack_timeout - ack_timeout / LEASE_MARGIN_DIVISOR,
            instance: AtomicI64::new(-1),
            metrics,
        }
    }

    /// How often the listener proves it is current.
    pub fn heartbeat_every(&self) -> Duration {
        (self.length / BEATS_PER_TIMEOUT).max(Duration::from_millis(1))
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A heartbeat sent at `sent` found this instance current.
    pub fn renew(&self, sent: Instant) {
        self.until
            .fetch_max(self.nanos(sent + self.length), Ordering::SeqCst);
        if !self.held.swap(true, Ordering::SeqCst) {
            self.metrics.token_cache_lease(LeaseEvent::Gained);
        }
    }

    /// Whether the cache may be trusted now.
    pub fn holds(&self) -> bool {
        let holds = self.nanos(Instant::now()) < self.until.load(Ordering::SeqCst);
        if !holds && self.held.swap(false, Ordering::SeqCst) {
            self.metrics.token_cache_lease(LeaseEvent::Lost);
            log::warn!("token cache not trusted: this instance could not confirm it is current within REVOCATION_ACK_TIMEOUT");
        }
        holds
    }

    /// The listener registered anew as `instance`; no lease until it proves
    /// it is current.
    pub fn registered(&self, instance: i64) {
        self.end();
        self.instance.store(instance, Ordering::SeqCst);
    }

    /// The listener is lost: nothing is trusted until it registers again.
    pub fn end(&self) {
        self.until.store(0, Ordering::SeqCst);
        if self.held.swap(false, Ordering::SeqCst) {
            self.metrics.token_cache_lease(LeaseEvent::Lost);
        }
    }

    /// This instance's registration, which need not acknowledge what this
    /// instance evicted itself before answering.
    fn instance(&self) -> Option<i64> {
        Some(self.instance.load(Ordering::SeqCst)).filter(|id| *id >= 0)
    }
}

/// The writer's half: waits for the other instances' acknowledgements.
#[derive(Clone)]
pub struct RevocationSync {
    pool: DbPool,
    ack_timeout: Duration,
    work_timeout: Duration,
    /// This instance's own cache's lease, if it caches.
    own: Option<Arc<Lease>>,
    metrics: Metrics,
}

/// Where a wait stands after one look at the registry.
struct Waiting {
    seq: i64,
    deadline: Instant,
    pause: Duration,
}

impl Waiting {
    fn new(seq: i64, ack_timeout: Duration) -> Self {
        Waiting {
            seq,
            deadline: Instant::now() + ack_timeout,
            pause: Duration::from_millis(1),
        }
    }

    /// How long to pause before the next look, or `None` when the wait is
    /// over (all acknowledged, or past the deadline).
    fn after(
        &mut self,
        looked: Result<Unacknowledged, impl std::fmt::Display>,
        metrics: &Metrics,
    ) -> Option<Duration> {
        match looked {
            Ok(Unacknowledged {
                pending: 0,
                lagging,
            }) => {
                metrics.revocation_ack(match lagging {
                    0 => RevocationAck::Acknowledged,
                    _ => RevocationAck::LaggardsSkipped,
                });
                return None;
            }
            Ok(_) => {}
            // Past the deadline every lease granted before the commit has
            // ended, whatever the registry says: keep waiting for that.
            Err(error) => log::warn!("cannot read revocation acknowledgements: {error}"),
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            metrics.revocation_ack(RevocationAck::TimedOut);
            return None;
        }
        let pause = self.pause.min(left);
        self.pause = (self.pause * 2).min(Duration::from_millis(8));
        Some(pause)
    }
}

impl RevocationSync {
    pub fn new(
        pool: DbPool,
        ack_timeout: Duration,
        work_timeout: Duration,
        own: Option<Arc<Lease>>,
        metrics: Metrics,
    ) -> Self {
        RevocationSync {
            pool,
            ack_timeout,
            work_timeout,
            own,
            metrics,
        }
    }

    /// Waits, after the commit of the transaction numbered `seq`, until no
    /// other instance may serve from a cache that has not applied it.
    /// Never fails: the revocation is committed, and the deadline bounds
    /// the wait whatever the database does.
    pub async fn wait(&self, seq: i64) {
        let except = self.own.as_ref().and_then(|lease| lease.instance());
        let mut waiting = Waiting::new(seq, self.ack_timeout);
        let lease = self.ack_timeout;
        loop {
            let looked = run_blocking_within(&self.pool, self.work_timeout, move |conn| {
                Ok(cache_instances::unacknowledged(conn, seq, except, lease)?)
            })
            .await;
            let Some(pause) = waiting.after(looked, &self.metrics) else {
                return;
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// [`Self::wait`] for what some work announced, if anything.
    pub async fn wait_for(&self, announced: Option<i64>) {
        if let Some(seq) = announced {
            self.wait(seq).await;
        }
    }
}

/// The number a wait is for when what was announced cannot be read: no
/// instance acknowledges it, so the wait lasts as long as a laggard's lease.
pub const UNKNOWN: i64 = i64::MAX;

/// The number of the last transaction that announced something on `conn`
/// since the last call (see `cache_instances::take_announced`), for a
/// session whose evictions are not collected.
pub fn announced(conn: &mut AnyConnection) -> Option<i64> {
    cache_instances::take_announced(conn)
        .unwrap_or_else(|error| {
            log::warn!("cannot read what this work announced: {error}");
            (String::new(), Some(UNKNOWN))
        })
        .1
}

/// [`RevocationSync::wait`] for a process without a cache or a runtime (the
/// command line), on its one connection: what its writes on `conn`
/// announced is acknowledged, or `ack_timeout` has passed, when it returns.
pub fn wait_blocking(conn: &mut AnyConnection, ack_timeout: Duration, metrics: &Metrics) {
    let Some(seq) = announced(conn) else {
        return;
    };
    let mut waiting = Waiting::new(seq, ack_timeout);
    loop {
        let looked = cache_instances::unacknowledged(conn, waiting.seq, None, ack_timeout);
        let Some(pause) = waiting.after(looked, metrics) else {
            return;
        };
        std::thread::sleep(pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease::new(Duration::from_millis(800), Metrics::new().expect("metrics"))
    }

    #[test]
    fn a_lease_runs_from_the_heartbeat_sent_not_from_its_answer() {
        let lease = lease();
        assert!(!lease.holds(), "no lease before a heartbeat");
        lease.renew(Instant::now());
        assert!(lease.holds());
        // A heartbeat sent longer ago than the lease grants nothing now.
        let lease = self::lease();
        lease.renew(Instant::now() - Duration::from_millis(700));
        assert!(!lease.holds(), "700 ms of a 700 ms lease are gone");
        // A later renewal never shortens it; the end of the listener ends it.
        lease.renew(Instant::now());
        lease.renew(Instant::now() - Duration::from_secs(1));
        assert!(lease.holds());
        lease.end();
        assert!(!lease.holds());
        assert_eq!(lease.heartbeat_every(), Duration::from_millis(175));
    }

    #[test]
    fn a_wait_ends_on_every_acknowledgement_or_at_its_deadline() {
        let metrics = Metrics::new().expect("metrics");
        let pending = |pending, lagging| Ok::<_, String>(Unacknowledged { pending, lagging });
        let mut waiting = Waiting::new(7, Duration::from_secs(5));
        assert_eq!(
            waiting.after(pending(1, 0), &metrics),
            Some(Duration::from_millis(1))
        );
        assert_eq!(
            waiting.after(Err("down".to_owned()), &metrics),
            Some(Duration::from_millis(2))
        );
        assert_eq!(waiting.after(pending(0, 1), &metrics), None);
        let mut waiting = Waiting::new(7, Duration::ZERO);
        assert_eq!(
            waiting.after(pending(1, 0), &metrics),
            None,
            "past the deadline"
        );
    }
}
