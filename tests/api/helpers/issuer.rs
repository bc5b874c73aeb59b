//! A minimal OpenID provider for what oidc-provider cannot be made to do:
//! its discovery document and JWKS served from a thread on a loopback port,
//! and ID tokens with any claims (an old `iat`, a NUL in `sub`, a chosen
//! signature) minted by the test itself with an ES256 key, as the security
//! probe's own provider did. Needs nothing installed, so its tests always run.

use super::oidc::{our_client_at, CLIENT_ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use multitoken::domain::oidc::OidcProvider;
use rand::distributions::{Alphanumeric, DistString};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const KID: &str = "test-es256";

/// The order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// The provider; stops serving when dropped.
pub struct Issuer {
    pub issuer: String,
    key: EcdsaKeyPair,
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Issuer {
    pub fn start() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let issuer = format!("http://127.0.0.1:{port}");
        let point = key.public_key().as_ref();
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
        .to_string();
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": KID, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]})
        .to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(stream, &discovery, &jwks);
                }
            }
        });
        Issuer {
            issuer,
            key,
            port,
            stop,
        }
    }

    /// This provider as multitoken is configured with it, under `name`.
    pub fn configured(&self, name: &str) -> OidcProvider {
        our_client_at(&self.issuer, name)
    }

    /// The claims of a fresh ID token for `sub`, for our client, with a
    /// `jti` of its own as providers give (two tokens with the very same
    /// claims are one token).
    pub fn claims(&self, sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        let jti = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
        json!({"iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300, "jti": jti})
    }

    /// An ID token with these claims, signed with the low-S signature.
    pub fn mint(&self, claims: &Value) -> String {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "JWT", "kid": KID}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let signature = self
            .key
            .sign(&SystemRandom::new(), signed.as_bytes())
            .expect("signed");
        let mut signature = signature.as_ref().to_vec();
        // ring picks either of the two: take the low one, n - s when s > n / 2.
        if !is_low_s(&signature[32..]) {
            negate(&mut signature[32..]);
        }
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The other valid signature of the same token: (r, n - s).
pub fn high_s_twin(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a JWS");
    let mut signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    negate(&mut signature[32..]);
    assert!(!is_low_s(&signature[32..]));
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// s <= n / 2, that is 2s <= n (2s < n, as n is odd).
fn is_low_s(s: &[u8]) -> bool {
    let mut doubled = [0u8; 33];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(s[i]) * 2 + carry;
        doubled[i + 1] = (sum & 0xFF) as u8;
        carry = sum >> 8;
    }
    doubled[0] = carry as u8;
    let mut order = [0u8; 33];
    order[1..].copy_from_slice(&P256_ORDER);
    doubled < order
}

/// s := n - s.
fn negate(s: &mut [u8]) {
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(P256_ORDER[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        s[i] = digit as u8;
    }
}

fn answer(mut stream: TcpStream, discovery: &str, jwks: &str) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16_384 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let line = String::from_utf8_lossy(&request);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/.well-known/openid-configuration" => ("200 OK", discovery),
        "/jwks" => ("200 OK", jwks),
        _ => ("404 Not Found", "{}"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
