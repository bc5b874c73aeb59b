//! GitHub's secret scanning partner program: GitHub posts the keys it found
//! in public places, signed; each live one is revoked (`leaked`) and its
//! owner told where it was found.
//!
//! GitHub's public keys come from `SECRET_SCANNING_GITHUB_KEYS`, a file or
//! an `https://` URL, read again when a report names an identifier we do
//! not know (GitHub rotating its keys), at most once a minute so that
//! forged identifiers cannot make us fetch at will.

use super::{revoke, Revocation};
use crate::db::tokens;
use crate::domain::event::{EventSource, RevokedBy};
use crate::domain::secret_scanning::PublicKeys;
use crate::domain::{Timestamp, TokenDigest};
use crate::metrics::RevocationCause;
use crate::service::shared::outbound;
use crate::service::shared::outbox::{deliverable, Mail};
use crate::service::{Error, Services};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The most items one report may hold; GitHub sends far fewer.
pub const MAX_REPORTED_KEYS: usize = 1000;

/// How often an unknown identifier may make us read the keys again.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Whether the keys may be read again at `now`, having last been read at `last`.
pub fn may_refetch(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= REFETCH_INTERVAL)
}

/// Where GitHub's keys are read from.
#[derive(Debug, Clone)]
enum KeySource {
    File(PathBuf),
    Url(String),
}

/// GitHub's keys, or nothing when the endpoint is off.
#[derive(Clone, Default)]
pub struct GithubKeys(Option<Arc<Loaded>>);

struct Loaded {
    source: KeySource,
    http: reqwest::Client,
    keys: RwLock<PublicKeys>,
    last_read: Mutex<Option<Instant>>,
}

impl GithubKeys {
    /// The keys named by the setting (unset: the endpoint is off): a file
    /// is read now, and one that cannot be read is a startup error; a URL
    /// is fetched once the server runs ([`Self::fetch_at_start`]).
    pub fn load(setting: Option<&str>, http_timeout: Duration) -> Result<Self, String> {
        let Some(setting) = setting.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(GithubKeys(None));
        };
        let source = if setting.starts_with("https://") {
            KeySource::Url(setting.to_owned())
        } else if setting.contains("://") {
            return Err("SECRET_SCANNING_GITHUB_KEYS: a file path or an https:// URL".to_owned());
        } else {
            KeySource::File(PathBuf::from(setting))
        };
        let (keys, last_read) = match &source {
            KeySource::File(path) => {
                let document = std::fs::read(path)
                    .map_err(|e| format!("SECRET_SCANNING_GITHUB_KEYS {}: {e}", path.display()))?;
                let keys = PublicKeys::parse(&document)
                    .map_err(|e| format!("SECRET_SCANNING_GITHUB_KEYS {}: {e}", path.display()))?;
                (keys, Some(Instant::now()))
            }
            KeySource::Url(_) => (PublicKeys::default(), None),
        };
        let http = outbound::client(http_timeout, "GitHub's keys")?;
        Ok(GithubKeys(Some(Arc::new(Loaded {
            source,
            http,
            keys: RwLock::new(keys),
            last_read: Mutex::new(last_read),
        }))))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Fetches the keys of an `https://` source, once the server runs (a
    /// file was read by [`Self::load`]); a failure is logged, and the next
    /// report with an unknown identifier a minute later tries again.
    pub async fn fetch_at_start(self) {
        let Some(loaded) = &self.0 else {
            return;
        };
        if matches!(loaded.source, KeySource::Url(_)) && loaded.claim_refetch() {
            loaded.refresh().await;
        }
    }

    /// Whether the report's signature is good; an unknown identifier makes
    /// the keys be read again first, when the last read is a minute old.
    pub async fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> bool {
        let Some(loaded) = &self.0 else {
            return false;
        };
        if !loaded.knows(identifier) && loaded.claim_refetch() {
            loaded.refresh().await;
        }
        loaded
            .keys
            .read()
            .is_ok_and(|keys| keys.verify(identifier, signature, body))
    }
}

impl Loaded {
    fn knows(&self, identifier: &str) -> bool {
        self.keys.read().is_ok_and(|keys| keys.knows(identifier))
    }

    /// Takes the right to read the keys again, if a minute has passed.
    fn claim_refetch(&self) -> bool {
        let Ok(mut last) = self.last_read.lock() else {
            return false;
        };
        let now = Instant::now();
        let may = may_refetch(*last, now);
        if may {
            *last = Some(now);
        }
        may
    }

    /// Reads the keys again and keeps them; on failure the old ones stay.
    async fn refresh(&self) {
        match self.read().await {
            Ok(keys) => {
                if let Ok(mut held) = self.keys.write() {
                    *held = keys;
                }
            }
            Err(error) => log::warn!("GitHub's secret scanning keys not read: {error}"),
        }
    }

    async fn read(&self) -> Result<PublicKeys, String> {
        let document = match &self.source {
            KeySource::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(path))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?
            }
            KeySource::Url(url) => self
                .http
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?
                .to_vec(),
        };
        PublicKeys::parse(&document)
    }
}

/// One item of GitHub's report.
#[derive(Debug, Deserialize)]
pub struct ReportedKey {
    pub token: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub source: String,
}

/// The answer for one item, in GitHub's words.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Label {
    pub token_raw: String,
    pub token_type: String,
    pub label: &'static str,
}

