//! Random values from the operating system's CSPRNG: the one place that
//! draws them, so that every secret, id and code is made the same way.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

/// `N` random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// `N` random bytes as unpadded base64url: secrets and ids that travel in
/// URLs, cookies and headers as they are.
pub fn random_base64url<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// `count` characters drawn uniformly from `alphabet` (at most 256 of
/// them): bytes at or above the largest multiple of its length are dropped,
/// so that `%` favours no character.
pub fn random_from(alphabet: &[u8], count: usize) -> String {
    let size = alphabet.len();
    assert!(
        (1..=256).contains(&size),
        "an alphabet of 1 to 256 characters"
    );
    let unbiased_below = 256 - 256 % size;
    let mut out = String::with_capacity(count);
    while out.len() < count {
        let bytes = random_bytes::<64>();
        for &byte in bytes
            .iter()
            .filter(|&&byte| usize::from(byte) < unbiased_below)
        {
            if out.len() == count {
                break;
            }
            out.push(char::from(alphabet[usize::from(byte) % size]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_only_from_the_alphabet_and_as_many_as_asked() {
        let drawn = random_from(b"BCD", 1000);
        assert_eq!(drawn.len(), 1000);
        assert!(drawn.bytes().all(|c| b"BCD".contains(&c)), "{drawn}");
        for c in ['B', 'C', 'D'] {
            assert!(drawn.contains(c), "{c} is drawn too");
        }
    }

    #[test]
    fn base64url_is_unpadded_and_of_the_bytes_length() {
        let text = random_base64url::<32>();
        assert_eq!(text.len(), 43);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(text, random_base64url::<32>());
    }
}
