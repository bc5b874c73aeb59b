//! The proofs this instance saw lately, in memory: a replay to the same
//! instance is refused without a database round trip, and two uses of one
//! proof never reach the shared check together.
//!
//! It only ever refuses. A proof it has not seen still goes to the database
//! (which knows what the other instances accepted), and so does every proof
//! once it is full: [`Sight::Unremembered`] is "ask the database", never
//! "accept". Each entry lives until its proof's `iat` has left the window
//! (no proof of it could be accepted after that anyway), and at most
//! `capacity` entries are held: about 100 bytes each.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A replay digest (see `CheckedProof::replay_digest`).
pub type Digest = [u8; 32];

/// What the memory knew of a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// Not seen lately; remembered from now on.
    First,
    /// Seen lately on this instance: a replay.
    Again,
    /// Not seen lately, but the memory is full: the database decides alone.
    Unremembered,
}

#[derive(Debug)]
pub struct ReplayMemory {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each digest's expiry, milliseconds.
    until: HashMap<Digest, i64>,
    /// The same, oldest first, to forget the expired ones in order. May
    /// hold entries already forgotten from `until`; it bounds the memory.
    in_order: VecDeque<(Digest, i64)>,
}

impl ReplayMemory {
    pub fn new(capacity: usize) -> Self {
        ReplayMemory {
            capacity,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Looks `digest` up at `now` (milliseconds) and remembers it until
    /// `until` if it was not there.
    pub fn see(&self, digest: &Digest, until: i64, now: i64) -> Sight {
        let mut seen = self.lock();
        seen.forget_expired(now);
        if seen.until.get(digest).is_some_and(|&expiry| expiry > now) {
            return Sight::Again;
        }
        if seen.in_order.len() >= self.capacity {
            return Sight::Unremembered;
        }
        seen.until.insert(*digest, until);
        seen.in_order.push_back((*digest, until));
        Sight::First
    }

    /// Forgets a proof that was not accepted after all (the database could
    /// not be asked), so that it is not refused as a replay when retried.
    pub fn forget(&self, digest: &Digest) {
        self.lock().until.remove(digest);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // Every change leaves `Seen` whole: a panic elsewhere while it was
        // held does not make it wrong.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Seen {
    /// Expiries grow with the clock, so the expired ones are at the front
    /// (a clock stepping back only keeps some a little longer).
    fn forget_expired(&mut self, now: i64) {
        while let Some(&(digest, expiry)) = self.in_order.front() {
            if expiry > now {
                break;
            }
            self.in_order.pop_front();
            if self.until.get(&digest) == Some(&expiry) {
                self.until.remove(&digest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_proof_seen_again_before_it_expires_is_a_replay_and_after_is_new() {
        let memory = ReplayMemory::new(10);
        let proof = [1; 32];
        assert_eq!(memory.see(&proof, NOW + 1000, NOW), Sight::First);
        assert_eq!(memory.see(&proof, NOW + 1500, NOW + 999), Sight::Again);
        assert_eq!(memory.see(&[2; 32], NOW + 1000, NOW), Sight::First);
        assert_eq!(memory.see(&proof, NOW + 2000, NOW + 1000), Sight::First);
    }

    #[test]
    fn a_full_memory_sends_new_proofs_to_the_database_and_still_refuses_what_it_holds() {
        let memory = ReplayMemory::new(2);
        assert_eq!(memory.see(&[1; 32], NOW + 1000, NOW), Sight::First);
        assert_eq!(memory.see(&[2; 32], NOW + 2000, NOW), Sight::First);
        assert_eq!(memory.see(&[3; 32], NOW + 2000, NOW), Sight::Unremembered);
        assert_eq!(memory.see(&[3; 32], NOW + 2000, NOW), Sight::Unremembered);
        assert_eq!(memory.see(&[1; 32], NOW + 1000, NOW), Sight::Again);
        // The first expiry makes room.
        assert_eq!(memory.see(&[3; 32], NOW + 3000, NOW + 1000), Sight::First);
        assert_eq!(memory.see(&[2; 32], NOW + 2000, NOW + 1000), Sight::Again);
    }

    #[test]
    fn a_forgotten_proof_is_new_again_and_its_old_expiry_does_not_forget_it_twice() {
        let memory = ReplayMemory::new(10);
        let proof = [1; 32];
        assert_eq!(memory.see(&proof, NOW + 1000, NOW), Sight::First);
        memory.forget(&proof);
        assert_eq!(memory.see(&proof, NOW + 5000, NOW + 10), Sight::First);
        assert_eq!(memory.see(&[2; 32], NOW + 5000, NOW + 1000), Sight::First);
        assert_eq!(memory.see(&proof, NOW + 5000, NOW + 1001), Sight::Again);
    }
}
