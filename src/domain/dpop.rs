//! DPoP proofs (RFC 9449), as pure rules: reading a proof, checking its
//! signature with the public key it carries, its claims against the request
//! it came with, and the RFC 7638 thumbprint (`jkt`) that binds a key to
//! that public key.
//!
//! Signatures are checked by `jsonwebtoken` (on ring); this module only
//! decides which key and algorithm to hand it, and refuses anything else
//! before any cryptography runs. Every cost a proof could choose is
//! bounded: its length ([`MAX_PROOF_LEN`]), the RSA modulus (2048 to 4096
//! bits) and the sizes of the other key members. That a `jti` is used once
//! is the caller's part (it needs storage).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The proof algorithms accepted, as the metadata and `WWW-Authenticate` list them.
pub const DPOP_ALGS: [&str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];

/// The `WWW-Authenticate` of a refused proof (RFC 9449 section 7.1).
pub fn www_authenticate() -> String {
    format!(
        "DPoP error=\"invalid_dpop_proof\", algs=\"{}\"",
        DPOP_ALGS.join(" ")
    )
}

/// The longest proof read: a 4096-bit RSA key and signature fit with room.
pub const MAX_PROOF_LEN: usize = 4096;

/// The longest `jti` kept in mind.
const MAX_JTI_LEN: usize = 256;

/// The RSA modulus sizes accepted, in bytes (2048 to 4096 bits).
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=512;

/// Why a proof is refused; all of them answer the same to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Not a compact JWS of JSON parts, or too long.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    Type,
    /// An algorithm not in [`DPOP_ALGS`], or one that does not fit the key.
    Algorithm,
    /// No `jwk`, one with private members, or one of the wrong size.
    Key,
    Signature,
    /// A claim missing or of the wrong type.
    Claims,
    Method,
    Url,
    /// `iat` outside the window.
    Time,
    /// `ath` missing or not of the presented key.
    AccessToken,
}

/// What the request a proof came with says: its method, the URL the
/// client used (normalised with [`normalise_htu`]) and, when a key or
/// access token was presented with it, that token.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub access_token: Option<&'a str>,
}

/// An accepted proof: the thumbprint of its key, and its `jti` to be
/// remembered until its `iat` (seconds) is out of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

impl CheckedProof {
    /// What the replay memory stores: SHA-256 of the thumbprint and the
    /// `jti`, so that two keys' `jti`s never collide and no proof part is
    /// kept as sent.
    pub fn replay_digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.jkt.as_bytes());
        hasher.update([0u8]);
        hasher.update(self.jti.as_bytes());
        hasher.finalize().into()
    }
}

/// The `ath` of a key or access token: base64url SHA-256, no padding.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A URL as `htu` is compared (RFC 9449 section 4.3, RFC 3986 section 6):
/// scheme and host lower-cased, the default port dropped, without query
/// and fragment. `None` for anything that is no http(s) URL.
pub fn normalise_htu(text: &str) -> Option<String> {
    let mut url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// Checks `proof` against the request it came with, `now` and `window`
/// in seconds; the key's thumbprint and the `jti` when it holds.
pub fn check_proof(
    proof: &str,
    target: ProofTarget<'_>,
    now: i64,
    window: i64,
) -> Result<CheckedProof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header_part), Some(claims_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let header = json_object(header_part)?;
    if !header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(ProofError::Type);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(ProofError::Algorithm)?;
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(ProofError::Key)?;
    let key = PublicKey::read(jwk)?;
    let algorithm = key.algorithm_for(alg)?;
    let signed = &proof[..header_part.len() + 1 + claims_part.len()];
    let decoding = key.decoding_key()?;
    match jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &decoding, algorithm) {
        Ok(true) => {}
        _ => return Err(ProofError::Signature),
    }
    let claims = json_object(claims_part)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_LEN)
        .ok_or(ProofError::Claims)?;
    let htm = text("htm").ok_or(ProofError::Claims)?;
    let htu = text("htu").ok_or(ProofError::Claims)?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(ProofError::Claims)?;
    if htm != target.method {
        return Err(ProofError::Method);
    }
    if normalise_htu(htu).as_deref() != Some(target.url) {
        return Err(ProofError::Url);
    }
    if iat.abs_diff(now) > window.unsigned_abs() {
        return Err(ProofError::Time);
    }
    if let Some(token) = target.access_token {
        let expected = access_token_hash(token);
        let presented = text("ath").ok_or(ProofError::AccessToken)?;
        // The hash of a secret: compared in constant time all the same.
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            presented.as_bytes(),
            expected.as_bytes(),
        )) {
            return Err(ProofError::AccessToken);
        }
    }
    Ok(CheckedProof {
        jkt: key.thumbprint(),
        jti: jti.to_owned(),
        iat,
    })
}

