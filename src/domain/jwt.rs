//! JWT access tokens, as pure rules: their claims, the P-256 signing keys
//! (generated, or read from a PKCS#8 PEM file), the JWKS entry of a key,
//! the key's encryption at rest, and the `sid` that ties a token to its
//! device without revealing the device's key or digest.
//!
//! Signing and checking go through `jsonwebtoken` (on ring); the checks
//! accept ES256 only, so `alg: none` and an HS256 token keyed with our
//! public key are refused by construction, and low-S signatures only
//! ([`super::jws`]), which are the ones signing makes.

use super::jws::{has_low_s_signature, with_low_s};
use super::random::random_bytes;
use super::sealed::Sealer;
use super::secret::hmac_sha256;
use super::{SecretKey, TokenDigest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The claims of an access token, in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub token_type: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub user_id: i64,
    pub sub: String,
    pub username: String,
    pub client: String,
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// For a device whose key is bound to a DPoP key (RFC 9449 section
    /// 6.1): that key's thumbprint; the token then needs proofs too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim of a token bound to a DPoP key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

pub const ACCESS_TOKEN_TYPE: &str = "access";

/// 128 random bits, hex.
pub fn new_jti() -> String {
    hex(&random_bytes::<16>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The key that makes `sid`s, derived from `SECRET_KEY`.
#[derive(Clone)]
pub struct SidKey([u8; 32]);

impl SidKey {
    pub fn derive(secret: &SecretKey) -> Self {
        SidKey(secret.derive_key("jwt-sid"))
    }

    /// The device's `sid`: a MAC of its digest. Stable while the device keeps
    /// its key, new when a re-login replaces it; without `SECRET_KEY`
    /// nothing about the digest can be learnt from it.
    pub fn sid_of(&self, digest: &TokenDigest) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(digest.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// Whether `sid` is the device's, compared in constant time.
    pub fn matches(&self, sid: &str, digest: &TokenDigest) -> bool {
        use subtle::ConstantTimeEq;
        self.sid_of(digest).as_bytes().ct_eq(sid.as_bytes()).into()
    }
}

impl fmt::Debug for SidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SidKey(<redacted>)")
    }
}

/// Whether a presented credential has the shape of a compact JWS (three
/// base64url parts), which no device key has.
pub fn looks_like_jwt(presented: &str) -> bool {
    let parts: Vec<&str> = presented.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|part| !part.is_empty())
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A P-256 key pair that signs access tokens. `Debug` hides the private key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    /// SEC1 uncompressed point: `04 || x || y`.
    public_key: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <private key redacted>)", self.kid)
    }
}

impl SigningKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, String> {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| "cannot generate a P-256 key".to_owned())?;
        Self::from_pkcs8(document.as_ref())
    }

    /// A key from a PKCS#8 PEM document (`JWT_PRIVATE_KEY_FILE`).
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let block = pem::parse(text).map_err(|e| format!("not a PEM document: {e}"))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(format!(
                "expected a PKCS#8 \"PRIVATE KEY\" block, found \"{}\" (convert it with `openssl pkcs8 -topk8 -nocrypt`)",
                block.tag()
            ));
        }
        Self::from_pkcs8(block.contents())
    }

    /// A key from its PKCS#8 DER document, which must hold a P-256 key
    /// with its public key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|e| format!("not a PKCS#8 P-256 private key with its public key: {e}"))?;
        let public_key = pair.public_key().as_ref().to_vec();
        Ok(SigningKey {
            kid: kid_of(&public_key)?,
            pkcs8: der.to_vec(),
            public_key,
        })
    }

    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Signs `claims` as a compact JWS with this key's `kid`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8))
            .map(|token| with_low_s(&token))
            .map_err(|e| format!("cannot sign an access token: {e}"))
    }

    /// The PKCS#8 document encrypted under `key`, bound to the kid.
    pub fn seal(&self, key: &StorageKey) -> Result<Vec<u8>, String> {
        key.0
            .seal(self.kid.as_bytes(), &self.pkcs8)
            .ok_or_else(|| "cannot encrypt the signing key".to_owned())
    }

    /// The key stored as `sealed` under `kid`.
    pub fn open(kid: &str, sealed: &[u8], key: &StorageKey) -> Result<Self, String> {
        let unusable = || {
            format!(
                "cannot decrypt the JWT signing key {kid}: SECRET_KEY is not the one it was stored under \
                 (run `multitoken jwt rotate-key` to make a new one)"
            )
        };
        let der = key.0.open(kid.as_bytes(), sealed).ok_or_else(unusable)?;
        let opened = Self::from_pkcs8(&der)?;
        if opened.kid != kid {
            return Err(unusable());
        }
        Ok(opened)
    }
}

