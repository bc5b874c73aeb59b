//! Secrets the server must read back, such as TOTP secrets, kept sealed at
//! rest: AES-256-GCM under a key derived from `SECRET_KEY` for one purpose,
//! with a fresh random nonce in front of each sealed value. A copy of the
//! database alone opens nothing, and a value sealed for one purpose (or
//! under another `SECRET_KEY`) fails to open instead of reading as garbage.

use super::SecretKey;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};

const NONCE_BYTES: usize = 12;

/// Seals and opens values for one purpose. `Debug` is not implemented, so
/// the key cannot reach a log line.
#[derive(Clone)]
pub struct Sealer(Aes256Gcm);

impl Sealer {
    pub fn new(secret: &SecretKey, purpose: &str) -> Self {
        let key = secret.derive_key(&format!("sealing {purpose}"));
        Sealer(Aes256Gcm::new(&key.into()))
    }

    /// Nonce, then ciphertext and tag. `None` only for a value too long for
    /// AES-GCM (gigabytes), which no caller seals.
    pub fn seal(&self, plaintext: &[u8]) -> Option<Vec<u8>> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut sealed = nonce.to_vec();
        sealed.extend(self.0.encrypt(&nonce, plaintext).ok()?);
        Some(sealed)
    }

    /// The plaintext, or `None` when `sealed` was not sealed by this sealer
    /// or was altered.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.0.decrypt(Nonce::from_slice(nonce), ciphertext).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretKey {
        SecretKey::parse(&text.repeat(32)).expect("a long enough secret")
    }

    #[test]
    fn a_sealed_value_opens_only_with_the_same_secret_and_purpose() {
        let sealer = Sealer::new(&secret("a"), "totp");
        let sealed = sealer.seal(b"JBSWY3DPEHPK3PXP").expect("sealed");
        assert!(!sealed.windows(8).any(|part| part == b"JBSWY3DP"));
        assert_eq!(
            sealer.open(&sealed).as_deref(),
            Some(&b"JBSWY3DPEHPK3PXP"[..])
        );
        assert_eq!(Sealer::new(&secret("b"), "totp").open(&sealed), None);
        assert_eq!(Sealer::new(&secret("a"), "other").open(&sealed), None);
    }

    #[test]
    fn each_seal_differs_and_an_altered_value_does_not_open() {
        let sealer = Sealer::new(&secret("a"), "totp");
        let first = sealer.seal(b"same").expect("sealed");
        let second = sealer.seal(b"same").expect("sealed");
        assert_ne!(first, second);
        let mut altered = first.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(sealer.open(&altered), None);
        assert_eq!(sealer.open(&first[..5]), None);
    }
}
