//! E-mail verification: the `EMAIL_VERIFICATION` mode, and the signed keys
//! that verification links carry.
//!
//! As with password-reset links nothing is stored: a key is
//! `<user id>-<stamp>`, the user id in base 36 and the stamp signed (see
//! [`super::signed_stamp`]) for the user id, the address the mail went to
//! and how many times the user's address had changed then. The use case
//! accepts a key only while that address is still the user's and not yet
//! verified, and sets the flag with a conditional write, so a key works
//! once; a change of address spends every key issued before it, and the
//! count keeps it spent when the address is changed back. A key older than
//! `EMAIL_VERIFICATION_TIMEOUT`, or issued in the future, is refused.

use super::signed_stamp::{self, from_base36, to_base36, PresentedStamp, Subject};
use super::Timestamp;
use std::time::Duration;

/// `EMAIL_VERIFICATION`: whether addresses are verified, and whether an
/// unverified one keeps its user from signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// No mail is sent; `email_verified` changes only by verifying a key.
    None,
    /// Mails are sent; signing in does not wait for them.
    Optional,
    /// Mails are sent, and a user whose address is not verified cannot sign in.
    Mandatory,
}

impl EmailVerification {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "none" => Ok(EmailVerification::None),
            "optional" => Ok(EmailVerification::Optional),
            "mandatory" => Ok(EmailVerification::Mandatory),
            other => Err(format!(
                "invalid value {other:?}: expected none, optional or mandatory"
            )),
        }
    }

    /// Whether verification mails are sent at all.
    pub fn sends_mail(self) -> bool {
        self != EmailVerification::None
    }
}

/// No key we issue is longer; longer input is refused unread.
const MAX_KEY_CHARS: usize = 96;

/// The address a key is for, as the user's row had it when the key was
/// issued: the text, and how many times it had changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub email: &'a str,
    pub changes: i64,
}

/// A key as presented, split into its parts; not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub user_id: i64,
    stamp: PresentedStamp,
}

impl PresentedKey {
    /// The parts of `text`, or `None` for anything we could not have issued.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_KEY_CHARS {
            return None;
        }
        let (user_id, stamp) = text.split_once('-')?;
        Some(PresentedKey {
            user_id: from_base36(user_id).filter(|id| *id > 0)?,
            stamp: PresentedStamp::parse(stamp)?,
        })
    }

    /// Whether the key was issued with `key` for its user at `address`, no
    /// longer than `timeout` before `now`.
    pub fn is_valid_for(
        &self,
        key: &[u8; 32],
        address: Address<'_>,
        now: Timestamp,
        timeout: Duration,
    ) -> bool {
        let age = self.stamp.age(now);
        let expired = age > Timestamp(0).plus(timeout).millis() || age < 0;
        // Checked even when expired, so that both cost the same.
        let authentic = self.stamp.is_authentic(key, subject(self.user_id, address));
        authentic && !expired
    }
}

/// A key for user `user_id` at `address`, issued at `now`, signed with `key`.
pub fn make_key(key: &[u8; 32], user_id: i64, address: Address<'_>, now: Timestamp) -> String {
    format!(
        "{}-{}",
        to_base36(user_id.max(0)),
        signed_stamp::issue(key, subject(user_id, address), now)
    )
}

fn subject(user_id: i64, address: Address<'_>) -> Subject<'_, 2, 1> {
    Subject {
        numbers: [user_id, address.changes],
        texts: [address.email],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signed_stamp::forgeries;

    const KEY: [u8; 32] = [7; 32];
    const DAY: Duration = Duration::from_secs(86_400);
    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn at(email: &str) -> Address<'_> {
        Address { email, changes: 0 }
    }

    fn valid(text: &str, email: &str, now: Timestamp) -> bool {
        PresentedKey::parse(text).is_some_and(|key| key.is_valid_for(&KEY, at(email), now, DAY))
    }

    #[test]
    fn modes_parse_as_the_setting_is_written() {
        assert_eq!(
            EmailVerification::parse("none"),
            Ok(EmailVerification::None)
        );
        assert_eq!(
            EmailVerification::parse(" optional "),
            Ok(EmailVerification::Optional)
        );
        assert_eq!(
            EmailVerification::parse("mandatory"),
            Ok(EmailVerification::Mandatory)
        );
        assert!(EmailVerification::parse("yes").is_err());
        assert!(!EmailVerification::None.sends_mail());
        assert!(EmailVerification::Optional.sends_mail());
    }

    #[test]
    fn a_key_names_its_user_and_checks_for_its_address_only() {
        let key = make_key(&KEY, 42, at("alice@example.com"), NOW);
        assert_eq!(PresentedKey::parse(&key).map(|k| k.user_id), Some(42));
        assert!(valid(&key, "alice@example.com", NOW));
        assert!(
            !valid(&key, "alice@example.org", NOW),
            "a new address spends the key"
        );
        assert!(!valid(&key, "Alice@example.com", NOW));
        let changed_away_and_back = Address {
            email: "alice@example.com",
            changes: 2,
        };
        assert!(
            !PresentedKey::parse(&key).is_some_and(|k| k.is_valid_for(
                &KEY,
                changed_away_and_back,
                NOW,
                DAY
            )),
            "the same address text after two changes spends the key"
        );
        let parsed = PresentedKey::parse(&key);
        assert!(!parsed.is_some_and(|k| k.is_valid_for(
            &[8; 32],
            at("alice@example.com"),
            NOW,
            DAY
        )));
    }

    #[test]
    fn keys_expire_after_the_timeout() {
        let key = make_key(&KEY, 42, at("a@example.com"), NOW);
        assert!(valid(&key, "a@example.com", NOW.plus(DAY)));
        assert!(!valid(
            &key,
            "a@example.com",
            NOW.plus(DAY).plus(Duration::from_millis(1))
        ));
        assert!(
            !valid(&key, "a@example.com", NOW.minus(Duration::from_secs(1))),
            "issued in the future"
        );
    }

    #[test]
    fn garbled_and_tampered_keys_are_refused() {
        let key = make_key(&KEY, 42, at("a@example.com"), NOW);
        let (user, stamp) = key.split_once('-').unwrap_or_default();
        let mut bad: Vec<String> = forgeries(stamp, MAX_KEY_CHARS)
            .into_iter()
            .map(|forged| format!("{user}-{forged}"))
            .collect();
        bad.push(format!("{}-{stamp}", to_base36(43)));
        bad.extend(
            ["", "-", "--", "abc", "0-abc-abc", "1-2", "1-2-!!", "\0-1-a"].map(String::from),
        );
        for bad in bad {
            assert!(!valid(&bad, "a@example.com", NOW), "{bad:?}");
        }
    }
}