/// The AES-256-GCM key that signing keys are stored under, derived from
/// `SECRET_KEY` with HKDF-SHA256.
pub struct StorageKey(Sealer);

impl StorageKey {
    pub fn derive(secret: &SecretKey) -> Self {
        StorageKey(Sealer::new(secret, "jwt signing keys"))
    }
}

/// The coordinates of a SEC1 uncompressed P-256 point, base64url.
fn coordinates(public_key: &[u8]) -> Result<(String, String), String> {
    match public_key {
        [4, rest @ ..] if rest.len() == 64 => Ok((
            URL_SAFE_NO_PAD.encode(&rest[..32]),
            URL_SAFE_NO_PAD.encode(&rest[32..]),
        )),
        _ => Err("not an uncompressed P-256 public key".into()),
    }
}

/// The key's RFC 7638 thumbprint: the same key has the same kid everywhere.
fn kid_of(public_key: &[u8]) -> Result<String, String> {
    let (x, y) = coordinates(public_key)?;
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// A public key as the JWKS lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    #[schema(example = "EC")]
    pub kty: &'static str,
    #[schema(example = "P-256")]
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
    #[schema(example = "ES256")]
    pub alg: &'static str,
}

/// A public key that checks access tokens.
#[derive(Clone)]
pub struct VerifyingKey {
    pub jwk: Jwk,
    key: DecodingKey,
}

impl VerifyingKey {
    pub fn new(kid: &str, public_key: &[u8]) -> Result<Self, String> {
        let (x, y) = coordinates(public_key)?;
        let key = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
        Ok(VerifyingKey {
            jwk: Jwk {
                kty: "EC",
                crv: "P-256",
                x,
                y,
                kid: kid.to_owned(),
                use_: "sig",
                alg: "ES256",
            },
            key,
        })
    }
}

/// What an access token must hold besides a good signature.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Why an access token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, not ours, a bad signature or the wrong claims.
    Invalid,
    /// Signed by a kid this set does not know (perhaps a newer key).
    UnknownKid,
    /// Good, but past its `exp`.
    Expired,
}

