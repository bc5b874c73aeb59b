//! Social login's settings: the OpenID Connect providers by name
//! (`OIDC_PROVIDERS`, then `OIDC_<NAME>_ISSUER`, `_CLIENT_ID`,
//! `_CLIENT_SECRET`) and when a provider's verified e-mail links to an
//! existing user (`OIDC_LINK_BY_EMAIL`). Read from a lookup function rather
//! than the process environment, so the rules are unit-tested here.

use super::username::{normalize, Username};
use super::Timestamp;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;

/// Room left under the 150-character limit for the suffix that makes a
/// username unique (`alice2`, ... `alice1000`).
const USERNAME_BASE_CHARS: usize = 140;

/// One provider as configured. `Debug` never prints the client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// The name in `OIDC_PROVIDERS` and in `/login/oidc/{provider}`, lower case.
    pub name: String,
    /// Without a trailing slash: discovery is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<hidden>")
            .finish()
    }
}

/// The configured providers, in the order `OIDC_PROVIDERS` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OidcProviders(pub Vec<OidcProvider>);

impl OidcProviders {
    /// Parses `OIDC_PROVIDERS` (names separated by commas or spaces), then
    /// each provider's variables from `lookup`. Every problem names its variable.
    pub fn parse(list: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut providers: Vec<OidcProvider> = Vec::new();
        for name in list.split([',', ' ']).filter(|name| !name.is_empty()) {
            let valid = name.len() <= 32
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(format!(
                    "OIDC_PROVIDERS: invalid provider name {name:?}: expected 1-32 ASCII letters, digits, '_' or '-'"
                ));
            }
            let name = name.to_ascii_lowercase();
            if providers.iter().any(|provider| provider.name == name) {
                return Err(format!("OIDC_PROVIDERS: {name:?} is listed twice"));
            }
            let prefix = format!("OIDC_{}", name.to_ascii_uppercase().replace('-', "_"));
            let required = |suffix: &str| {
                let variable = format!("{prefix}_{suffix}");
                match lookup(&variable).map(|value| value.trim().to_owned()) {
                    Some(value) if !value.is_empty() => Ok(value),
                    _ => Err(format!(
                        "{variable} must be set for the provider {name:?} of OIDC_PROVIDERS"
                    )),
                }
            };
            let issuer = required("ISSUER")?;
            check_issuer(&issuer).map_err(|e| format!("{prefix}_ISSUER: {e}"))?;
            providers.push(OidcProvider {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id: required("CLIENT_ID")?,
                client_secret: required("CLIENT_SECRET")?,
                name,
            });
        }
        Ok(OidcProviders(providers))
    }

    pub fn get(&self, name: &str) -> Option<&OidcProvider> {
        self.0.iter().find(|provider| provider.name == name)
    }
}

fn check_issuer(issuer: &str) -> Result<(), String> {
    let is_url = (issuer.starts_with("https://") || issuer.starts_with("http://"))
        && !issuer.chars().any(|c| c.is_whitespace() || c.is_control());
    match is_url {
        true => Ok(()),
        false => Err(format!(
            "invalid value {issuer:?}: expected the provider's issuer URL, such as https://accounts.google.com"
        )),
    }
}

/// `OIDC_LINK_BY_EMAIL`: whether a sign-in whose provider vouches for the
/// e-mail address (`email_verified`) may land on the user with that address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkByEmail {
    #[default]
    Never,
    Verified,
}

impl LinkByEmail {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "never" | "" => Ok(LinkByEmail::Never),
            "verified" => Ok(LinkByEmail::Verified),
            other => Err(format!(
                "invalid value {other:?}: expected never or verified"
            )),
        }
    }
}

/// How a device signed in, as `"via"` shows it and the tokens table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Password,
    Oidc(String),
    Import,
    /// Approved from another device (OAuth device grant).
    Device,
}

impl Via {
    pub fn to_stored(&self) -> String {
        match self {
            Via::Password => "password".to_owned(),
            Via::Oidc(provider) => format!("oidc:{provider}"),
            Via::Import => "import".to_owned(),
            Via::Device => "device".to_owned(),
        }
    }
}

/// An ID token older than this (by its `iat`) is refused: with no `nonce`
/// sent, an ID token is a bearer credential, and this bounds how long a
/// stolen one (or one whose `exp` is years away) is worth anything.
pub const ID_TOKEN_MAX_AGE: Duration = Duration::from_secs(600);
/// How far in the future an `iat` may be: the provider's clock and ours
/// differ a little, never by minutes.
pub const ID_TOKEN_CLOCK_LEEWAY: Duration = Duration::from_secs(60);
/// How long after it can no longer be accepted a used ID token is still
/// remembered, for instances whose clocks run behind the sweeper's.
const REMEMBERED_BEYOND: Duration = Duration::from_secs(120);

