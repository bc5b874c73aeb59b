//! Token keys and their digests.
//!
//! A `PlainToken` is created at login, written into that one response and
//! dropped; the database only ever sees its `TokenDigest`. Keys carry a fixed
//! `mt_` prefix so that secret scanners can recognise a leaked one, and a
//! CRC-32 checksum so that a scanner can tell a real key from a look-alike
//! offline and a made-up key is refused without touching the database.

use super::random::random_from;
use sha2::{Digest, Sha256, Sha512};
use std::fmt;

pub const KEY_PREFIX: &str = "mt_";
/// Base62 digits in the contract's order.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 43 base62 digits hold 43 * log2(62) = 256.03 bits.
const BODY_LENGTH: usize = 43;
/// 62^6 > 2^32: six digits hold any CRC-32.
const CHECKSUM_LENGTH: usize = 6;
/// `mt_`, 43 base62 characters of random body, 6 of checksum.
pub const KEY_LENGTH: usize = KEY_PREFIX.len() + BODY_LENGTH + CHECKSUM_LENGTH;
/// Keys issued before the checksum: `mt_` and 32 random bytes in unpadded
/// URL-safe base64. They stay valid until they expire or are revoked.
pub const EARLIER_KEY_LENGTH: usize = KEY_PREFIX.len() + 43;
/// DRF's and djangorestframework-multitoken's keys: 20 random bytes in hex.
pub const DRF_KEY_LENGTH: usize = 40;
/// django-rest-knox's keys (without a `TOKEN_PREFIX`): 32 random bytes in hex.
pub const KNOX_KEY_LENGTH: usize = 64;

/// Why a presented key is not looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// No shape we issue or (with legacy keys on) import.
    Shape,
    /// Our current shape, but the checksum does not match the body: mistyped,
    /// made up, or a look-alike.
    Checksum,
}

/// The checksum of a key body: its CRC-32 (IEEE, as zlib's) in base62, most
/// significant digit first, left-padded with `0`.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LENGTH] {
    let mut value = crc32fast::hash(body);
    let mut digits = [b'0'; CHECKSUM_LENGTH];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// `count` base62 digits drawn uniformly from the OS CSPRNG.
fn random_base62(count: usize) -> String {
    random_from(BASE62, count)
}

fn is_base62(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_alphanumeric)
}

/// A key in clear. `Debug` and `Display` never print it.
pub struct PlainToken(String);

impl PlainToken {
    /// 256 bits from the operating system's CSPRNG, then their checksum:
    /// every key issued, whatever the way in, is made here.
    pub fn generate() -> Self {
        let body = random_base62(BODY_LENGTH);
        let mut key = String::with_capacity(KEY_LENGTH);
        key.push_str(KEY_PREFIX);
        key.push_str(&body);
        key.extend(checksum(body.as_bytes()).map(char::from));
        PlainToken(key)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

impl fmt::Display for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mt_<redacted>")
    }
}

