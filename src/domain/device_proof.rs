//! Device proofs: the signed statement "this client signed in as this user"
//! that every successful sign-in hands out, so that a later sign-in from
//! the same device can be counted on its own (see
//! `service::sign_in::throttle`) instead of against a username that anyone
//! can fail on.
//!
//! A proof holds no secret: `<user id>.<proof id>.<stamp>.<client>`, where
//! the proof id is 128 random bits in unpadded URL-safe base64 (what the
//! proof's own failures are counted against) and the stamp a
//! [`super::signed_stamp`] over the user id, the proof id and the client
//! name, under a key derived from `SECRET_KEY`. Nothing is stored: a proof
//! checks by its signature and its age alone, so one that is forged,
//! tampered with or older than `DEVICE_PROOF_TTL` counts for nothing.
//! Every character is one a cookie value may hold.

use super::random::random_base64url;
use super::signed_stamp::{self, PresentedStamp, Subject};
use super::Timestamp;
use std::time::Duration;

/// The purpose the signing key is derived for (`SecretKey::derive_key`).
pub const KEY_PURPOSE: &str = "device proof";

/// The characters of a proof id: 16 bytes in unpadded base64.
const ID_CHARS: usize = 22;

/// No proof we issue is longer (a user id, an id, a stamp and a client
/// name of at most 64 characters); longer input is refused unread.
pub const MAX_PROOF_CHARS: usize = 200;

/// A proof that checked: whose it is, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidProof {
    pub user_id: i64,
    /// Unique to the proof: what its own failures are counted against.
    pub id: String,
}

/// A new proof that `client` signed in as the user `user_id` at `now`.
pub fn issue(key: &[u8; 32], user_id: i64, client: &str, now: Timestamp) -> String {
    let id = random_base64url::<16>();
    let stamp = signed_stamp::issue(key, subject(user_id, &id, client), now);
    format!("{user_id}.{id}.{stamp}.{client}")
}

/// The proof `text` stands for, if it was issued with `key` no longer than
/// `ttl` before `now`; `None` for anything else.
pub fn check(key: &[u8; 32], text: &str, now: Timestamp, ttl: Duration) -> Option<ValidProof> {
    if text.len() > MAX_PROOF_CHARS {
        return None;
    }
    // The client name may hold dots: it comes last, and takes the rest.
    let mut parts = text.splitn(4, '.');
    let user_id = parts.next().filter(|id| is_decimal(id))?.parse().ok()?;
    let id = parts.next().filter(|id| is_proof_id(id))?;
    let stamp = PresentedStamp::parse(parts.next()?)?;
    let client = parts.next()?;
    let expired = stamp.age(now) > Timestamp(0).plus(ttl).millis();
    // The signature is checked even for an expired proof so that both cost
    // the same.
    let authentic = stamp.is_authentic(key, subject(user_id, id, client));
    (authentic && !expired).then(|| ValidProof {
        user_id,
        id: id.to_owned(),
    })
}

fn subject<'a>(user_id: i64, id: &'a str, client: &'a str) -> Subject<'a, 1, 2> {
    Subject {
        numbers: [user_id],
        texts: [id, client],
    }
}

/// A user id as we write it: no sign, no leading zero, so that one proof
/// has one spelling.
fn is_decimal(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 19
        && !(text.len() > 1 && text.starts_with('0'))
        && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_proof_id(text: &str) -> bool {
    text.len() == ID_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];
    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const TTL: Duration = Duration::from_secs(180 * 86_400);

    fn checks(text: &str) -> Option<ValidProof> {
        check(&KEY, text, NOW, TTL)
    }

    #[test]
    fn a_proof_names_its_user_and_client_and_checks_until_it_expires() {
        let proof = issue(&KEY, 42, "phone.v2", NOW);
        let valid = checks(&proof).expect("a valid proof");
        assert_eq!(valid.user_id, 42);
        assert_eq!(valid.id.len(), ID_CHARS);
        assert!(proof.starts_with(&format!("42.{}.", valid.id)));
        assert!(proof.ends_with(".phone.v2"));
        assert!(check(&KEY, &proof, NOW.plus(TTL), TTL).is_some());
        let later = NOW.plus(TTL).plus(Duration::from_millis(1));
        assert_eq!(check(&KEY, &proof, later, TTL), None, "expired");
        assert_eq!(check(&[8; 32], &proof, NOW, TTL), None, "another key");
    }

    #[test]
    fn every_proof_has_an_id_of_its_own() {
        let first = checks(&issue(&KEY, 1, "web", NOW)).map(|p| p.id);
        let second = checks(&issue(&KEY, 1, "web", NOW)).map(|p| p.id);
        assert!(first.is_some() && second.is_some());
        assert_ne!(first, second);
    }

    #[test]
    fn tampered_forged_and_garbage_proofs_do_not_check() {
        let proof = issue(&KEY, 42, "phone", NOW);
        let mut parts = proof.splitn(4, '.');
        let (user, id, stamp, client) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let first = if id.starts_with('A') { "B" } else { "A" };
        let other_id = format!("{first}{}", &id[1..]);
        let mut bad = vec![
            format!("43.{id}.{stamp}.{client}"),
            format!("042.{id}.{stamp}.{client}"),
            format!("+42.{id}.{stamp}.{client}"),
            format!("{user}.{other_id}.{stamp}.{client}"),
            format!("{user}.{id}.{stamp}.tablet"),
            format!("{user}.{id}.{stamp}"),
            format!("{proof}{}", "A".repeat(MAX_PROOF_CHARS)),
            String::new(),
            "...".to_owned(),
            "1.2.3.4".to_owned(),
        ];
        for forged in signed_stamp::forgeries(stamp, 1) {
            bad.push(format!("{user}.{id}.{forged}.{client}"));
        }
        for text in bad {
            assert_eq!(checks(&text), None, "{text:?}");
        }
    }
}
