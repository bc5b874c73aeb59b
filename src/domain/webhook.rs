//! Webhooks in the Standard Webhooks format: the receivers' URLs, the
//! shared secret (`whsec_` and base64) and the signature of a message
//! (`v1,` and the base64 HMAC-SHA256 of `"<id>.<timestamp>.<body>"` under
//! the secret's decoded bytes), which the Standard Webhooks libraries check.

use super::event::EventKind;
use super::secret::hmac_sha256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::Mac;
use std::fmt;

/// The secret the messages are signed with. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// `whsec_` and the base64 of 24 to 64 bytes. A refusal never repeats the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text
            .trim()
            .strip_prefix("whsec_")
            .ok_or("must start with whsec_ (then the base64 of 24 to 64 random bytes)")?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "after whsec_ must come standard base64 (24 to 64 random bytes)")?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(format!(
                "must hold 24 to 64 random bytes after whsec_, not {}",
                bytes.len()
            ));
        }
        Ok(WebhookSecret(bytes))
    }

    /// The `webhook-signature` header of the message `id` sent at
    /// `timestamp` (Unix seconds) with `body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Where events are posted: one or more `http(s)://` URLs. A URL may hold
/// a secret (a path or query only the receiver knows), so it is stored as
/// its [`receiver_id`] and shown by its [`origin`].
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrls(pub Vec<String>);

impl fmt::Debug for WebhookUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|url| origin(url)))
            .finish()
    }
}

/// How a queued delivery names its URL: the SHA-256 of the URL, hex.
pub fn receiver_id(url: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(url.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The URL as logs show it: its scheme, host and port only.
pub fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => "(not a URL)".to_owned(),
    }
}

impl WebhookUrls {
    /// Space- or comma-separated `http://` or `https://` URLs, at least one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut urls = Vec::new();
        for url in words(text) {
            // A refusal does not repeat the URL, which may hold a secret.
            let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!(
                    "{} must be an http:// or https:// URL",
                    origin(url)
                ));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(format!(
                    "{}: no user or password in a webhook URL (the signature tells the receiver who sent it)",
                    origin(url)
                ));
            }
            if url.len() > 2048 {
                return Err("a URL must be at most 2048 characters".into());
            }
            if !urls.iter().any(|seen| seen == url) {
                urls.push(url.to_owned());
            }
        }
        if urls.is_empty() {
            return Err("no URL given".into());
        }
        Ok(WebhookUrls(urls))
    }
}

/// Which event types are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvents(pub Vec<EventKind>);

impl WebhookEvents {
    /// Space- or comma-separated event types; an unknown one is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut kinds = Vec::new();
        for word in words(text) {
            let kind = EventKind::parse(word).ok_or_else(|| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown event type {word:?}: expected some of {}",
                    known.join(", ")
                )
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err("no event type given".into());
        }
        Ok(WebhookEvents(kinds))
    }

    pub fn includes(&self, kind: EventKind) -> bool {
        self.0.contains(&kind)
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|word| !word.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification's reference tests.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        let secret = WebhookSecret::parse(SECRET).unwrap_or_else(|e| panic!("{e}"));
        let signed = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_is_whsec_and_24_to_64_bytes_of_base64() {
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 32]))).is_ok());
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 64]))).is_ok());
        for (bad, why) in [
            (STANDARD.encode([7u8; 32]), "no prefix"),
            (format!("whsec_{}", STANDARD.encode([7u8; 23])), "too short"),
            (format!("whsec_{}", STANDARD.encode([7u8; 65])), "too long"),
            ("whsec_not base64!".to_owned(), "not base64"),
        ] {
            let refused = WebhookSecret::parse(&bad);
            assert!(refused.is_err(), "{why}");
            let message = refused.err().unwrap_or_default();
            assert!(!message.contains(&bad), "{why}: the value is not repeated");
        }
        let shown = format!("{:?}", WebhookSecret::parse(SECRET));
        assert!(!shown.contains("MfKQ"), "{shown}");
    }

    #[test]
    fn urls_are_space_or_comma_separated_http_urls() {
        assert_eq!(
            WebhookUrls::parse(
                "https://a.example/hook, http://b.example:8080/x https://a.example/hook"
            ),
            Ok(WebhookUrls(vec![
                "https://a.example/hook".into(),
                "http://b.example:8080/x".into()
            ]))
        );
        for bad in [
            "",
            " , ",
            "ftp://a.example/",
            "a.example/hook",
            "https://",
            "https://user:pw@a.example/hook",
        ] {
            assert!(WebhookUrls::parse(bad).is_err(), "{bad:?}");
        }
        let secret = "https://a.example:8443/in/s3cret?key=s3cret";
        assert_eq!(origin(secret), "https://a.example:8443");
        let shown = format!("{:?}", WebhookUrls::parse(secret));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(receiver_id(secret).len(), 64);
        assert_ne!(
            receiver_id(secret),
            receiver_id("https://a.example:8443/in")
        );
    }

    #[test]
    fn events_are_known_types() {
        assert_eq!(
            WebhookEvents::parse("revoked,logout  login"),
            Ok(WebhookEvents(vec![
                EventKind::Revoked,
                EventKind::Logout,
                EventKind::Login
            ]))
        );
        let refused = WebhookEvents::parse("revoked, exploded");
        assert!(refused.is_err_and(|e| e.contains("\"exploded\"")));
        assert!(WebhookEvents::parse(" ").is_err());
    }
}
