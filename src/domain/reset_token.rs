//! Password-reset links: a `uid` naming the user and a signed `token`.
//!
//! As in Django, nothing is stored: the token is a signed stamp (see
//! [`super::signed_stamp`]) bound to the user's current password hash, last
//! login, e-mail and count of e-mail changes. Setting a new password, or
//! changing the address (even away and back), therefore spends every link
//! issued before it; a token older than the reset timeout is refused.

use super::signed_stamp::{self, PresentedStamp, Subject};
use super::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::time::Duration;

/// What a token is bound to: when any of it changes, the token is spent.
#[derive(Debug, Clone, Copy)]
pub struct ResetSubject<'a> {
    pub user_id: i64,
    pub password_hash: &'a str,
    pub last_login_at: Option<i64>,
    pub email: &'a str,
    /// How many times the address changed: the text alone would come back
    /// with an address changed away and back.
    pub email_changes: i64,
}

/// No token we issue is longer; longer input is refused unread.
const MAX_TOKEN_CHARS: usize = 64;

/// Django's `urlsafe_base64_encode(force_bytes(pk))`: the decimal id in
/// unpadded URL-safe base64 (`1` → `MQ`).
pub fn encode_uid(user_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(user_id.to_string())
}

/// The user id in a `uid`, or `None` for anything we did not issue.
pub fn decode_uid(uid: &str) -> Option<i64> {
    if uid.len() > 32 {
        return None;
    }
    let decoded = URL_SAFE_NO_PAD.decode(uid.trim_end_matches('=')).ok()?;
    let text = std::str::from_utf8(&decoded).ok()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|id| *id > 0)
}

/// A token for `subject`, issued at `now`, signed with `key`.
pub fn make_token(key: &[u8; 32], subject: &ResetSubject<'_>, now: Timestamp) -> String {
    signed_stamp::issue(key, subject.signed(), now)
}

/// Whether `token` was issued for `subject` as it is now, with `key`, no
/// longer than `timeout` before `now`.
pub fn check_token(
    key: &[u8; 32],
    subject: &ResetSubject<'_>,
    token: &str,
    now: Timestamp,
    timeout: Duration,
) -> bool {
    if token.len() > MAX_TOKEN_CHARS {
        return false;
    }
    let Some(token) = PresentedStamp::parse(token) else {
        return false;
    };
    let expired = token.age(now) > Timestamp(0).plus(timeout).millis();
    // The signature is checked even for an expired token so that both cost
    // the same.
    let authentic = token.is_authentic(key, subject.signed());
    authentic && !expired
}

impl ResetSubject<'_> {
    fn signed(&self) -> Subject<'_, 3, 2> {
        Subject {
            numbers: [
                self.user_id,
                self.last_login_at.unwrap_or(-1),
                self.email_changes,
            ],
            texts: [self.password_hash, self.email],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signed_stamp::forgeries;

    const KEY: [u8; 32] = [7; 32];
    const HOUR: Duration = Duration::from_secs(3600);

    fn subject(password_hash: &str) -> ResetSubject<'_> {
        ResetSubject {
            user_id: 42,
            password_hash,
            last_login_at: Some(1_000),
            email: "alice@example.com",
            email_changes: 0,
        }
    }

    #[test]
    fn uids_are_djangos_base64_of_the_decimal_id() {
        assert_eq!(encode_uid(1), "MQ");
        assert_eq!(encode_uid(42), "NDI");
        assert_eq!(decode_uid("MQ"), Some(1));
        assert_eq!(decode_uid("NDI"), Some(42));
        assert_eq!(decode_uid("MQ=="), Some(1), "padding is tolerated");
        for garbled in ["", "!!", "YWJj", "LTE", "MA", "x".repeat(100).as_str()] {
            assert_eq!(decode_uid(garbled), None, "{garbled:?}");
        }
    }

    #[test]
    fn a_fresh_token_checks_for_its_subject_only() {
        let now = Timestamp(1_800_000_000_000);
        let token = make_token(&KEY, &subject("hash-1"), now);
        assert!(check_token(&KEY, &subject("hash-1"), &token, now, HOUR));
        assert!(
            !check_token(&KEY, &subject("hash-2"), &token, now, HOUR),
            "a new password spends the token"
        );
        let other_user = ResetSubject {
            user_id: 43,
            ..subject("hash-1")
        };
        assert!(!check_token(&KEY, &other_user, &token, now, HOUR));
        let logged_in_since = ResetSubject {
            last_login_at: Some(2_000),
            ..subject("hash-1")
        };
        assert!(!check_token(&KEY, &logged_in_since, &token, now, HOUR));
        let address_changed_and_back = ResetSubject {
            email_changes: 2,
            ..subject("hash-1")
        };
        assert!(
            !check_token(&KEY, &address_changed_and_back, &token, now, HOUR),
            "the same address text after two changes"
        );
        assert!(
            !check_token(&[8; 32], &subject("hash-1"), &token, now, HOUR),
            "another key"
        );
    }

    #[test]
    fn tokens_expire_after_the_timeout() {
        let issued = Timestamp(1_800_000_000_000);
        let token = make_token(&KEY, &subject("h"), issued);
        let check = |now: Timestamp| check_token(&KEY, &subject("h"), &token, now, HOUR);
        assert!(check(issued.plus(HOUR)));
        assert!(!check(issued.plus(HOUR).plus(Duration::from_millis(1))));
    }

    #[test]
    fn garbled_and_tampered_tokens_are_refused() {
        let now = Timestamp(1_800_000_000_000);
        let token = make_token(&KEY, &subject("h"), now);
        let mut bad = forgeries(&token, MAX_TOKEN_CHARS);
        bad.extend(
            [
                "",
                "-",
                "abc",
                "abc-",
                "-abc",
                "zzzzzzzzzzzzzzzzz-abc",
                "!!-abc",
            ]
            .map(String::from),
        );
        for bad in bad {
            assert!(
                !check_token(&KEY, &subject("h"), &bad, now, HOUR),
                "{bad:?}"
            );
        }
    }
}
