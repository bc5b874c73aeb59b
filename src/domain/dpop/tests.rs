//! Proofs made here with ring (ES256, Ed25519); RSA proofs are made by the
//! HTTP tests, which have an RSA signer.

use super::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

const URL: &str = "https://api.example.com/whoami";
const NOW: i64 = 1_800_000_000;

enum Signer {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer {
    fn es256() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Signer::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        )
    }

    fn ed25519() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Signer::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn jwk(&self) -> Value {
        match self {
            Signer::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..])})
            }
            Signer::Ed25519(pair) => json!({"kty": "OKP", "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}),
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Signer::Es256(_) => "ES256",
            Signer::Ed25519(_) => "EdDSA",
        }
    }

    fn sign_with(&self, header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            Signer::Es256(pair) => pair
                .sign(&SystemRandom::new(), signed.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(signed.as_bytes()).as_ref().to_vec(),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }

    fn proof(&self, claims: Value) -> String {
        self.sign_with(&self.header(), &claims)
    }
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "GET", "htu": URL, "iat": NOW})
}

fn target(access_token: Option<&str>) -> ProofTarget<'_> {
    ProofTarget {
        method: "GET",
        url: URL,
        access_token,
    }
}

fn check(proof: &str) -> Result<CheckedProof, ProofError> {
    check_proof(proof, target(None), NOW, 60)
}

#[test]
fn a_proof_of_each_curve_is_accepted_with_its_thumbprint() {
    for signer in [Signer::es256(), Signer::ed25519()] {
        let checked = check(&signer.proof(claims())).unwrap();
        assert_eq!(Some(checked.jkt.clone()), thumbprint(&signer.jwk()));
        assert_eq!(checked.jti, "j-1");
        assert_eq!(checked.jkt.len(), 43);
    }
    // RFC 9864's name for Ed25519 keys is accepted as well.
    let signer = Signer::ed25519();
    let mut header = signer.header();
    header["alg"] = json!("Ed25519");
    assert!(check(&signer.sign_with(&header, &claims())).is_ok());
}

#[test]
fn the_thumbprint_is_rfc_7638s() {
    // RFC 7638, section 3.1.
    let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
    assert_eq!(
        thumbprint(&jwk).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
}

#[test]
fn claims_must_match_the_request() {
    let signer = Signer::es256();
    let with = |name: &str, value: Value| {
        let mut claims = claims();
        claims[name] = value;
        check(&signer.proof(claims))
    };
    assert_eq!(with("htm", json!("POST")), Err(ProofError::Method));
    assert_eq!(with("htm", json!("get")), Err(ProofError::Method));
    assert_eq!(
        with("htu", json!("https://api.example.com/tokens")),
        Err(ProofError::Url)
    );
    assert_eq!(
        with("htu", json!("https://other.example.com/whoami")),
        Err(ProofError::Url)
    );
    assert_eq!(with("iat", json!(NOW - 61)), Err(ProofError::Time));
    assert_eq!(with("iat", json!(NOW + 61)), Err(ProofError::Time));
    assert_eq!(with("iat", json!("now")), Err(ProofError::Claims));
    assert_eq!(with("jti", json!("")), Err(ProofError::Claims));
    assert_eq!(with("jti", json!("j".repeat(257))), Err(ProofError::Claims));
    // Within the window either way, and htu as the RFC normalises it.
    assert!(with("iat", json!(NOW - 60)).is_ok());
    assert!(with("iat", json!(NOW + 60)).is_ok());
    assert!(with("htu", json!("HTTPS://API.Example.com:443/whoami?x=1#f")).is_ok());
}

#[test]
fn ath_is_required_with_a_token_and_must_be_its_hash() {
    let signer = Signer::ed25519();
    let key = "mt_some_key";
    let mut claims = claims();
    let no_ath = signer.proof(claims.clone());
    assert_eq!(
        check_proof(&no_ath, target(Some(key)), NOW, 60),
        Err(ProofError::AccessToken)
    );
    claims["ath"] = json!(access_token_hash("mt_other_key"));
    let wrong = signer.proof(claims.clone());
    assert_eq!(
        check_proof(&wrong, target(Some(key)), NOW, 60),
        Err(ProofError::AccessToken)
    );
    claims["ath"] = json!(access_token_hash(key));
    assert!(check_proof(&signer.proof(claims), target(Some(key)), NOW, 60).is_ok());
}

#[test]
fn headers_other_than_a_public_key_of_a_listed_alg_are_refused() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["typ"] = json!("JWT");
    assert_eq!(
        check(&signer.sign_with(&header, &claims())),
        Err(ProofError::Type)
    );
    for alg in ["HS256", "none", "ES384", "EdDSA", "RS256"] {
        let mut header = signer.header();
        header["alg"] = json!(alg);
        assert_eq!(
            check(&signer.sign_with(&header, &claims())),
            Err(ProofError::Algorithm),
            "{alg}"
        );
    }
    let mut header = signer.header();
    header["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    assert_eq!(
        check(&signer.sign_with(&header, &claims())),
        Err(ProofError::Key)
    );
    let mut header = signer.header();
    header["jwk"]["crv"] = json!("P-384");
    assert_eq!(
        check(&signer.sign_with(&header, &claims())),
        Err(ProofError::Key)
    );
    let mut header = signer.header();
    header["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"});
    assert_eq!(
        check(&signer.sign_with(&header, &claims())),
        Err(ProofError::Key)
    );
    let mut header = signer.header();
    header.as_object_mut().unwrap().remove("jwk");
    assert_eq!(
        check(&signer.sign_with(&header, &claims())),
        Err(ProofError::Key)
    );
}

