//! How soon a failed password check may answer, so that the time of a
//! wrong-password login does not tell an imported user from an unknown one
//! (L5 of the third review).
//!
//! An imported user keeps the Django hash they had until their first
//! sign-in, and checking it costs what its format costs: a million PBKDF2
//! rounds took 123 ms, bcrypt 12 252 ms, where the dummy argon2 hash that
//! unknown names are checked against takes about 29 ms. Those hashes cannot
//! be rehashed without the password, and making every check as costly as
//! the costliest one would spend a core on every wrong login. So a failed
//! check instead waits, without holding a hashing thread, until as long as
//! the costliest failed check of a Django hash has taken and a quarter
//! more: the floor. An unknown name, a native user's wrong password and an
//! imported user's wrong password then all answer at the floor, whatever
//! the format.
//!
//! The floor is measured at start (one wrong-password check of the costliest
//! hash of each Django algorithm in the database) and raised when a check
//! of a costlier hash than those is seen, never lowered while the process
//! runs. A right password answers at once: who has it learns nothing.

use crate::db::{users, AnyConnection};
use crate::domain::django_password::{self, DjangoAlgorithm};
use crate::service::Error;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Users read at a time when the floor is measured at start.
const BATCH: i64 = 1000;

/// A password that no stored hash is expected to match: the checks that
/// measure the floor fail, as the ones it pads do.
const MEASURING_PASSWORD: &str = "a password that measures and matches nothing";

#[derive(Debug, Default)]
pub struct AnswerFloor {
    nanos: AtomicU64,
    /// The costliest hash of each algorithm the floor covers, in the units
    /// of `django_password::cost`.
    costliest: Mutex<BTreeMap<DjangoAlgorithm, u64>>,
}

impl AnswerFloor {
    /// How long a failed check takes at least.
    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn raise(&self, took: Duration) {
        // A quarter more than the one check measured: the same hash on a
        // busier machine takes longer, and a check that ends past the floor
        // shows through it.
        let padded = took.saturating_add(took / 4);
        let nanos = u64::try_from(padded.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(nanos, Ordering::SeqCst);
    }

    /// Whether `encoded` costs more than every hash of its algorithm the
    /// floor covers; if so, it is covered from now on.
    fn is_costlier(&self, encoded: &str) -> bool {
        let Some((algorithm, units)) = django_password::cost(encoded) else {
            return false;
        };
        let Ok(mut costliest) = self.costliest.lock() else {
            return false;
        };
        let known = costliest.entry(algorithm).or_default();
        let costlier = units > *known;
        *known = (*known).max(units);
        costlier
    }

    /// A failed check of the stored `encoded` took `took`: a Django hash
    /// costlier than those measured raises the floor to it. Noise in the
    /// times of hashes already covered does not: the floor would only creep.
    pub fn observe(&self, encoded: &str, took: Duration) {
        if self.is_costlier(encoded) {
            self.raise(took);
        }
    }

    /// Measures the floor on this thread: one failed check of the costliest
    /// Django hash of each algorithm among the users. Returns how many
    /// checks ran (at most one per algorithm, each within the bounds).
    pub fn measure(&self, conn: &mut AnyConnection) -> Result<usize, Error> {
        let mut costliest: BTreeMap<DjangoAlgorithm, (u64, String)> = BTreeMap::new();
        let mut after = 0;
        loop {
            let batch = users::foreign_hashes_after(conn, after, BATCH)?;
            let Some((last, _)) = batch.last() else {
                break;
            };
            after = *last;
            for (_, encoded) in batch {
                if let Some((algorithm, units)) = django_password::cost(&encoded) {
                    let entry = costliest.entry(algorithm).or_insert((0, String::new()));
                    if units > entry.0 {
                        *entry = (units, encoded);
                    }
                }
            }
        }
        for (_, encoded) in costliest.values() {
            self.is_costlier(encoded);
            self.raise(time_failed_check(encoded));
        }
        Ok(costliest.len())
    }
}

fn time_failed_check(encoded: &str) -> Duration {
    let started = Instant::now();
    let _ = django_password::verify(MEASURING_PASSWORD, encoded);
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PBKDF2_20K: &str =
        "pbkdf2_sha256$20000$oldsalt1234$xQq5vaRSoCEFh+tbSU3sG1FPtqhIviWTPJorq7ZquSg=";
    const PBKDF2_1M: &str =
        "pbkdf2_sha256$1000000$Qq8IF4MHoHgOzRlsfyGfY3$nlLaQ/7eLE2TRYkLAbGoS/pSEE4KwvrVqDgNPZt5ksE=";

    #[test]
    fn only_a_costlier_hash_of_an_algorithm_raises_the_floor() {
        let floor = AnswerFloor::default();
        assert_eq!(floor.get(), Duration::ZERO);
        floor.observe(PBKDF2_20K, Duration::from_millis(8));
        assert_eq!(floor.get(), Duration::from_millis(10));
        // The same hash, slower this once (a busy machine): no creep.
        floor.observe(PBKDF2_20K, Duration::from_millis(60));
        assert_eq!(floor.get(), Duration::from_millis(10));
        floor.observe(PBKDF2_1M, Duration::from_millis(120));
        assert_eq!(floor.get(), Duration::from_millis(150));
        // Cheaper, or never verified: nothing changes.
        floor.observe(PBKDF2_20K, Duration::from_secs(1));
        floor.observe("bcrypt$$2b$31$x", Duration::from_secs(1));
        floor.observe(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$AAAA",
            Duration::from_secs(1),
        );
        assert_eq!(floor.get(), Duration::from_millis(150));
    }
}