/// Revokes every live key of the report (`leaked`), mails each owner who
/// has an address, and labels each item: `true_positive` for a key that
/// was live (a key that a rotation retired stands for its live device).
pub async fn report(
    services: &Services,
    items: Vec<ReportedKey>,
    source: &EventSource,
) -> Result<Vec<Label>, Error> {
    let legacy = services.settings.tokens.legacy_tokens;
    let digests: Vec<Option<TokenDigest>> = items
        .iter()
        .map(|item| TokenDigest::of_presented(&item.token, legacy))
        .collect();
    let wanted: Vec<Vec<u8>> = digests
        .iter()
        .flatten()
        .map(|digest| digest.as_bytes().to_vec())
        .collect();
    let found_at: HashMap<Vec<u8>, String> = items
        .iter()
        .zip(&digests)
        .filter_map(|(item, digest)| Some((digest.as_ref()?.as_bytes().to_vec(), item.url.clone())))
        .collect();
    let candidates: Vec<TokenDigest> = digests.iter().flatten().copied().collect();
    let source = source.clone();
    let outbox = services.outbox.clone();
    let (live, revoked) = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                let now = Timestamp::now().millis();
                let mut live = tokens::live_among(conn, &wanted, now)?;
                live.extend(crate::db::rotation::live_among(conn, &wanted, now)?);
                if live.is_empty() {
                    return Ok((live, 0));
                }
                let revocation = Revocation::Tokens {
                    digests: candidates
                        .into_iter()
                        .filter(|digest| live.iter().any(|token| token.digest == digest.as_bytes()))
                        .collect(),
                };
                let revoked = revoke(conn, &revocation, RevokedBy::Leaked, &source)?;
                for token in &live {
                    let url = found_at.get(&token.digest).map_or("", String::as_str);
                    if let Some(mail) = leak_mail(token, url) {
                        outbox.enqueue(conn, MAIL_KIND, &mail)?;
                    }
                }
                Ok((live, revoked))
            })
        })
        .await?;
    services.metrics.revoked(RevocationCause::Leaked, revoked);
    if revoked > 0 {
        services.outbox.wake();
    }
    let live: Vec<&[u8]> = live.iter().map(|token| token.digest.as_slice()).collect();
    Ok(items
        .into_iter()
        .zip(digests)
        .map(|(item, digest)| {
            let was_live = digest.is_some_and(|digest| live.contains(&digest.as_bytes()));
            Label {
                token_raw: item.token,
                token_type: item.kind,
                label: if was_live {
                    "true_positive"
                } else {
                    "false_positive"
                },
            }
        })
        .collect())
}

const MAIL_KIND: &str = "leaked-key";

/// The owner's mail about a leaked key, when they have a deliverable address.
fn leak_mail(token: &tokens::Reported, url: &str) -> Option<Mail> {
    let to = deliverable(&token.email).ok()?;
    let last_used = Timestamp(token.last_used_at).to_rfc3339();
    let text = [
        format!(
            "The key of your device \"{}\" was found in a public place and has been revoked.",
            token.client
        ),
        String::new(),
        format!("Where it was found: {url}"),
        format!("Its last use: {last_used}"),
        String::new(),
        "That device is signed out: sign in on it again to get a new key, and remove the old key from wherever it was published.".to_owned(),
    ]
    .join("\n");
    Some(Mail {
        to,
        subject: "A key of your account was found in public and revoked".to_owned(),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_read_again_at_most_once_a_minute() {
        let start = Instant::now();
        assert!(may_refetch(None, start));
        assert!(!may_refetch(Some(start), start));
        assert!(!may_refetch(Some(start), start + Duration::from_secs(59)));
        assert!(may_refetch(Some(start), start + REFETCH_INTERVAL));
    }

    fn signed_document(identifier: &str, seed: u8) -> (Vec<u8>, p256::ecdsa::SigningKey) {
        use base64::Engine;
        let signing = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a key");
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(signing.verifying_key().to_sec1_point(false).as_bytes());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        let document = serde_json::json!({"public_keys": [
            {"key_identifier": identifier, "key": pem, "is_current": true}
        ]});
        (document.to_string().into_bytes(), signing)
    }

    fn signature_of(signing: &p256::ecdsa::SigningKey, body: &[u8]) -> String {
        use base64::Engine;
        use p256::ecdsa::signature::Signer;
        let signature: p256::ecdsa::Signature = signing.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    #[tokio::test]
    async fn an_unknown_identifier_reads_the_keys_again_once_a_minute_has_passed() {
        let dir = std::env::temp_dir().join(format!("github-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("keys.json");
        let (first, first_key) = signed_document("first", 3);
        std::fs::write(&path, first).expect("written");
        let keys = GithubKeys::load(path.to_str(), Duration::from_secs(1)).expect("loaded");
        let body = b"[]";
        assert!(
            keys.verify("first", &signature_of(&first_key, body), body)
                .await
        );
        // GitHub rotates its key: the new identifier is unknown.
        let (second, second_key) = signed_document("second", 5);
        std::fs::write(&path, second).expect("rewritten");
        let signed = signature_of(&second_key, body);
        assert!(
            !keys.verify("second", &signed, body).await,
            "read at start, not again within the minute"
        );
        let loaded = keys.0.clone().expect("enabled");
        if let Ok(mut last) = loaded.last_read.lock() {
            *last = Instant::now().checked_sub(REFETCH_INTERVAL);
        }
        assert!(keys.verify("second", &signed, body).await, "read again");
        assert!(
            !keys
                .verify("first", &signature_of(&first_key, body), body)
                .await
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_refetch_is_claimed_once_per_minute() {
        let keys = GithubKeys::load(Some("https://example.com/keys"), Duration::from_secs(1))
            .expect("loaded");
        let loaded = keys.0.expect("enabled");
        assert!(loaded.claim_refetch(), "never read yet");
        assert!(!loaded.claim_refetch(), "just read");
        assert!(GithubKeys::load(None, Duration::from_secs(1)).is_ok_and(|k| !k.enabled()));
        assert!(GithubKeys::load(Some("http://example.com/keys"), Duration::from_secs(1)).is_err());
    }
}