/// SHA-256 of a whole key: what the database stores and looks tokens up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn of(key: &str) -> Self {
        TokenDigest(Sha256::digest(key.as_bytes()).into())
    }

    /// The digest of a key a client presented, or `None` when the key cannot
    /// be one we issued or imported (see [`Self::check_presented`]).
    pub fn of_presented(key: &str, legacy: bool) -> Option<Self> {
        Self::check_presented(key, legacy).ok()
    }

    /// The digest of a key a client presented, or why the key cannot be one
    /// we issued or imported, which spares the database and the cache a
    /// lookup: a key of our shape with a wrong checksum, or no shape we know.
    /// Keys of the earlier format (`mt_` and 43 base64url characters) are
    /// taken as they are. With `legacy`, the shapes of keys imported from
    /// Django are accepted: DRF's and multitoken's 40 hexadecimal
    /// characters, digested like ours, and knox's 64, through the digest knox
    /// stored (see [`Self::of_knox_digest`]).
    pub fn check_presented(key: &str, legacy: bool) -> Result<Self, Unusable> {
        let rest = key.strip_prefix(KEY_PREFIX).map(str::as_bytes);
        let lower_hex = || key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match (key.len(), rest) {
            (KEY_LENGTH, Some(rest)) if is_base62(rest) => {
                let (body, sum) = rest.split_at(BODY_LENGTH);
                if checksum(body) == sum {
                    Ok(TokenDigest::of(key))
                } else {
                    Err(Unusable::Checksum)
                }
            }
            (EARLIER_KEY_LENGTH, Some(rest))
                if rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Ok(TokenDigest::of(key))
            }
            (DRF_KEY_LENGTH, _) if legacy && lower_hex() => Ok(TokenDigest::of(key)),
            (KNOX_KEY_LENGTH, _) if legacy && lower_hex() => {
                let knox: String = Sha512::digest(key.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                Ok(TokenDigest::of_knox_digest(&knox))
            }
            _ => Err(Unusable::Shape),
        }
    }

    /// What we store for a knox token: the SHA-256 of the SHA-512 hex digest
    /// knox stored (knox keeps no key to digest). One digest column and one
    /// lookup then serve every shape, and neither knox's digest nor any part
    /// of the key is kept in clear. A knox digest presented as a key is not
    /// a shape we accept, so a leaked copy of knox's table opens nothing.
    pub fn of_knox_digest(stored_hex: &str) -> Self {
        TokenDigest::of(&stored_hex.to_ascii_lowercase())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_base62_and_carry_their_checksum() {
        let key = PlainToken::generate();
        let text = key.expose();
        assert!(text.starts_with("mt_"));
        assert_eq!(text.len(), KEY_LENGTH);
        assert_eq!(KEY_LENGTH, 52);
        assert!(is_base62(&text.as_bytes()[3..]), "{text}");
        assert_eq!(
            checksum(&text.as_bytes()[3..46]),
            text.as_bytes()[46..],
            "{text}"
        );
        assert_eq!(TokenDigest::check_presented(text, false), Ok(key.digest()));
    }

    #[test]
    fn the_checksum_is_zlibs_crc32_in_base62() {
        // Computed apart, in Python: zlib.crc32(body) is 2860937052, which is
        // 37cCQ0 in base62; and 4082372434 for 43 `a`, 4SHDYg.
        let body = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";
        assert_eq!(crc32fast::hash(body.as_bytes()), 2_860_937_052);
        assert_eq!(&checksum(body.as_bytes()), b"37cCQ0");
        assert_eq!(&checksum("a".repeat(43).as_bytes()), b"4SHDYg");
        let key = format!("mt_{body}37cCQ0");
        assert_eq!(
            TokenDigest::check_presented(&key, false),
            Ok(TokenDigest::of(&key))
        );
        // Left-padded: a CRC of 0 and of 61 are six digits too.
        assert_eq!(&checksum(b""), b"000000");
    }

    #[test]
    fn a_one_character_change_breaks_the_checksum() {
        let key = PlainToken::generate().expose().to_owned();
        for at in [3, 20, 45, 46, 51] {
            let mut bytes = key.clone().into_bytes();
            bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
            let changed = String::from_utf8(bytes).unwrap_or_default();
            for legacy in [false, true] {
                assert_eq!(
                    TokenDigest::check_presented(&changed, legacy),
                    Err(Unusable::Checksum),
                    "{at}"
                );
            }
        }
    }

    #[test]
    fn keys_of_the_earlier_format_still_pass() {
        // `mt_` and 32 bytes in unpadded URL-safe base64, as issued before.
        let earlier = "mt_q-8vO1m_Jb3xJ0gP2nQ7cA5sYkL9wRzE4tUvHiD6fXo";
        assert_eq!(earlier.len(), EARLIER_KEY_LENGTH);
        for legacy in [false, true] {
            assert_eq!(
                TokenDigest::check_presented(earlier, legacy),
                Ok(TokenDigest::of(earlier))
            );
        }
        let odd = earlier.replacen('q', "=", 1);
        assert_eq!(
            TokenDigest::check_presented(&odd, false),
            Err(Unusable::Shape)
        );
    }

    #[test]
    fn base62_digits_are_drawn_uniformly_enough() {
        // 62,000 digits: each is expected 1,000 times; a digit modulo-biased
        // (256 % 62 = 8 digits with 5/256 instead of 4/256) would be near 1,250.
        let digits = random_base62(62_000);
        let mut counts = [0u32; 62];
        for b in digits.bytes() {
            let at = BASE62.iter().position(|&d| d == b).unwrap_or(usize::MAX);
            counts[at] += 1;
        }
        for (digit, count) in BASE62.iter().zip(counts) {
            assert!(
                (850..1150).contains(&count),
                "{} {count}",
                char::from(*digit)
            );
        }
    }

    #[test]
    fn keys_do_not_repeat() {
        let keys: std::collections::HashSet<String> = (0..1000)
            .map(|_| PlainToken::generate().expose().to_owned())
            .collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn the_digest_is_sha256_of_the_whole_key() {
        let digest = TokenDigest::of("abc");
        let hex: String = digest.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn presented_keys_of_the_wrong_shape_are_not_looked_up() {
        let key = PlainToken::generate();
        assert_eq!(
            TokenDigest::of_presented(key.expose(), false),
            Some(key.digest())
        );
        let short = &key.expose()[..KEY_LENGTH - 1];
        let long = format!("{}0", key.expose());
        let no_prefix = key.expose().replacen("mt_", "xx_", 1);
        let odd_char = format!("{}-", &key.expose()[..KEY_LENGTH - 1]);
        for bad in [
            "",
            "mt_",
            short,
            &long,
            &no_prefix,
            &odd_char,
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4",
            "9944B09199C62BCF9418AD846DD0E4BBDFC6EE4B",
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4g",
        ] {
            for legacy in [false, true] {
                assert_eq!(TokenDigest::of_presented(bad, legacy), None, "{bad}");
                assert_eq!(
                    TokenDigest::check_presented(bad, legacy),
                    Err(Unusable::Shape),
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn drf_keys_are_digested_like_ours_and_only_when_legacy_keys_are_on() {
        let drf = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
        assert_eq!(
            TokenDigest::of_presented(drf, true),
            Some(TokenDigest::of(drf))
        );
        assert_eq!(TokenDigest::of_presented(drf, false), None);
    }

    #[test]
    fn knox_keys_are_found_through_the_sha512_digest_knox_stored() {
        // knox 5.1's `hash_token(key)` of this key, as its table holds it.
        let key = "1c2a5e4b0f8d7c6a3e9b1d2f4a6c8e0b1c2a5e4b0f8d7c6a3e9b1d2f4a6c8e0b";
        let stored = "a55ac94b339f65e6fc78cf1cb64c3b058af487a0e6f41e9cd886875af27aef61d11558643e8e55eb19ca2b0e4b08db01aa9492bca16beeb24c65a1755870f5a0";
        assert_eq!(
            TokenDigest::of_presented(key, true),
            Some(TokenDigest::of_knox_digest(stored))
        );
        assert_eq!(
            TokenDigest::of_knox_digest(&stored.to_ascii_uppercase()),
            TokenDigest::of_knox_digest(stored)
        );
        assert_ne!(TokenDigest::of_knox_digest(stored), TokenDigest::of(key));
        assert_eq!(TokenDigest::of_presented(key, false), None);
        // Knox's digest itself is not a key.
        assert_eq!(TokenDigest::of_presented(stored, true), None);
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let key = PlainToken::generate();
        let secret = &key.expose()[3..];
        for shown in [
            format!("{key:?}"),
            format!("{key}"),
            format!("{:?}", key.digest()),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
