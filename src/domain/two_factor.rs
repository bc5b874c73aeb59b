//! Two-factor authentication's rules (TOTP, RFC 6238): the secret an
//! authenticator app is given, which codes match it and in which time step,
//! and the recovery codes that stand in for the app once each.
//!
//! The parameters are the ones every authenticator app supports: HMAC-SHA1,
//! 6 digits, 30-second steps, one step of clock skew either way.

use super::random::{random_bytes, random_from};
use super::secret::hmac_sha256;
use hmac::Mac;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

const DIGITS: usize = 6;
const STEP_SECONDS: u64 = 30;
/// Steps accepted before and after the current one.
const SKEW_STEPS: u64 = 1;
/// 160 bits, RFC 4226's recommendation.
const SECRET_BYTES: usize = 20;
/// The name authenticator apps show above the code.
pub const ISSUER: &str = "multitoken";

pub const RECOVERY_CODES: usize = 10;
/// No 0/o, 1/l/i: a code is copied from paper.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Two groups of five: 50 bits, beyond guessing under the login throttle.
const RECOVERY_GROUP: usize = 5;

/// A TOTP secret. `Debug` never prints it.
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// 160 bits from the operating system's CSPRNG.
    pub fn generate() -> Self {
        TotpSecret(random_bytes::<SECRET_BYTES>().to_vec())
    }

    /// A secret as stored (after unsealing it).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(bytes)
    }

    /// A secret as an app is given it (base32, as in the `otpauth://` URI).
    pub fn from_base32(text: &str) -> Option<Self> {
        Secret::Encoded(text.to_owned())
            .to_bytes()
            .ok()
            .map(TotpSecret)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as an authenticator app is given it to type in: base32.
    pub fn base32(&self) -> String {
        Secret::Raw(self.0.clone()).to_encoded().to_string()
    }

    fn totp(&self, account: &str) -> Result<TOTP, String> {
        TOTP::new(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECONDS,
            self.0.clone(),
            Some(ISSUER.to_owned()),
            account.to_owned(),
        )
        .map_err(|e| format!("unusable TOTP parameters: {e}"))
    }

    /// The `otpauth://` URI an app reads from the QR code.
    pub fn otpauth_uri(&self, account: &str) -> Result<String, String> {
        Ok(self.totp(account)?.get_url())
    }

    /// The code for the step that `unix_seconds` falls in (for tests and
    /// for walking through the flow by hand).
    pub fn code_at(&self, unix_seconds: u64) -> Result<String, String> {
        Ok(self.totp("user")?.generate(unix_seconds))
    }

    /// The time step `code` is valid in, within the skew around
    /// `unix_seconds`; `None` when it matches none (or is not six digits).
    /// Every candidate is compared, in constant time, so the timing does not
    /// tell which step came close.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        if !is_totp_code(code) {
            return None;
        }
        let totp = self.totp("user").ok()?;
        let current = unix_seconds / STEP_SECONDS;
        let mut matched = None;
        for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
            let expected = totp.generate(step * STEP_SECONDS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(step);
            }
        }
        matched
    }
}

/// Six ASCII digits: what an app shows. Anything else typed as `otp` is
/// taken for a recovery code.
pub fn is_totp_code(text: &str) -> bool {
    text.len() == DIGITS && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// The QR code of `uri`, as an SVG document.
pub fn qr_svg(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

/// Fresh recovery codes, as shown to the user once: `abcde-fghjk`.
pub fn generate_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let letters = random_from(RECOVERY_ALPHABET, 2 * RECOVERY_GROUP);
            let (first, second) = letters.split_at(RECOVERY_GROUP);
            format!("{first}-{second}")
        })
        .collect()
}

/// What is stored of a recovery code: an HMAC under a key of its own
/// (derived from `SECRET_KEY`), of the code as typed without case, spaces or
/// dashes. A copy of the database alone cannot test guesses against it.
pub fn recovery_code_digest(key: &[u8; 32], typed: &str) -> Vec<u8> {
    let normalised: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    let mut mac = hmac_sha256(key);
    mac.update(normalised.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_own_step_and_one_either_side_only() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = now / STEP_SECONDS;
        let code = secret.code_at(now).expect("code");
        assert_eq!(code.len(), 6);
        assert_eq!(secret.matching_step(&code, now), Some(step));
        assert_eq!(secret.matching_step(&code, now + 30), Some(step));
        assert_eq!(secret.matching_step(&code, now - 30), Some(step));
        assert_eq!(secret.matching_step(&code, now + 90), None);
        assert_eq!(TotpSecret::generate().matching_step(&code, now), None);
    }

    #[test]
    fn the_rfc_6238_test_vector_holds() {
        // RFC 6238, appendix B: SHA-1, T = 59 s gives 94287082 (8 digits);
        // its last six are the 6-digit code.
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.code_at(59).expect("code"), "287082");
        assert_eq!(secret.matching_step("287082", 59), Some(1));
    }

    #[test]
    fn only_six_digits_are_a_code() {
        for text in ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""] {
            assert!(!is_totp_code(text), "{text}");
        }
        assert!(is_totp_code("012345"));
    }

    #[test]
    fn the_uri_names_the_issuer_and_account_and_carries_the_secret() {
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("alice").expect("uri");
        assert!(uri.starts_with("otpauth://totp/multitoken:alice?"), "{uri}");
        assert!(
            uri.contains(&format!("secret={}", secret.base32())),
            "{uri}"
        );
        assert!(format!("{secret:?}").contains(".."));
        let typed = TotpSecret::from_base32(&secret.base32()).expect("base32");
        assert_eq!(typed.as_bytes(), secret.as_bytes());
        let svg = qr_svg(&uri).expect("svg");
        assert!(svg.contains("<svg"), "{svg}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_their_digest_ignores_case_and_dashes() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        assert!(codes
            .iter()
            .all(|code| code.len() == 11 && &code[5..6] == "-"));
        let key = [7u8; 32];
        let code = &codes[0];
        let digest = recovery_code_digest(&key, code);
        assert_eq!(
            digest,
            recovery_code_digest(&key, &code.replace('-', " ").to_uppercase())
        );
        assert_ne!(digest, recovery_code_digest(&key, &codes[1]));
        assert_ne!(digest, recovery_code_digest(&[8u8; 32], code));
    }
}
