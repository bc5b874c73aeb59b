//! The OAuth device grant's codes and rules (RFC 8628), without storage:
//! the device code a device polls with, the short user code a person types
//! on another device, the digests they are stored by, the states a grant
//! goes through, and how a poll is answered.

use crate::domain::random::{random_base64url, random_from};
use crate::domain::secret::hmac_sha256;
use crate::domain::{Scopes, Timestamp};
use hmac::Mac;
use sha2::{Digest, Sha256};
use std::fmt;

/// The letters of a user code: no vowels (no words), no look-alikes (RFC 8628 §6.1).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code (`XXXX-XXXX`): 20^8, about 34 bits.
const USER_CODE_LETTERS: usize = 8;
/// The interval a device is told to poll at, in seconds (RFC 8628's default).
pub const POLL_INTERVAL_SECONDS: i64 = 5;
/// What a `slow_down` adds to a code's interval, in seconds (RFC 8628 §3.5).
pub const SLOW_DOWN_SECONDS: i64 = 5;

/// The device code: 256 random bits, base64url; the device's secret.
pub struct DeviceCode(String);

impl DeviceCode {
    pub fn generate() -> Self {
        DeviceCode(random_base64url::<32>())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores and finds a grant by: SHA-256 of the code
    /// as presented (anything presented, so that a wrong one finds nothing).
    pub fn digest_of(presented: &str) -> [u8; 32] {
        Sha256::digest(presented.as_bytes()).into()
    }
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceCode(<redacted>)")
    }
}

/// A user code, normalised: 8 letters of [`USER_CODE_ALPHABET`], upper case.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    pub fn generate() -> Self {
        UserCode(random_from(USER_CODE_ALPHABET, USER_CODE_LETTERS))
    }

    /// A code as a person typed it: without regard to case, with or
    /// without the dash (and spaces around it). `None` when it cannot be one.
    pub fn parse(text: &str) -> Option<Self> {
        let letters: String = text
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = letters.len() == USER_CODE_LETTERS
            && letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        valid.then_some(UserCode(letters))
    }

    /// `XXXX-XXXX`, as shown to the person.
    pub fn display(&self) -> String {
        let (first, second) = self.0.split_at(USER_CODE_LETTERS / 2);
        format!("{first}-{second}")
    }

    /// What the database stores: HMAC-SHA256 under `key` (derived from
    /// `SECRET_KEY`), since 34 bits would not survive a plain digest's
    /// brute force.
    pub fn digest(&self, key: &[u8; 32]) -> [u8; 32] {
        let mut mac = hmac_sha256(key);
        mac.update(self.0.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserCode(<redacted>)")
    }
}

/// The purpose the user codes' digest key is derived for.
pub const USER_CODE_KEY_PURPOSE: &str = "device-grant-user-code";

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    Pending,
    Approved,
    Denied,
    /// Its key was issued: the code is worth nothing any more.
    Spent,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Pending => "pending",
            GrantState::Approved => "approved",
            GrantState::Denied => "denied",
            GrantState::Spent => "spent",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Spent]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// Whether a poll at `now` comes sooner than `interval_seconds` after the
/// last one (the first poll never does).
pub fn too_soon(last_poll_at: Option<i64>, interval_seconds: i64, now: Timestamp) -> bool {
    last_poll_at.is_some_and(|last| now.millis() < last.saturating_add(interval_seconds * 1000))
}

/// The scopes an approver grants: the requested ones, or `narrowed` when
/// given, which may only drop some of them (any, of an unrestricted
/// request). `None` when `narrowed` would widen the request, or make a
/// restricted request unrestricted.
pub fn narrow(requested: &Scopes, narrowed: Option<Scopes>) -> Option<Scopes> {
    let Some(narrowed) = narrowed else {
        return Some(requested.clone());
    };
    if !requested.is_restricted() {
        return Some(narrowed);
    }
    let within = narrowed.is_restricted()
        && narrowed
            .as_slice()
            .iter()
            .all(|scope| requested.holds(scope));
    within.then_some(narrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_of_the_alphabet_shown_with_a_dash() {
        for _ in 0..200 {
            let code = UserCode::generate();
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert!(shown
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| USER_CODE_ALPHABET.contains(&b)));
            assert_eq!(UserCode::parse(&shown), Some(code));
        }
    }

    #[test]
    fn user_codes_are_read_without_regard_to_case_or_dash() {
        let code = UserCode::parse("BCDF-GHJK").expect("a code");
        assert_eq!(UserCode::parse("bcdfghjk"), Some(code.clone()));
        assert_eq!(UserCode::parse(" bcdf-Ghjk "), Some(code));
        for wrong in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-GHJK",
            "BCDF-GHJ1",
            "BCDF_GHJK",
        ] {
            assert_eq!(UserCode::parse(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn user_code_digests_depend_on_the_key() {
        let code = UserCode::parse("BCDFGHJK").expect("a code");
        assert_ne!(code.digest(&[1; 32]), code.digest(&[2; 32]));
        assert_eq!(code.digest(&[1; 32]), code.digest(&[1; 32]));
    }

    #[test]
    fn device_codes_hold_256_bits() {
        let code = DeviceCode::generate();
        assert_eq!(code.expose().len(), 43);
        assert_ne!(code.expose(), DeviceCode::generate().expose());
        assert_eq!(format!("{code:?}"), "DeviceCode(<redacted>)");
    }

    #[test]
    fn a_poll_is_too_soon_within_the_interval_of_the_last() {
        let now = Timestamp(100_000);
        assert!(!too_soon(None, 5, now));
        assert!(too_soon(Some(95_001), 5, now));
        assert!(!too_soon(Some(95_000), 5, now));
    }

    #[test]
    fn approvers_narrow_scopes_and_never_widen_them() {
        let scopes = |text| Scopes::parse(text).expect("scopes");
        let requested = scopes("read write");
        assert_eq!(narrow(&requested, None), Some(requested.clone()));
        assert_eq!(
            narrow(&requested, Some(scopes("read"))),
            Some(scopes("read"))
        );
        assert_eq!(narrow(&requested, Some(scopes("read admin"))), None);
        assert_eq!(narrow(&requested, Some(Scopes::unrestricted())), None);
        assert_eq!(
            narrow(&Scopes::unrestricted(), Some(scopes("read"))),
            Some(scopes("read"))
        );
        for state in ["pending", "approved", "denied", "spent"] {
            let parsed = GrantState::from_stored(state).expect("a state");
            assert_eq!(parsed.as_str(), state);
        }
    }
}
