//! `SECRET_KEY`: the one server secret, and the keys derived from it.
//!
//! Nothing signs with the secret itself: each use asks for a key of its own
//! with [`SecretKey::derive_key`] (HMAC-SHA256 of the purpose under the
//! secret), so that a value signed for one purpose is never valid for
//! another, and new uses (console sessions, ...) need no new setting.

use super::random::random_base64url;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Shorter secrets are refused: 32 characters of a generated key carry far
/// more than the 128 bits an HMAC key needs.
pub const MIN_SECRET_CHARS: usize = 32;

/// The server secret. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// A secret as an operator configures it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() < MIN_SECRET_CHARS {
            return Err(format!(
                "must be at least {MIN_SECRET_CHARS} characters long (it is {}); generate one with `openssl rand -base64 48`",
                text.chars().count()
            ));
        }
        Ok(SecretKey(text.to_owned()))
    }

    /// A secret as configured, checked later with [`SecretKey::check`]: a
    /// setting's parser must not refuse it, or the command-line parser would
    /// echo the rejected secret in its error message.
    pub fn unchecked(text: &str) -> Self {
        SecretKey(text.to_owned())
    }

    /// Whether a configured secret is long enough (see [`SecretKey::parse`]).
    pub fn check(&self) -> Result<(), String> {
        Self::parse(&self.0).map(|_| ())
    }

    /// 256 bits from the operating system's CSPRNG, as printable text.
    pub fn generate() -> Self {
        SecretKey(random_base64url::<32>())
    }

    /// The secret in clear, for storing it; never for a log or a response.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A 256-bit key for one `purpose` (such as `"password-reset"`), derived
    /// from the secret with HMAC-SHA256.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = hmac_sha256(self.0.as_bytes());
        mac.update(b"multitoken key for ");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// HMAC-SHA256 under `key`; any key length is valid for HMAC.
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert!(SecretKey::parse("too short").is_err());
        assert!(SecretKey::parse(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn generated_secrets_are_long_random_and_valid() {
        let first = SecretKey::generate();
        assert_ne!(first, SecretKey::generate());
        assert_eq!(SecretKey::parse(first.expose()).as_ref(), Ok(&first));
    }

    #[test]
    fn derived_keys_depend_on_the_secret_and_the_purpose() {
        let secret = SecretKey::parse(&"a".repeat(40)).unwrap_or_else(|_| SecretKey::generate());
        let other = SecretKey::parse(&"b".repeat(40)).unwrap_or_else(|_| SecretKey::generate());
        let reset = secret.derive_key("password-reset");
        assert_eq!(reset, secret.derive_key("password-reset"));
        assert_ne!(reset, secret.derive_key("console-session"));
        assert_ne!(reset, other.derive_key("password-reset"));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let secret = SecretKey::generate();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
