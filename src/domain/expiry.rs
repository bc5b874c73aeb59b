//! When a token expires, and when its last use is worth writing down.
//!
//! A token's expiry slides: each use pushes it to `now + ttl`, never past
//! `created_at + max_age` when an absolute lifetime is configured. To keep a
//! busy token from costing a database write per request, the slide is only
//! written once per `touch_interval`; the stored expiry is what is enforced.

use super::Timestamp;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    pub ttl: Duration,
    pub max_age: Option<Duration>,
    pub touch_interval: Duration,
    /// `ROTATION_GRACE`: how long a rotated key still stands for its device.
    pub rotation_grace: Duration,
}

impl TokenPolicy {
    /// Whether a key retired at `retired_at` still stands for its device at
    /// `now`; past that, a use of it is a reuse (the key was copied).
    pub fn in_rotation_grace(&self, retired_at: Timestamp, now: Timestamp) -> bool {
        now < retired_at.plus(self.rotation_grace)
    }

    /// The expiry of a token created, or used, at `now`.
    pub fn expiry(&self, created_at: Timestamp, now: Timestamp) -> Timestamp {
        let sliding = now.plus(self.ttl);
        match self.max_age {
            Some(max_age) => sliding.min(created_at.plus(max_age)),
            None => sliding,
        }
    }

    /// Whether a use at `now` should be written, given the last one written.
    pub fn needs_touch(&self, last_used_at: Timestamp, now: Timestamp) -> bool {
        now >= last_used_at.plus(self.touch_interval)
    }

    /// A token whose stored expiry is at or before `now` is refused.
    pub fn is_expired(expires_at: Timestamp, now: Timestamp) -> bool {
        expires_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn policy(max_age: Option<Duration>) -> TokenPolicy {
        TokenPolicy {
            ttl: 10 * MINUTE,
            max_age,
            touch_interval: MINUTE,
            rotation_grace: MINUTE,
        }
    }

    #[test]
    fn a_retired_key_stands_for_its_device_within_the_grace_only() {
        let retired = Timestamp(1_000_000);
        let policy = policy(None);
        assert!(policy.in_rotation_grace(retired, retired));
        assert!(policy.in_rotation_grace(
            retired,
            retired.plus(MINUTE).minus(Duration::from_millis(1))
        ));
        assert!(!policy.in_rotation_grace(retired, retired.plus(MINUTE)));
    }

    #[test]
    fn expiry_slides_by_the_ttl_from_each_use() {
        let created = Timestamp(1_000_000);
        let later = created.plus(3 * MINUTE);
        assert_eq!(
            policy(None).expiry(created, created),
            created.plus(10 * MINUTE)
        );
        assert_eq!(policy(None).expiry(created, later), later.plus(10 * MINUTE));
    }

    #[test]
    fn max_age_caps_the_slide_from_creation() {
        let created = Timestamp(1_000_000);
        let policy = policy(Some(12 * MINUTE));
        assert_eq!(policy.expiry(created, created), created.plus(10 * MINUTE));
        assert_eq!(
            policy.expiry(created, created.plus(5 * MINUTE)),
            created.plus(12 * MINUTE)
        );
    }

    #[test]
    fn a_max_age_shorter_than_the_ttl_wins_from_the_start() {
        let created = Timestamp(5);
        assert_eq!(
            policy(Some(MINUTE)).expiry(created, created),
            created.plus(MINUTE)
        );
    }

    #[test]
    fn touch_is_due_once_the_interval_has_passed() {
        let last = Timestamp(1_000_000);
        let policy = policy(None);
        assert!(!policy.needs_touch(last, last));
        assert!(!policy.needs_touch(last, last.plus(Duration::from_secs(59))));
        assert!(policy.needs_touch(last, last.plus(MINUTE)));
    }

    #[test]
    fn a_token_is_expired_from_its_expiry_instant_on() {
        let at = Timestamp(100);
        assert!(!TokenPolicy::is_expired(at, Timestamp(99)));
        assert!(TokenPolicy::is_expired(at, Timestamp(100)));
        assert!(TokenPolicy::is_expired(at, Timestamp(101)));
    }
}
