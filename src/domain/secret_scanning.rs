//! GitHub's secret scanning partner program: the public keys GitHub
//! publishes (`{"public_keys": [{"key_identifier", "key", "is_current"}]}`)
//! and the check of the signature it sends over each report's raw body
//! (base64 of a DER ECDSA P-256 / SHA-256 signature).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Deserialize;
use std::collections::HashMap;

/// The DER prefix of a P-256 public key's SubjectPublicKeyInfo (the
/// algorithm `id-ecPublicKey` with `prime256v1`, then the bit string's
/// header): what comes after it is the SEC1 point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// GitHub's public keys, by identifier.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys(HashMap<String, VerifyingKey>);

#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

impl PublicKeys {
    /// Reads GitHub's key document; every key must be a P-256 public key
    /// in PEM (a document GitHub did not write is refused whole).
    pub fn parse(document: &[u8]) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_slice(document)
            .map_err(|e| format!("not GitHub's public key document: {e}"))?;
        let keys = file
            .public_keys
            .into_iter()
            .map(|entry| {
                let key = p256_from_pem(&entry.key).ok_or_else(|| {
                    format!(
                        "key {:?} is no P-256 public key in PEM",
                        entry.key_identifier
                    )
                })?;
                Ok((entry.key_identifier, key))
            })
            .collect::<Result<HashMap<_, _>, String>>()?;
        Ok(PublicKeys(keys))
    }

    pub fn knows(&self, identifier: &str) -> bool {
        self.0.contains_key(identifier)
    }

    /// Whether `signature` (the header's base64 of a DER signature) is the
    /// key `identifier`'s over `body`; an unknown identifier is not.
    pub fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> bool {
        let Some(key) = self.0.get(identifier) else {
            return false;
        };
        let Some(signature) = STANDARD
            .decode(signature.trim())
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
        else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }
}

/// A P-256 public key from a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo).
fn p256_from_pem(pem: &str) -> Option<VerifyingKey> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).ok()?;
    let point = der.strip_prefix(&P256_SPKI_PREFIX[..])?;
    VerifyingKey::from_sec1_bytes(point).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    fn pem_of(key: &VerifyingKey) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(key.to_sec1_point(false).as_bytes());
        let body = STANDARD.encode(der);
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &body[..64],
            &body[64..]
        )
    }

    #[test]
    fn a_signature_by_a_published_key_is_checked_over_the_raw_body() {
        let signing = SigningKey::from_slice(&[7u8; 32]).expect("a key");
        let document = serde_json::json!({"public_keys": [{
            "key_identifier": "abc", "key": pem_of(signing.verifying_key()), "is_current": true
        }]});
        let keys = PublicKeys::parse(document.to_string().as_bytes()).expect("parsed");
        let body =
            br#"[{"token":"mt_x","type":"multitoken","url":"https://x","source":"content"}]"#;
        let signature: Signature = signing.sign(body);
        let header = STANDARD.encode(signature.to_der().as_bytes());
        assert!(keys.knows("abc"));
        assert!(keys.verify("abc", &header, body));
        assert!(!keys.verify("abc", &header, b"[]"));
        assert!(!keys.verify("other", &header, body));
        assert!(!keys.verify("abc", "not base64!", body));
        assert!(PublicKeys::parse(
            b"{\"public_keys\": [{\"key_identifier\": \"a\", \"key\": \"x\"}]}"
        )
        .is_err());
    }
}
