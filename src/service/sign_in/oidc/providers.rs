//! The OpenID Connect providers of social login, and the checks of an ID
//! token against one of them.
//!
//! Each provider's discovery document and keys (JWKS) are fetched on first
//! use and cached; a token signed with a key the cache does not know (the
//! provider rotated its keys) refreshes the keys once, at most every
//! [`KEYS_REFRESH_MIN_INTERVAL`]. Every call to a provider has a timeout
//! (`OidcSettings::oidc_http_timeout`): a provider that is down or hangs is
//! `Unavailable`, and for [`RETRY_AFTER_FAILURE`] after a failed fetch the
//! answer is given at once instead of waiting on it again.
//!
//! The token's checks (signature, `iss`, `aud`, `exp`, `nonce` when sent)
//! are openidconnect's; its `iat` (at most `ID_TOKEN_MAX_AGE` old), a low-S
//! ECDSA signature and its `sub` are checked here too. That it is used
//! once is the sign-in's check, in the database.

use crate::domain::email::Email;
use crate::domain::jws;
use crate::domain::oidc::{
    id_token_digest, is_acceptable_subject, issued_recently, remembered_until, OidcProvider,
    OidcProviders, ID_TOKEN_MAX_AGE,
};
use crate::domain::Timestamp;
use crate::service::shared::outbound;
use crate::service::Error;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, SignatureVerificationError, TokenResponse,
};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A discovery document is fetched again after this long.
const METADATA_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Unknown key ids refresh the keys at most this often, so that tokens with
/// made-up `kid`s cannot make us hammer the provider.
pub const KEYS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// After a failed fetch, requests are answered `Unavailable` at once for
/// this long instead of each waiting out the timeout again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// Signature algorithms accepted for ID tokens: the asymmetric ones
/// providers use (Google and most others RS256). Never `none`, and not the
/// HMACs keyed with the client secret, which every holder of the secret
/// could forge.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 7] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// What proves the sign-in.
#[derive(Debug)]
pub enum Proof {
    /// An ID token the app obtained itself.
    IdToken(String),
    /// An authorization code, exchanged here with the PKCE verifier.
    Code {
        code: String,
        redirect_uri: String,
        code_verifier: String,
    },
}

/// The configured providers, with what was fetched from each.
#[derive(Clone)]
pub struct Providers {
    pub(super) http: reqwest::Client,
    providers: Arc<Vec<Provider>>,
}

pub(super) struct Provider {
    pub(super) config: OidcProvider,
    issuer: IssuerUrl,
    state: Mutex<Fetched>,
}