/// A base64url JSON object of at most the proof's length.
fn json_object(part: &str) -> Result<Map<String, Value>, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ProofError::Malformed),
    }
}

/// A public key of an accepted kind, with its members base64url as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    P256 { x: String, y: String },
    Ed25519 { x: String },
    Rsa { n: String, e: String },
}

/// Members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl PublicKey {
    fn read(jwk: &Map<String, Value>) -> Result<Self, ProofError> {
        if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
            return Err(ProofError::Key);
        }
        let member = |name: &str, sizes: std::ops::RangeInclusive<usize>| {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or(ProofError::Key)?;
            let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| ProofError::Key)?;
            if !sizes.contains(&bytes.len()) {
                return Err(ProofError::Key);
            }
            Ok(text.to_owned())
        };
        let kty = jwk.get("kty").and_then(Value::as_str);
        let crv = jwk.get("crv").and_then(Value::as_str);
        match (kty, crv) {
            (Some("EC"), Some("P-256")) => Ok(PublicKey::P256 {
                x: member("x", 32..=32)?,
                y: member("y", 32..=32)?,
            }),
            (Some("OKP"), Some("Ed25519")) => Ok(PublicKey::Ed25519 {
                x: member("x", 32..=32)?,
            }),
            (Some("RSA"), _) => {
                let n = member("n", RSA_MODULUS_BYTES)?;
                // The modulus's size is its bit length: no leading zero byte.
                if URL_SAFE_NO_PAD
                    .decode(&n)
                    .ok()
                    .and_then(|n| n.first().copied())
                    == Some(0)
                {
                    return Err(ProofError::Key);
                }
                Ok(PublicKey::Rsa {
                    n,
                    e: member("e", 1..=8)?,
                })
            }
            _ => Err(ProofError::Key),
        }
    }

    /// The `jsonwebtoken` algorithm for the header's `alg` with this key.
    fn algorithm_for(&self, alg: &str) -> Result<Algorithm, ProofError> {
        match (self, alg) {
            (PublicKey::P256 { .. }, "ES256") => Ok(Algorithm::ES256),
            (PublicKey::Ed25519 { .. }, "EdDSA" | "Ed25519") => Ok(Algorithm::EdDSA),
            (PublicKey::Rsa { .. }, "RS256") => Ok(Algorithm::RS256),
            (PublicKey::Rsa { .. }, "PS256") => Ok(Algorithm::PS256),
            _ => Err(ProofError::Algorithm),
        }
    }

    fn decoding_key(&self) -> Result<DecodingKey, ProofError> {
        let key = match self {
            PublicKey::P256 { x, y } => DecodingKey::from_ec_components(x, y),
            PublicKey::Ed25519 { x } => DecodingKey::from_ed_components(x),
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
        };
        key.map_err(|_| ProofError::Key)
    }

    /// The RFC 7638 thumbprint: SHA-256 of the required members in
    /// lexicographic order, without whitespace, base64url.
    fn thumbprint(&self) -> String {
        // Every value is base64url or a fixed name: nothing to escape.
        let canonical = match self {
            PublicKey::P256 { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            PublicKey::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
            PublicKey::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// The thumbprint of a public JWK given as JSON, for tests and tools.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    PublicKey::read(jwk.as_object()?)
        .ok()
        .map(|key| key.thumbprint())
}

#[cfg(test)]
mod tests;
