//! Token keys and their digests.
//!
//! A `PlainToken` is created at login, written into that one response and
//! dropped; the database only ever sees its `TokenDigest`. Keys carry a fixed
//! `mt_` prefix so that secret scanners can recognise a leaked one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use std::fmt;

pub const KEY_PREFIX: &str = "mt_";
const KEY_BYTES: usize = 32;
/// `mt_` followed by 32 random bytes in unpadded URL-safe base64.
pub const KEY_LENGTH: usize = KEY_PREFIX.len() + (KEY_BYTES * 4).div_ceil(3);
/// DRF's and djangorestframework-multitoken's keys: 20 random bytes in hex.
pub const DRF_KEY_LENGTH: usize = 40;
/// django-rest-knox's keys (without a `TOKEN_PREFIX`): 32 random bytes in hex.
pub const KNOX_KEY_LENGTH: usize = 64;

/// A key in clear. `Debug` and `Display` never print it.
pub struct PlainToken(String);

impl PlainToken {
    /// 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        OsRng.fill_bytes(&mut bytes);
        PlainToken(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
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
    /// be one we issued or imported, which spares the database a lookup.
    /// With `legacy`, the shapes of keys imported from Django are accepted:
    /// DRF's and multitoken's 40 hexadecimal characters, digested like ours,
    /// and knox's 64, through the digest knox stored (see [`Self::of_knox_digest`]).
    pub fn of_presented(key: &str, legacy: bool) -> Option<Self> {
        let ours = key.len() == KEY_LENGTH
            && key.starts_with(KEY_PREFIX)
            && key[KEY_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let lower_hex = || key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match key.len() {
            _ if ours => Some(TokenDigest::of(key)),
            DRF_KEY_LENGTH if legacy && lower_hex() => Some(TokenDigest::of(key)),
            KNOX_KEY_LENGTH if legacy && lower_hex() => {
                let knox: String = Sha512::digest(key.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                Some(TokenDigest::of_knox_digest(&knox))
            }
            _ => None,
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
    fn keys_are_prefixed_printable_and_long_enough() {
        let key = PlainToken::generate();
        let text = key.expose();
        assert!(text.starts_with("mt_"));
        assert_eq!(text.len(), KEY_LENGTH);
        assert_eq!(KEY_LENGTH, 46);
        assert!(text.bytes().all(|b| b.is_ascii_graphic()));
        let decoded = URL_SAFE_NO_PAD.decode(&text[3..]).map(|bytes| bytes.len());
        assert_eq!(decoded, Ok(32));
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
        let no_prefix = key.expose().replacen("mt_", "xx_", 1);
        let odd_char = format!("{}=", &key.expose()[..KEY_LENGTH - 1]);
        for bad in [
            "",
            "mt_",
            short,
            &no_prefix,
            &odd_char,
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4",
            "9944B09199C62BCF9418AD846DD0E4BBDFC6EE4B",
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4g",
        ] {
            for legacy in [false, true] {
                assert_eq!(TokenDigest::of_presented(bad, legacy), None, "{bad}");
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