/// The cache of one provider. Behind an async mutex held while fetching, so
/// concurrent first sign-ins wait for one fetch instead of each making one.
#[derive(Default)]
struct Fetched {
    metadata: Option<(Arc<CoreProviderMetadata>, Instant)>,
    keys_refreshed_at: Option<Instant>,
    failed_at: Option<Instant>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

impl Providers {
    /// The providers of `OIDC_PROVIDERS`; nothing is fetched until used.
    pub fn new(configured: &OidcProviders, timeout: Duration) -> Result<Self, String> {
        let http = outbound::client(timeout, "OpenID Connect providers")?;
        let providers = configured
            .0
            .iter()
            .map(|config| {
                let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| {
                    format!(
                        "OIDC_{}_ISSUER: {e}",
                        config.name.to_ascii_uppercase().replace('-', "_")
                    )
                })?;
                Ok(Provider {
                    config: config.clone(),
                    issuer,
                    state: Mutex::new(Fetched::default()),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Providers {
            http,
            providers: Arc::new(providers),
        })
    }

    /// Whether `name` is a configured provider: an unknown one is `404`
    /// whatever else the request holds.
    pub fn is_configured(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(super) fn get(&self, name: &str) -> Option<&Provider> {
        self.providers
            .iter()
            .find(|provider| provider.config.name == name)
    }
}

impl Provider {
    fn unavailable(&self, what: &str, cause: impl std::fmt::Display) -> Error {
        Error::unavailable(format!(
            "OpenID provider {:?}: {what}: {cause}",
            self.config.name
        ))
    }

    /// The discovery document with its keys, from the cache or the provider.
    async fn metadata(&self, http: &reqwest::Client) -> Result<Arc<CoreProviderMetadata>, Error> {
        let mut state = self.state.lock().await;
        if let Some((metadata, at)) = &state.metadata {
            if at.elapsed() < METADATA_MAX_AGE {
                return Ok(metadata.clone());
            }
        }
        if state
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
        {
            return Err(self.unavailable("discovery", "failed moments ago"));
        }
        match CoreProviderMetadata::discover_async(self.issuer.clone(), http).await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                // Not a refresh: the first token naming a key this document
                // lacks may still fetch the keys once.
                state.metadata = Some((metadata.clone(), Instant::now()));
                state.failed_at = None;
                Ok(metadata)
            }
            Err(error) => {
                state.failed_at = Some(Instant::now());
                match &state.metadata {
                    // A day-old document beats none while the provider is away.
                    Some((stale, _)) => {
                        log::warn!(
                            "OpenID provider {:?}: discovery failed, using the cached document: {error}",
                            self.config.name
                        );
                        Ok(stale.clone())
                    }
                    None => Err(self.unavailable("discovery", error)),
                }
            }
        }
    }

    /// Fetches the keys again after a token named a key `seen` did not
    /// have; `None` when they were refreshed too recently to try again.
    async fn refreshed_keys(
        &self,
        http: &reqwest::Client,
        seen: &Arc<CoreProviderMetadata>,
    ) -> Result<Option<Arc<CoreProviderMetadata>>, Error> {
        let mut state = self.state.lock().await;
        let current = state
            .metadata
            .as_ref()
            .map(|(metadata, _)| metadata.clone());
        if let Some(current) = current.filter(|current| !Arc::ptr_eq(current, seen)) {
            // Another sign-in refreshed them meanwhile.
            return Ok(Some(current));
        }
        if state
            .keys_refreshed_at
            .is_some_and(|at| at.elapsed() < KEYS_REFRESH_MIN_INTERVAL)
        {
            return Ok(None);
        }
        state.keys_refreshed_at = Some(Instant::now());
        let keys = JsonWebKeySet::fetch_async(seen.jwks_uri(), http)
            .await
            .map_err(|e| self.unavailable("fetching its keys", e))?;
        let metadata = Arc::new(seen.as_ref().clone().set_jwks(keys));
        state.metadata = Some((metadata.clone(), Instant::now()));
        Ok(Some(metadata))
    }

    fn client(&self, metadata: &CoreProviderMetadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
    }

    /// The ID token the proof stands for: the one sent, or the one the
    /// token endpoint gives for the code.
    async fn id_token(
        &self,
        http: &reqwest::Client,
        metadata: &CoreProviderMetadata,
        proof: Proof,
    ) -> Result<CoreIdToken, Error> {
        let (code, redirect_uri, code_verifier) = match proof {
            Proof::IdToken(token) => {
                return CoreIdToken::from_str(&token).map_err(|_| Error::BadCredentials)
            }
            Proof::Code {
                code,
                redirect_uri,
                code_verifier,
            } => (code, redirect_uri, code_verifier),
        };
        let redirect_uri = RedirectUrl::new(redirect_uri).map_err(|_| Error::BadCredentials)?;
        let client = self.client(metadata).set_redirect_uri(redirect_uri);
        let exchanged = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| self.unavailable("its discovery document has no token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(code_verifier))
            .request_async(http)
            .await;
        match exchanged {
            Ok(response) => response.id_token().cloned().ok_or(Error::BadCredentials),
            // A used, expired or unknown code, a wrong verifier or redirect URI.
            Err(RequestTokenError::ServerResponse(_)) => Err(Error::BadCredentials),
            Err(error) => Err(self.unavailable("exchanging the code", error)),
        }
    }

    /// Checks the ID token against the provider's keys and our client id,
    /// refreshing the keys once when it names one we do not have; returns
    /// what it vouches for, and what remembers it as used once it signs in.
    pub(super) async fn verified_claims(
        &self,
        http: &reqwest::Client,
        proof: Proof,
        nonce: Option<&str>,
    ) -> Result<(Vouched, IdTokenUse), Error> {
        let metadata = self.metadata(http).await?;
        let id_token = self.id_token(http, &metadata, proof).await?;
        let compact = id_token.to_string();
        // ECDSA's `s` and `n - s` both verify: only the low one is taken, so
        // that one set of claims has one token string.
        if !jws::has_low_s_signature(&compact) {
            log::info!(
                "OpenID provider {:?}: ID token refused: a high-S ECDSA signature",
                self.config.name
            );
            return Err(Error::BadCredentials);
        }
        let claims = match self.check(&metadata, &id_token, nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => match self.refreshed_keys(http, &metadata).await? {
                Some(refreshed) => self.check(&refreshed, &id_token, nonce),
                None => Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )),
            },
            checked => checked,
        }
        .map_err(|error| {
            log::info!(
                "OpenID provider {:?}: ID token refused: {error}",
                self.config.name
            );
            Error::BadCredentials
        })?;
        let vouched = Vouched::from(&claims);
        if !is_acceptable_subject(&vouched.subject) {
            log::info!(
                "OpenID provider {:?}: ID token refused: its sub is over 255 characters or holds control characters",
                self.config.name
            );
            return Err(Error::BadCredentials);
        }
        let used = IdTokenUse {
            digest: id_token_digest(&self.config.name, &compact),
            remembered_until: remembered_until(
                claims.issue_time().timestamp(),
                claims.expiration().timestamp(),
            ),
        };
        Ok((vouched, used))
    }