#[test]
fn rsa_keys_outside_2048_to_4096_bits_are_refused_before_any_check() {
    let signer = Signer::es256();
    for bytes in [128usize, 513, 1024] {
        let mut header = signer.header();
        header["alg"] = json!("RS256");
        header["jwk"] = json!({"kty": "RSA", "e": "AQAB",
            "n": URL_SAFE_NO_PAD.encode(vec![0xC1u8; bytes])});
        assert!(
            matches!(
                check(&signer.sign_with(&header, &claims())),
                Err(ProofError::Key | ProofError::Malformed)
            ),
            "{bytes} bytes"
        );
    }
}

#[test]
fn a_signature_by_another_key_or_over_other_claims_is_refused() {
    let signer = Signer::es256();
    let other = Signer::es256();
    let forged = other.sign_with(&signer.header(), &claims());
    assert_eq!(check(&forged), Err(ProofError::Signature));
    let proof = signer.proof(claims());
    let (rest, signature) = proof.rsplit_once('.').unwrap();
    let (header, _) = rest.split_once('.').unwrap();
    let mut changed = claims();
    changed["jti"] = json!("j-2");
    let swapped = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(changed.to_string())
    );
    assert_eq!(check(&swapped), Err(ProofError::Signature));
}

#[test]
fn malformed_and_oversized_proofs_are_refused() {
    for proof in ["", "a.b", "a.b.c.d", "!!.e30.e30", "e30.e30.e30"] {
        assert!(check(proof).is_err(), "{proof}");
    }
    let huge = format!("{}.e30.e30", "A".repeat(MAX_PROOF_LEN));
    assert_eq!(check(&huge), Err(ProofError::Malformed));
}

#[test]
fn the_replay_digest_depends_on_both_key_and_jti() {
    let one = CheckedProof {
        jkt: "a".into(),
        jti: "b".into(),
        iat: NOW,
    };
    let two = CheckedProof {
        jkt: "ab".into(),
        jti: "".into(),
        iat: NOW,
    };
    let three = CheckedProof {
        jkt: "a".into(),
        jti: "c".into(),
        iat: NOW,
    };
    assert_ne!(one.replay_digest(), two.replay_digest());
    assert_ne!(one.replay_digest(), three.replay_digest());
}

#[test]
fn htu_normalisation_drops_default_ports_query_and_fragment() {
    assert_eq!(
        normalise_htu("HTTP://Example.COM:80/a/b?q#f").as_deref(),
        Some("http://example.com/a/b")
    );
    assert_eq!(
        normalise_htu("https://example.com:8443/x").as_deref(),
        Some("https://example.com:8443/x")
    );
    assert_eq!(normalise_htu("ftp://example.com/x"), None);
    assert_eq!(normalise_htu("not a url"), None);
}