/// Whether an ID token issued at `iat` (Unix seconds) may be accepted at `now`.
pub fn issued_recently(iat: i64, now: Timestamp) -> bool {
    let now = now.unix_seconds();
    let age = now.saturating_sub(iat);
    age <= seconds(ID_TOKEN_MAX_AGE) && -age <= seconds(ID_TOKEN_CLOCK_LEEWAY)
}

/// Until when an accepted ID token is remembered as used: its `exp`, or
/// sooner, once its `iat` makes it too old to be accepted anyway, so that a
/// token whose `exp` is years away is not kept for years.
pub fn remembered_until(iat: i64, exp: i64) -> Timestamp {
    let refused_from = iat.saturating_add(seconds(ID_TOKEN_MAX_AGE));
    let until = exp
        .min(refused_from)
        .saturating_add(seconds(REMEMBERED_BEYOND));
    Timestamp(until.saturating_mul(1000))
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// What an accepted ID token is remembered by: the SHA-256 of the provider
/// and the token's signed part (header and claims). Not the whole token:
/// another signature of the same claims (the other `s` of an ECDSA
/// signature, a fresh RSA-PSS salt) is the same token used again.
pub fn id_token_digest(provider: &str, compact: &str) -> [u8; 32] {
    let signed = compact
        .rsplit_once('.')
        .map_or(compact, |(signed, _)| signed);
    let mut hasher = Sha256::new();
    hasher.update(provider.as_bytes());
    hasher.update([0]);
    hasher.update(signed.as_bytes());
    hasher.finalize().into()
}

/// Whether a provider's `sub` can name an identity here: at most 255
/// characters, as OpenID Connect Core allows, and no control character
/// (PostgreSQL refuses NUL in text; no provider issues such subjects).
pub fn is_acceptable_subject(subject: &str) -> bool {
    !subject.is_empty() && subject.len() <= 255 && !subject.chars().any(char::is_control)
}

/// The username a new user signing in with a provider starts from: the
/// token's `preferred_username`, else the local part of its e-mail, brought
/// to the username rules (NFKC, then only the characters a username may
/// hold) and cut to leave room for a suffix; `user` when nothing is left.
pub fn username_base(preferred_username: Option<&str>, email: Option<&str>) -> String {
    let allowed = |c: &char| Username::parse(&c.to_string()).is_ok();
    let from = |text: &str| -> String {
        normalize(text)
            .chars()
            .filter(allowed)
            .take(USERNAME_BASE_CHARS)
            .collect()
    };
    let local_part = email.and_then(|email| email.rsplit_once('@').map(|(local, _)| local));
    [preferred_username, local_part]
        .into_iter()
        .flatten()
        .map(from)
        .find(|base| !base.is_empty())
        .unwrap_or_else(|| "user".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn providers_are_read_by_name_from_their_variables() {
        let providers = OidcProviders::parse(
            "Google, corp-sso",
            env(&[
                ("OIDC_GOOGLE_ISSUER", "https://accounts.google.com/"),
                ("OIDC_GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com"),
                ("OIDC_GOOGLE_CLIENT_SECRET", "shh"),
                ("OIDC_CORP_SSO_ISSUER", "http://127.0.0.1:9000"),
                ("OIDC_CORP_SSO_CLIENT_ID", "mt"),
                ("OIDC_CORP_SSO_CLIENT_SECRET", "s"),
            ]),
        )
        .unwrap();
        let google = providers.get("google").unwrap();
        assert_eq!(google.issuer, "https://accounts.google.com");
        assert_eq!(google.client_id, "id.apps.googleusercontent.com");
        assert_eq!(providers.get("corp-sso").unwrap().client_secret, "s");
        assert!(providers.get("Google").is_none());
        assert!(!format!("{providers:?}").contains("shh"));
        assert_eq!(
            OidcProviders::parse("", env(&[])).unwrap(),
            OidcProviders::default()
        );
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let missing = OidcProviders::parse("google", env(&[])).unwrap_err();
        assert!(missing.contains("OIDC_GOOGLE_ISSUER"), "{missing}");
        let no_secret = OidcProviders::parse(
            "google",
            env(&[
                ("OIDC_GOOGLE_ISSUER", "https://accounts.google.com"),
                ("OIDC_GOOGLE_CLIENT_ID", "id"),
            ]),
        )
        .unwrap_err();
        assert!(
            no_secret.contains("OIDC_GOOGLE_CLIENT_SECRET"),
            "{no_secret}"
        );
        let bad_issuer = OidcProviders::parse(
            "google",
            env(&[
                ("OIDC_GOOGLE_ISSUER", "accounts.google.com"),
                ("OIDC_GOOGLE_CLIENT_ID", "id"),
                ("OIDC_GOOGLE_CLIENT_SECRET", "s"),
            ]),
        )
        .unwrap_err();
        assert!(bad_issuer.starts_with("OIDC_GOOGLE_ISSUER"), "{bad_issuer}");
        let bad_name = OidcProviders::parse("go/ogle", env(&[])).unwrap_err();
        assert!(bad_name.starts_with("OIDC_PROVIDERS"), "{bad_name}");
    }

    #[test]
    fn linking_by_email_is_never_unless_verified() {
        assert_eq!(LinkByEmail::parse("never"), Ok(LinkByEmail::Never));
        assert_eq!(LinkByEmail::parse("verified"), Ok(LinkByEmail::Verified));
        assert!(LinkByEmail::parse("always").is_err());
        assert_eq!(LinkByEmail::default(), LinkByEmail::Never);
    }

    #[test]
    fn new_usernames_come_from_the_token_under_the_username_rules() {
        assert_eq!(username_base(Some("alice"), Some("x@y.z")), "alice");
        assert_eq!(
            username_base(None, Some("Bob.Smith@example.com")),
            "Bob.Smith"
        );
        assert_eq!(username_base(Some("Jean Dupont!"), None), "JeanDupont");
        assert_eq!(username_base(Some("ｒｏｏｔ"), None), "root");
        assert_eq!(
            username_base(Some("  "), Some("carol@example.com")),
            "carol"
        );
        assert_eq!(username_base(Some("\u{200B}"), None), "user");
        assert_eq!(username_base(None, None), "user");
        let long = "a".repeat(400);
        assert_eq!(username_base(Some(&long), None).len(), USERNAME_BASE_CHARS);
        assert!(Username::parse(&format!("{}1000", username_base(Some(&long), None))).is_ok());
    }

    #[test]
    fn via_is_stored_as_the_contract_shows_it() {
        assert_eq!(Via::Password.to_stored(), "password");
        assert_eq!(Via::Oidc("google".into()).to_stored(), "oidc:google");
        assert_eq!(Via::Import.to_stored(), "import");
        assert_eq!(Via::Device.to_stored(), "device");
    }

    #[test]
    fn an_id_token_is_accepted_for_ten_minutes_after_its_iat_and_not_before_it() {
        let now = Timestamp(1_800_000_000_000);
        let at = now.unix_seconds();
        assert!(issued_recently(at, now));
        assert!(issued_recently(at - 600, now));
        assert!(!issued_recently(at - 601, now));
        assert!(issued_recently(at + 60, now));
        assert!(!issued_recently(at + 61, now));
        assert!(!issued_recently(i64::MIN, now));
        assert!(!issued_recently(i64::MAX, now));
    }

    #[test]
    fn a_used_id_token_is_remembered_while_it_could_be_accepted() {
        let iat = 1_800_000_000;
        // A short-lived token: until its exp, and a margin.
        assert_eq!(
            remembered_until(iat, iat + 300),
            Timestamp((iat + 420) * 1000)
        );
        // Ten years of exp: only as long as its iat lets it be accepted.
        assert_eq!(
            remembered_until(iat, iat + 315_360_000),
            Timestamp((iat + 720) * 1000)
        );
        assert!(remembered_until(i64::MAX, i64::MAX).0 > 0);
    }

    #[test]
    fn another_signature_of_the_same_claims_is_the_same_id_token() {
        let one = id_token_digest("corp", "aGVhZA.Y2xhaW1z.c2ln");
        assert_eq!(one, id_token_digest("corp", "aGVhZA.Y2xhaW1z.b3RoZXI"));
        assert_ne!(one, id_token_digest("google", "aGVhZA.Y2xhaW1z.c2ln"));
        assert_ne!(one, id_token_digest("corp", "aGVhZA.Y2xhaW0.c2ln"));
    }

    #[test]
    fn subjects_with_control_characters_or_over_255_characters_are_refused() {
        assert!(is_acceptable_subject("248289761001"));
        assert!(is_acceptable_subject(&"s".repeat(255)));
        assert!(!is_acceptable_subject(&"s".repeat(256)));
        assert!(!is_acceptable_subject("ali\0ce"));
        assert!(!is_acceptable_subject("line\nbreak"));
        assert!(!is_acceptable_subject(""));
    }
}