    fn check(
        &self,
        metadata: &CoreProviderMetadata,
        id_token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let client = self.client(metadata);
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS)
            .set_issue_time_verifier_fn(|iat| {
                match issued_recently(iat.timestamp(), Timestamp::now()) {
                    true => Ok(()),
                    false => Err(format!(
                        "issued at {iat}: more than {} s ago, or in the future",
                        ID_TOKEN_MAX_AGE.as_secs()
                    )),
                }
            });
        let claims = match nonce {
            Some(nonce) => id_token.claims(&verifier, &Nonce::new(nonce.to_owned()))?,
            // The contract checks the nonce only when the app sends it.
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(()))?,
        };
        Ok(claims.clone())
    }
}

/// An accepted ID token, as it is remembered once it has signed someone in.
#[derive(Debug, Clone, Copy)]
pub(super) struct IdTokenUse {
    pub(super) digest: [u8; 32],
    pub(super) remembered_until: Timestamp,
}

/// What a verified ID token says about its user.
#[derive(Debug, Clone)]
pub(super) struct Vouched {
    pub(super) subject: String,
    pub(super) email: Option<String>,
    pub(super) email_verified: bool,
    pub(super) preferred_username: Option<String>,
}

impl From<&CoreIdTokenClaims> for Vouched {
    fn from(claims: &CoreIdTokenClaims) -> Self {
        Vouched {
            subject: claims.subject().as_str().to_owned(),
            email: claims
                .email()
                .and_then(|email| Email::parse(email.as_str()).ok())
                .map(Email::into_string),
            email_verified: claims.email_verified() == Some(true),
            preferred_username: claims
                .preferred_username()
                .map(|name| name.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_is_looked_up_by_its_configured_name_only() {
        let configured = OidcProviders(vec![OidcProvider {
            name: "corp".into(),
            issuer: "http://127.0.0.1:9".into(),
            client_id: "mt".into(),
            client_secret: "s".into(),
        }]);
        let providers = Providers::new(&configured, Duration::from_secs(1)).unwrap();
        assert!(providers.get("corp").is_some());
        assert!(providers.get("Corp").is_none());
        assert!(providers.get("google").is_none());
    }
}
