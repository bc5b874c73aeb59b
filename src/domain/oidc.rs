//! Social login's settings: the OpenID Connect providers by name
//! (`OIDC_PROVIDERS`, then `OIDC_<NAME>_ISSUER`, `_CLIENT_ID`,
//! `_CLIENT_SECRET`) and when a provider's verified e-mail links to an
//! existing user (`OIDC_LINK_BY_EMAIL`). Read from a lookup function rather
//! than the process environment, so the rules are unit-tested here.

use super::username::{normalize, Username};
use std::fmt;

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
}

impl Via {
    pub fn to_stored(&self) -> String {
        match self {
            Via::Password => "password".to_owned(),
            Via::Oidc(provider) => format!("oidc:{provider}"),
            Via::Import => "import".to_owned(),
        }
    }
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
    }
}