/// Checks `token` against the keys: ES256 only, with a low-S signature,
/// `exp` with no leeway, a known kid, `iss`/`aud` when expected, and
/// `token_type: "access"`.
pub fn verify(
    token: &str,
    keys: &[VerifyingKey],
    expected: &Expected,
) -> Result<AccessClaims, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid)?;
    if header.alg != Algorithm::ES256 || !has_low_s_signature(token) {
        return Err(Refusal::Invalid);
    }
    let kid = header.kid.ok_or(Refusal::Invalid)?;
    let key = keys
        .iter()
        .find(|key| key.jwk.kid == kid)
        .ok_or(Refusal::UnknownKid)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = 0;
    let mut required = vec!["exp"];
    match &expected.issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &expected.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => Refusal::Expired,
            _ => Refusal::Invalid,
        })?
        .claims;
    if claims.token_type != ACCESS_TOKEN_TYPE || claims.sub != claims.user_id.to_string() {
        return Err(Refusal::Invalid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            token_type: ACCESS_TOKEN_TYPE.into(),
            exp,
            iat: exp - 300,
            jti: new_jti(),
            user_id: 7,
            sub: "7".into(),
            username: "alice".into(),
            client: "web".into(),
            sid: "s".into(),
            scope: None,
            iss: Some("https://auth.example".into()),
            aud: None,
            cnf: None,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn pair() -> (SigningKey, Vec<VerifyingKey>) {
        let key = SigningKey::generate().expect("key");
        let verifying = VerifyingKey::new(&key.kid, key.public_key()).expect("public");
        (key, vec![verifying])
    }

    #[test]
    fn a_signed_token_verifies_and_its_claims_come_back() {
        let (key, keys) = pair();
        let sent = claims(now() + 60);
        let token = key.sign(&sent).expect("sign");
        let expected = Expected {
            issuer: Some("https://auth.example".into()),
            audience: None,
        };
        assert_eq!(verify(&token, &keys, &expected), Ok(sent));
        assert!(looks_like_jwt(&token));
    }

    #[test]
    fn expired_foreign_and_mismatched_tokens_are_refused() {
        let (key, keys) = pair();
        let (other, _) = pair();
        let none = Expected::default();
        let expired = key.sign(&claims(now() - 1)).expect("sign");
        assert_eq!(verify(&expired, &keys, &none), Err(Refusal::Expired));
        let foreign = other.sign(&claims(now() + 60)).expect("sign");
        assert_eq!(verify(&foreign, &keys, &none), Err(Refusal::UnknownKid));
        let live = key.sign(&claims(now() + 60)).expect("sign");
        let wrong_issuer = Expected {
            issuer: Some("https://elsewhere".into()),
            audience: None,
        };
        assert_eq!(verify(&live, &keys, &wrong_issuer), Err(Refusal::Invalid));
        let wants_audience = Expected {
            issuer: None,
            audience: Some("api".into()),
        };
        assert_eq!(verify(&live, &keys, &wants_audience), Err(Refusal::Invalid));
        let mut tampered = live.clone();
        tampered.insert(live.find('.').expect("dot") + 2, 'A');
        assert_eq!(verify(&tampered, &keys, &none), Err(Refusal::Invalid));
    }

    #[test]
    fn keys_survive_storage_only_under_the_same_secret() {
        let key = SigningKey::generate().expect("key");
        let secret = SecretKey::generate();
        let sealed = key.seal(&StorageKey::derive(&secret)).expect("seal");
        assert!(!sealed.windows(key.pkcs8.len()).any(|w| w == key.pkcs8));
        let opened = SigningKey::open(&key.kid, &sealed, &StorageKey::derive(&secret));
        assert_eq!(opened.map(|k| k.public_key), Ok(key.public_key.clone()));
        let other = StorageKey::derive(&SecretKey::generate());
        assert!(SigningKey::open(&key.kid, &sealed, &other).is_err());
        assert!(SigningKey::open("another-kid", &sealed, &StorageKey::derive(&secret)).is_err());
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.pkcs8)));
    }

    #[test]
    fn sids_are_stable_per_digest_and_differ_between_digests() {
        let sid_key = SidKey::derive(&SecretKey::generate());
        let first = crate::domain::PlainToken::generate().digest();
        let second = crate::domain::PlainToken::generate().digest();
        let sid = sid_key.sid_of(&first);
        assert_eq!(sid.len(), 32);
        assert!(sid_key.matches(&sid, &first));
        assert!(!sid_key.matches(&sid, &second));
        assert!(!hex(first.as_bytes()).contains(&sid));
    }

    #[test]
    fn only_three_part_base64url_text_looks_like_a_jwt() {
        assert!(looks_like_jwt("eyJh.eyJi.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJi."));
        assert!(!looks_like_jwt("mt_abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a+.b.c"));
    }

    #[test]
    fn signed_tokens_are_low_s_and_their_high_s_twins_are_refused() {
        let (key, keys) = pair();
        let none = Expected::default();
        // ring signs with a random nonce: half of its signatures are high-S.
        for _ in 0..16 {
            let token = key.sign(&claims(now() + 60)).expect("sign");
            assert!(has_low_s_signature(&token), "{token}");
            assert!(verify(&token, &keys, &none).is_ok());
            let (signed, signature) = token.rsplit_once('.').expect("dot");
            let mut signature = URL_SAFE_NO_PAD.decode(signature).expect("base64");
            // n - s, computed here apart from the module's own arithmetic.
            let order: [u8; 32] = [
                0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2,
                0xFC, 0x63, 0x25, 0x51,
            ];
            let mut borrow = 0i16;
            for i in (0..32).rev() {
                let mut digit = i16::from(order[i]) - i16::from(signature[32 + i]) - borrow;
                borrow = i16::from(digit < 0);
                if digit < 0 {
                    digit += 256;
                }
                signature[32 + i] = u8::try_from(digit).expect("a byte");
            }
            let twin = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&signature));
            assert_eq!(verify(&twin, &keys, &none), Err(Refusal::Invalid));
        }
    }
}
