//! ECDSA signatures of compact JWS (ES256, ES384) with a low `s` only.
//!
//! An ECDSA signature (r, s) verifies exactly when (r, n - s) does, so
//! every signed token has a twin with the same claims and another string.
//! Whatever tells tokens apart by their text (a cache, a replay memory, a
//! consumer's de-duplication) would see two; so, as Bitcoin and Ethereum
//! do, only the signature whose `s` is at most n / 2 is taken, and ours
//! are made so. Neither ring nor the p256 crate refuses a high `s` when
//! verifying; the curve crates' `normalize_s` tells and mends one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Whether a compact JWS signed with ES256 or ES384 carries the low-S
/// signature. Any other algorithm, or a token too malformed to tell, is
/// left to the signature check (`true`): this check only refuses twins.
pub fn has_low_s_signature(compact: &str) -> bool {
    let Some(alg) = signing_alg(compact) else {
        return true;
    };
    if alg != "ES256" && alg != "ES384" {
        return true;
    }
    let Some(signature) = compact
        .rsplit_once('.')
        .and_then(|(_, signature)| URL_SAFE_NO_PAD.decode(signature).ok())
    else {
        return true;
    };
    // A signature that is no (r, s) of the curve (wrong size, zero, not
    // below n) is no low-S one either.
    match alg.as_str() {
        "ES256" => p256::ecdsa::Signature::from_slice(&signature)
            .is_ok_and(|parsed| parsed.normalize_s() == parsed),
        _ => p384::ecdsa::Signature::from_slice(&signature)
            .is_ok_and(|parsed| parsed.normalize_s() == parsed),
    }
}

/// The ES256 compact JWS with its signature's `s` made low (n - s when it
/// is high); the same token when it is low already or not ES256.
pub fn with_low_s(compact: &str) -> String {
    let Some((signed, encoded)) = compact.rsplit_once('.') else {
        return compact.to_owned();
    };
    if signing_alg(compact).as_deref() != Some("ES256") {
        return compact.to_owned();
    }
    let Some(parsed) = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|signature| p256::ecdsa::Signature::from_slice(&signature).ok())
    else {
        return compact.to_owned();
    };
    let low = parsed.normalize_s().to_bytes();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(low))
}

/// The `alg` of a compact JWS's header, when it has one.
fn signing_alg(compact: &str) -> Option<String> {
    let header = compact.split('.').next()?;
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order n of the P-256 group, big-endian.
    const P256_ORDER: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63,
        0x25, 0x51,
    ];

    /// n / 2 rounded down (the largest low `s`), or one more than that.
    fn half_order_plus(extra: u8) -> [u8; 32] {
        let mut half = [0u8; 32];
        let mut carry = 0u8;
        for (digit, order) in half.iter_mut().zip(P256_ORDER) {
            *digit = (carry << 7) | (order >> 1);
            carry = order & 1;
        }
        half[31] += extra;
        half
    }

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
        let at_half = jws("ES256", &signature_with_s(half_order_plus(0)));
        let above_half = jws("ES256", &signature_with_s(half_order_plus(1)));
        assert!(has_low_s_signature(&at_half));
        assert!(!has_low_s_signature(&above_half));
        // Not below n: no signature of the curve at all.
        assert!(!has_low_s_signature(&jws(
            "ES256",
            &signature_with_s([0xFF; 32])
        )));
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
