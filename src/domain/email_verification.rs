//! E-mail verification: the `EMAIL_VERIFICATION` mode, and the signed keys
//! that verification links carry.
//!
//! As with password-reset links nothing is stored: a key is
//! `<user id>-<issued>-<signature>` (both numbers in base 36), the signature
//! an HMAC-SHA256 (under a key derived from `SECRET_KEY`) of the issue time,
//! the user id and the address the mail went to. The use case accepts a key
//! only while that address is still the user's and not yet verified, and
//! sets the flag with a conditional write, so a key works once, and a change
//! of address spends every key issued before it. A key older than
//! `EMAIL_VERIFICATION_TIMEOUT` is refused; signatures are compared in
//! constant time.

use super::reset_token::{from_base36, to_base36};
use super::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
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

/// A key as presented, split into its parts; not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub user_id: i64,
    issued: i64,
    signature: Vec<u8>,
}

impl PresentedKey {
    /// The parts of `text`, or `None` for anything we could not have issued.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_KEY_CHARS {
            return None;
        }
        let mut parts = text.splitn(3, '-');
        let (user_id, issued, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let user_id = from_base36(user_id).filter(|id| *id > 0)?;
        let issued = from_base36(issued)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        Some(PresentedKey {
            user_id,
            issued,
            signature,
        })
    }

    /// Whether the key was issued with `key` for its user at `email`, no
    /// longer than `timeout` before `now`.
    pub fn is_valid_for(
        &self,
        key: &[u8; 32],
        email: &str,
        now: Timestamp,
        timeout: Duration,
    ) -> bool {
        let age = now.millis().saturating_sub(self.issued);
        let expired = age > Timestamp(0).plus(timeout).millis() || age < 0;
        // Checked even when expired, so that both cost the same;
        // `verify_slice` compares in constant time.
        let authentic = signature(key, self.user_id, email, self.issued)
            .verify_slice(&self.signature)
            .is_ok();
        authentic && !expired
    }
}

/// A key for user `user_id` at `email`, issued at `now`, signed with `key`.
pub fn make_key(key: &[u8; 32], user_id: i64, email: &str, now: Timestamp) -> String {
    let issued = now.millis().max(0);
    format!(
        "{}-{}-{}",
        to_base36(user_id.max(0)),
        to_base36(issued),
        URL_SAFE_NO_PAD.encode(
            signature(key, user_id, email, issued)
                .finalize()
                .into_bytes()
        )
    )
}

fn signature(key: &[u8; 32], user_id: i64, email: &str, issued: i64) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = super::secret::hmac_sha256(key);
    // Fixed-width numbers and a length-prefixed address: no two subjects
    // serialise to the same bytes.
    mac.update(&issued.to_be_bytes());
    mac.update(&user_id.to_be_bytes());
    mac.update(&(email.len() as u64).to_be_bytes());
    mac.update(email.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const DAY: Duration = Duration::from_secs(86_400);
    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn valid(text: &str, email: &str, now: Timestamp) -> bool {
        PresentedKey::parse(text).is_some_and(|key| key.is_valid_for(&KEY, email, now, DAY))
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
        let key = make_key(&KEY, 42, "alice@example.com", NOW);
        assert_eq!(PresentedKey::parse(&key).map(|k| k.user_id), Some(42));
        assert!(valid(&key, "alice@example.com", NOW));
        assert!(
            !valid(&key, "alice@example.org", NOW),
            "a new address spends the key"
        );
        assert!(!valid(&key, "Alice@example.com", NOW));
        let parsed = PresentedKey::parse(&key);
        assert!(!parsed.is_some_and(|k| k.is_valid_for(&[8; 32], "alice@example.com", NOW, DAY)));
    }

    #[test]
    fn keys_expire_after_the_timeout() {
        let key = make_key(&KEY, 42, "a@example.com", NOW);
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
        let key = make_key(&KEY, 42, "a@example.com", NOW);
        let mut parts = key.splitn(3, '-');
        let (user, issued, signed) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let other_user = format!("{}-{issued}-{signed}", to_base36(43));
        let later = format!("{user}-{}-{signed}", to_base36(NOW.millis() + 1));
        let mut flipped = signed.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{user}-{issued}-{}", String::from_utf8_lossy(&flipped));
        let truncated = &key[..key.len() - 1];
        let too_long = format!("{key}{}", "A".repeat(96));
        for bad in [
            "",
            "-",
            "--",
            "abc",
            "0-abc-abc",
            "1-2",
            "1-2-!!",
            "\0-1-a",
            other_user.as_str(),
            later.as_str(),
            flipped.as_str(),
            truncated,
            too_long.as_str(),
        ] {
            assert!(!valid(bad, "a@example.com", NOW), "{bad:?}");
        }
    }
}
