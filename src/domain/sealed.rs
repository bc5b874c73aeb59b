//! Secrets the server must read back (TOTP secrets, JWT signing keys,
//! queued mails with their reset links) are kept sealed at rest: AES-256-GCM
//! under a key derived from `SECRET_KEY` with HKDF-SHA256 for one purpose,
//! with a fresh random nonce in front of each sealed value, and bound to
//! what the value belongs to (a user id, a key id, a mail's kind) as
//! associated data. A copy of the database alone opens nothing; a value
//! sealed for another purpose, another owner or under another `SECRET_KEY`
//! fails to open instead of reading as garbage.

use super::SecretKey;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

const NONCE_BYTES: usize = 12;

/// Seals and opens values for one purpose. `Debug` is not implemented, so
/// the key cannot reach a log line.
#[derive(Clone)]
pub struct Sealer(Aes256Gcm);

impl Sealer {
    pub fn new(secret: &SecretKey, purpose: &str) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"multitoken"), secret.expose().as_bytes())
            .expand(purpose.as_bytes(), &mut key)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
        Sealer(Aes256Gcm::new(&key.into()))
    }

    /// Nonce, then ciphertext and tag, bound to `owner`. `None` only for a
    /// value too long for AES-GCM (gigabytes), which no caller seals.
    pub fn seal(&self, owner: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: owner,
        };
        let mut sealed = nonce.to_vec();
        sealed.extend(self.0.encrypt(&nonce, payload).ok()?);
        Some(sealed)
    }

    /// The plaintext, or `None` when `sealed` was not sealed by this sealer
    /// for `owner`, or was altered.
    pub fn open(&self, owner: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
        let payload = Payload {
            msg: ciphertext,
            aad: owner,
        };
        self.0.decrypt(Nonce::from_slice(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretKey {
        SecretKey::parse(&text.repeat(32)).expect("a long enough secret")
    }

    #[test]
    fn a_sealed_value_opens_only_with_the_same_secret_purpose_and_owner() {
        let sealer = Sealer::new(&secret("a"), "totp");
        let sealed = sealer.seal(b"1", b"JBSWY3DPEHPK3PXP").expect("sealed");
        assert!(!sealed.windows(8).any(|part| part == b"JBSWY3DP"));
        assert_eq!(
            sealer.open(b"1", &sealed).as_deref(),
            Some(&b"JBSWY3DPEHPK3PXP"[..])
        );
        assert_eq!(sealer.open(b"2", &sealed), None);
        assert_eq!(Sealer::new(&secret("b"), "totp").open(b"1", &sealed), None);
        assert_eq!(Sealer::new(&secret("a"), "other").open(b"1", &sealed), None);
    }

    #[test]
    fn each_seal_differs_and_an_altered_value_does_not_open() {
        let sealer = Sealer::new(&secret("a"), "totp");
        let first = sealer.seal(b"", b"same").expect("sealed");
        let second = sealer.seal(b"", b"same").expect("sealed");
        assert_ne!(first, second);
        let mut altered = first.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(sealer.open(b"", &altered), None);
        assert_eq!(sealer.open(b"", &first[..5]), None);
    }
}
