//! ECDSA signatures of compact JWS (ES256, ES384) with a low `s` only.
//!
//! An ECDSA signature (r, s) verifies exactly when (r, n - s) does, so
//! every signed token has a twin with the same claims and another string.
//! Whatever tells tokens apart by their text (a cache, a replay memory, a
//! consumer's de-duplication) would see two; so, as Bitcoin and Ethereum
//! do, only the signature whose `s` is at most n / 2 is taken, and ours
//! are made so. Neither ring nor the p256 crate does this by itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] =
    hex32(*b"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
/// n / 2, rounded down: the largest low `s`.
const P256_HALF_ORDER: [u8; 32] =
    hex32(*b"7FFFFFFF800000007FFFFFFFFFFFFFFFDE737D56D38BCF4279DCE5617E3192A8");
/// The same for P-384 (ES384).
const P384_HALF_ORDER: [u8; 48] = hex48(
    *b"7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE3B1A6C0FA1B96EFAC0D06D9245853BD76760CB5666294B9",
);

/// Whether a compact JWS signed with ES256 or ES384 carries the low-S
/// signature. Any other algorithm, or a token too malformed to tell, is
/// left to the signature check (`true`): this check only refuses twins.
pub fn has_low_s_signature(compact: &str) -> bool {
    let half_order: &[u8] = match signing_alg(compact).as_deref() {
        Some("ES256") => &P256_HALF_ORDER,
        Some("ES384") => &P384_HALF_ORDER,
        _ => return true,
    };
    let Some(signature) = compact
        .rsplit_once('.')
        .and_then(|(_, signature)| URL_SAFE_NO_PAD.decode(signature).ok())
    else {
        return true;
    };
    is_low_s(&signature, half_order)
}

/// Whether the fixed-size (r ‖ s) signature's `s` is at most `half_order`;
/// a signature of another size is not a low-S one.
fn is_low_s(signature: &[u8], half_order: &[u8]) -> bool {
    let size = half_order.len();
    // Big-endian numbers of one size compare as their bytes do.
    signature.len() == 2 * size && signature[size..] <= *half_order
}

/// The ES256 compact JWS with its signature's `s` made low (n - s when it
/// is high); the same token when it is low already or not ES256.
pub fn with_low_s(compact: &str) -> String {
    let Some((signed, encoded)) = compact.rsplit_once('.') else {
        return compact.to_owned();
    };
    let Ok(mut signature) = URL_SAFE_NO_PAD.decode(encoded) else {
        return compact.to_owned();
    };
    if signing_alg(compact).as_deref() != Some("ES256")
        || signature.len() != 64
        || is_low_s(&signature, &P256_HALF_ORDER)
    {
        return compact.to_owned();
    }
    negate_s(&mut signature[32..]);
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// `s` := n - s, for 0 < s < n (big-endian, P-256).
fn negate_s(s: &mut [u8]) {
    let mut borrow = 0u8;
    for (digit, &order) in s.iter_mut().zip(P256_ORDER.iter()).rev() {
        let (difference, under) = order.overflowing_sub(*digit);
        let (difference, under_again) = difference.overflowing_sub(borrow);
        *digit = difference;
        borrow = u8::from(under || under_again);
    }
}

/// The `alg` of a compact JWS's header, when it has one.
fn signing_alg(compact: &str) -> Option<String> {
    let header = compact.split('.').next()?;
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not an upper-case hex digit"),
    }
}

const fn hex32(text: [u8; 64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = hex_digit(text[2 * i]) << 4 | hex_digit(text[2 * i + 1]);
        i += 1;
    }
    out
}

const fn hex48(text: [u8; 96]) -> [u8; 48] {
    let mut out = [0u8; 48];
    let mut i = 0;
    while i < 48 {
        out[i] = hex_digit(text[2 * i]) << 4 | hex_digit(text[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(alg: &str, signature: &[u8]) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
        format!("{header}.e30.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn signature_with_s(s: [u8; 32]) -> Vec<u8> {
        let mut signature = vec![7u8; 32];
        signature.extend_from_slice(&s);
        signature
    }

    #[test]
    fn half_the_order_is_the_largest_low_s() {
        let mut above = P256_HALF_ORDER;
        above[31] += 1;
        assert!(has_low_s_signature(&jws(
            "ES256",
            &signature_with_s(P256_HALF_ORDER)
        )));
        assert!(!has_low_s_signature(&jws(
            "ES256",
            &signature_with_s(above)
        )));
        assert!(!has_low_s_signature(&jws(
            "ES256",
            &signature_with_s([0xFF; 32])
        )));
        // n = 2 * (n / 2) + 1: the orders and their halves agree.
        let mut doubled = [0u8; 32];
        let mut carry = 1u16;
        for i in (0..32).rev() {
            let sum = u16::from(P256_HALF_ORDER[i]) * 2 + carry;
            doubled[i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(doubled, P256_ORDER);
    }

    #[test]
    fn other_algorithms_and_malformed_tokens_are_left_to_the_signature_check() {
        let high = signature_with_s([0xFF; 32]);
        assert!(has_low_s_signature(&jws("RS256", &high)));
        assert!(has_low_s_signature("not a token"));
        assert!(!has_low_s_signature(&jws("ES384", &[0xFF; 96])));
        assert!(has_low_s_signature(&jws("ES384", &[0x01; 96])));
        // The wrong size for its algorithm is no low-S signature.
        assert!(!has_low_s_signature(&jws("ES256", &[0x01; 63])));
    }

    #[test]
    fn a_high_s_is_replaced_by_n_minus_s_and_a_low_one_kept() {
        let mut high_s = P256_ORDER;
        high_s[31] -= 5;
        let high = jws("ES256", &signature_with_s(high_s));
        let low = with_low_s(&high);
        assert!(has_low_s_signature(&low));
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(low, jws("ES256", &signature_with_s(five)));
        assert_eq!(with_low_s(&low), low);
        let rs256 = jws("RS256", &signature_with_s(high_s));
        assert_eq!(with_low_s(&rs256), rs256);
    }
}
