//! Token keys and their digests.
//!
//! A `PlainToken` is created at login, written into that one response and
//! dropped; the database only ever sees its `TokenDigest`. Keys carry a fixed
//! `mt_` prefix so that secret scanners can recognise a leaked one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

pub const KEY_PREFIX: &str = "mt_";
const KEY_BYTES: usize = 32;
/// `mt_` followed by 32 random bytes in unpadded URL-safe base64.
pub const KEY_LENGTH: usize = KEY_PREFIX.len() + (KEY_BYTES * 4).div_ceil(3);

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
    /// be one we issued, which spares the database a lookup.
    pub fn of_presented(key: &str) -> Option<Self> {
        let plausible = key.len() == KEY_LENGTH
            && key.starts_with(KEY_PREFIX)
            && key[KEY_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| TokenDigest::of(key))
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
        assert_eq!(TokenDigest::of_presented(key.expose()), Some(key.digest()));
        let short = &key.expose()[..KEY_LENGTH - 1];
        let no_prefix = key.expose().replacen("mt_", "xx_", 1);
        let odd_char = format!("{}=", &key.expose()[..KEY_LENGTH - 1]);
        for bad in [
            "",
            "mt_",
            short,
            &no_prefix,
            &odd_char,
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
        ] {
            assert_eq!(TokenDigest::of_presented(bad), None, "{bad}");
        }
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
