//! What password-reset tokens and e-mail verification keys share: a stamp
//! `<issued>-<signature>` that needs nothing stored. The issue time is in
//! base 36, the signature an HMAC-SHA256 (under a key derived from
//! `SECRET_KEY`) of that time and of the fields of the subject the stamp was
//! issued for, in unpadded URL-safe base64. A stamp checks only against the
//! subject as it was, so changing any field spends it; signatures are
//! compared in constant time. How old a stamp may be is each user's rule.

use super::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

/// The fields a stamp is bound to: fixed-width numbers, then
/// length-prefixed texts, so no two subjects serialise to the same bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject<'a, const NUMBERS: usize, const TEXTS: usize> {
    pub numbers: [i64; NUMBERS],
    pub texts: [&'a str; TEXTS],
}

/// A stamp for `subject`, issued at `now`, signed with `key`.
pub(super) fn issue<const N: usize, const T: usize>(
    key: &[u8; 32],
    subject: Subject<'_, N, T>,
    now: Timestamp,
) -> String {
    let issued = now.millis().max(0);
    format!(
        "{}-{}",
        to_base36(issued),
        URL_SAFE_NO_PAD.encode(signature(key, subject, issued).finalize().into_bytes())
    )
}

/// A stamp as presented, split into its parts; not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PresentedStamp {
    issued: i64,
    signature: Vec<u8>,
}

impl PresentedStamp {
    /// The parts of `text`, or `None` for anything we could not have issued.
    pub(super) fn parse(text: &str) -> Option<Self> {
        let (issued, signature) = text.split_once('-')?;
        Some(PresentedStamp {
            issued: from_base36(issued)?,
            signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
        })
    }

    /// Milliseconds since the issue time the stamp claims (negative for one
    /// claimed in the future).
    pub(super) fn age(&self, now: Timestamp) -> i64 {
        now.millis().saturating_sub(self.issued)
    }

    /// Whether the stamp was issued for `subject` with `key`, at the time
    /// it claims. `verify_slice` compares in constant time.
    pub(super) fn is_authentic<const N: usize, const T: usize>(
        &self,
        key: &[u8; 32],
        subject: Subject<'_, N, T>,
    ) -> bool {
        signature(key, subject, self.issued)
            .verify_slice(&self.signature)
            .is_ok()
    }
}

fn signature<const N: usize, const T: usize>(
    key: &[u8; 32],
    subject: Subject<'_, N, T>,
    issued: i64,
) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = super::secret::hmac_sha256(key);
    mac.update(&issued.to_be_bytes());
    for number in subject.numbers {
        mac.update(&number.to_be_bytes());
    }
    for text in subject.texts {
        mac.update(&(text.len() as u64).to_be_bytes());
        mac.update(text.as_bytes());
    }
    mac
}

pub(super) fn to_base36(mut value: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

pub(super) fn from_base36(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 13 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    i64::from_str_radix(&text.to_ascii_lowercase(), 36).ok()
}

/// Forgeries of a genuine `stamp`, for the tests of its users: a later
/// issue time under the same signature, a changed signature, a cut one, and
/// one made longer than `max_chars`, the most its user reads.
#[cfg(test)]
pub(super) fn forgeries(stamp: &str, max_chars: usize) -> Vec<String> {
    let (issued, signed) = stamp.split_once('-').unwrap_or_default();
    let later = from_base36(issued).unwrap_or_default() + 1;
    let mut flipped = signed.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    vec![
        format!("{}-{signed}", to_base36(later)),
        format!("{issued}-{}", String::from_utf8_lossy(&flipped)),
        stamp[..stamp.len() - 1].to_owned(),
        format!("{stamp}{}", "A".repeat(max_chars)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KEY: [u8; 32] = [7; 32];
    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn subject<'a>(texts: [&'a str; 2]) -> Subject<'a, 1, 2> {
        Subject {
            numbers: [42],
            texts,
        }
    }

    #[test]
    fn a_stamp_checks_for_its_subject_only() {
        let stamp = issue(&KEY, subject(["a", "b"]), NOW);
        let presented = PresentedStamp::parse(&stamp);
        let checks = |key: &[u8; 32], subject| {
            presented
                .as_ref()
                .is_some_and(|p| p.is_authentic(key, subject))
        };
        assert!(checks(&KEY, subject(["a", "b"])));
        assert!(!checks(&[8; 32], subject(["a", "b"])), "another key");
        assert!(!checks(&KEY, subject(["ab", ""])), "texts are delimited");
        let other = Subject {
            numbers: [43],
            texts: ["a", "b"],
        };
        assert!(!checks(&KEY, other));
        assert_eq!(
            presented.map(|p| p.age(NOW.plus(Duration::from_millis(5)))),
            Some(5)
        );
    }

    #[test]
    fn forgeries_and_garbage_do_not_check() {
        let stamp = issue(&KEY, subject(["a", ""]), NOW);
        let garbage = ["", "-", "abc", "-abc", "!!-abc", "zzzzzzzzzzzzzz-abc"];
        for bad in forgeries(&stamp, 1)
            .iter()
            .map(String::as_str)
            .chain(garbage)
        {
            let checks = PresentedStamp::parse(bad)
                .is_some_and(|p| p.is_authentic(&KEY, subject(["a", ""])));
            assert!(!checks, "{bad:?}");
        }
    }

    #[test]
    fn base36_round_trips() {
        for value in [0, 1, 35, 36, 1_800_000_000_000, i64::MAX] {
            assert_eq!(from_base36(&to_base36(value)), Some(value));
        }
        assert_eq!(to_base36(35), "z");
    }
}
