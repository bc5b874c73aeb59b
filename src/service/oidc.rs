//! Social login: `POST /login/oidc/{provider}` signs a user in with an ID
//! token from an OpenID Connect provider, sent by a native app that signed
//! in itself (`id_token`) or obtained here by exchanging an authorization
//! code with PKCE at the provider's token endpoint (`code`).
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
//! are openidconnect's. The user is then the one linked to (provider,
//! `sub`), else (with `OIDC_LINK_BY_EMAIL=verified`) the one user with the
//! e-mail the provider vouches for, else a new user with an unusable
//! password; the token is issued by the same use case as `POST /login`,
//! under its throttle and client limit.

use super::email_verification::allow_sign_in;
use super::login::count_login;
use super::throttle::{under_throttle, Guess};
use super::tokens::{self, CheckedHash, Grant, IssuedToken};
use super::two_factor;
use super::{events, Error, Services};
use crate::db::events::What;
use crate::db::identities::{self, LinkedUser};
use crate::db::{users, AnyConnection};
use crate::domain::email::is_valid_email;
use crate::domain::event::{EventKind, EventSource};
use crate::domain::oidc::{username_base, LinkByEmail, OidcProvider, OidcProviders, Via};
use crate::domain::{ClientName, Scopes, Timestamp, Username};
use diesel::Connection;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, SignatureVerificationError, TokenResponse,
};
use rand::distributions::{Alphanumeric, DistString};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The contract's answer to any failed check.
pub const PROVIDER_REFUSED: &str = "Unable to log in with the provider.";

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

#[derive(Debug)]
pub struct OidcLoginRequest {
    pub provider: String,
    pub proof: Proof,
    /// When sent, the ID token's `nonce` must be this.
    pub nonce: Option<String>,
    pub client: ClientName,
    pub scopes: Scopes,
    /// The second factor, when the user has two-factor on.
    pub otp: Option<String>,
}

/// The configured providers, with what was fetched from each.
#[derive(Clone)]
pub struct Providers {
    http: reqwest::Client,
    providers: Arc<Vec<Provider>>,
}

struct Provider {
    config: OidcProvider,
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
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            // As openidconnect advises: a redirect could lead the server's
            // requests anywhere (SSRF), and providers do not redirect these.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the HTTP client for OpenID Connect providers: {e}"))?;
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

    fn get(&self, name: &str) -> Option<&Provider> {
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
    /// refreshing the keys once when it names one we do not have.
    async fn verified_claims(
        &self,
        http: &reqwest::Client,
        proof: Proof,
        nonce: Option<&str>,
    ) -> Result<CoreIdTokenClaims, Error> {
        let metadata = self.metadata(http).await?;
        let id_token = self.id_token(http, &metadata, proof).await?;
        match self.check(&metadata, &id_token, nonce) {
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
        })
    }

    fn check(
        &self,
        metadata: &CoreProviderMetadata,
        id_token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let client = self.client(metadata);
        let verifier = client.id_token_verifier().set_allowed_algs(ALLOWED_ALGS);
        let claims = match nonce {
            Some(nonce) => id_token.claims(&verifier, &Nonce::new(nonce.to_owned()))?,
            // The contract checks the nonce only when the app sends it.
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(()))?,
        };
        Ok(claims.clone())
    }
}

/// What a verified ID token says about its user.
#[derive(Debug, Clone)]
struct Vouched {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    preferred_username: Option<String>,
}

impl From<&CoreIdTokenClaims> for Vouched {
    fn from(claims: &CoreIdTokenClaims) -> Self {
        Vouched {
            subject: claims.subject().as_str().to_owned(),
            email: claims
                .email()
                .map(|email| email.as_str().to_owned())
                .filter(|email| is_valid_email(email)),
            email_verified: claims.email_verified() == Some(true),
            preferred_username: claims
                .preferred_username()
                .map(|name| name.as_str().to_owned()),
        }
    }
}

/// `POST /login/oidc/{provider}`: a new token for the client of the user
/// the provider's ID token stands for. `NotFound` for a provider that is not
/// configured; any failed check is the contract's one field error.
pub async fn login(
    services: &Services,
    request: OidcLoginRequest,
    source: &EventSource,
) -> Result<IssuedToken, Error> {
    let OidcLoginRequest {
        provider,
        proof,
        nonce,
        client,
        scopes,
        otp,
    } = request;
    let provider = services.oidc.get(&provider).ok_or(Error::NotFound)?;
    services
        .settings
        .tokens
        .allowed_scopes
        .check(&scopes)
        .map_err(|message| Error::field("scopes", message))?;
    // The login throttle counts failures per username and per address; here
    // no username is known before the token is checked, so the provider and
    // the address stand for it (a provider-wide count would let anyone lock
    // everyone out of it with a few bad tokens).
    let throttled_as = match source.ip {
        Some(address) => format!("oidc:{}@{address}", provider.config.name),
        None => format!("oidc:{}", provider.config.name),
    };
    let guess = Guess {
        username: &throttled_as,
        counts_address: true,
        source,
        action: "oidc",
    };
    let outcome = under_throttle(services, guess, async {
        let claims = provider
            .verified_claims(&services.oidc.http, proof, nonce.as_deref())
            .await?;
        let vouched = Vouched::from(&claims);
        let name = provider.config.name.clone();
        let link_by_email = services.settings.oidc.oidc_link_by_email;
        let found_by = source.clone();
        let user = services
            .db(move |conn| {
                let mut find = || {
                    user_for(
                        conn,
                        &name,
                        &vouched,
                        link_by_email,
                        Timestamp::now(),
                        &found_by,
                    )
                };
                match find() {
                    // A concurrent first sign-in of the same subject linked it
                    // (or took the same new username) first: now it is found.
                    Err(error) if lost_a_race(&error) => find(),
                    other => other,
                }
            })
            .await?;
        // As after the password check of `POST /login`: the second factor,
        // then mandatory e-mail verification; an inactive user is refused by
        // `tokens::issue_via` itself.
        two_factor::check_second_factor(services, user.id, user.two_factor, otp.as_deref()).await?;
        allow_sign_in(&services.settings, &user.email, user.email_verified)?;
        let via = Via::Oidc(provider.config.name.clone());
        let policy = services.settings.tokens.policy();
        let max_clients = services.settings.tokens.max_clients_per_user;
        let source = source.clone();
        services
            .db(move |conn| {
                tokens::issue_via(
                    conn,
                    user.id,
                    CheckedHash::kept(&user.password_hash),
                    Grant {
                        client,
                        scopes,
                        source: &source,
                    },
                    &via,
                    Timestamp::now(),
                    &policy,
                    max_clients,
                )
            })
            .await
    })
    .await;
    count_login(services, &outcome);
    if let Ok(issued) = &outcome {
        super::new_device::tell_if_new(services, issued, source).await;
    }
    outcome.map_err(|error| match error {
        Error::BadCredentials => Error::field("non_field_errors", PROVIDER_REFUSED),
        other => other,
    })
}

/// Whether `error` is a unique key taken by a concurrent transaction.
fn lost_a_race(error: &Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as Diesel};
    matches!(
        error,
        Error::Internal(cause) if matches!(
            cause.downcast_ref::<Diesel>(),
            Some(Diesel::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
        )
    )
}

/// The user the provider's (subject) signs in as: linked already; else by a
/// verified e-mail when `OIDC_LINK_BY_EMAIL=verified` and exactly one user
/// has it; else a new user. The link is written in the same transaction.
fn user_for(
    conn: &mut AnyConnection,
    provider: &str,
    vouched: &Vouched,
    link_by_email: LinkByEmail,
    now: Timestamp,
    source: &EventSource,
) -> Result<LinkedUser, Error> {
    conn.transaction::<_, Error, _>(|conn| {
        if let Some(user) = identities::user_of(conn, provider, &vouched.subject)? {
            return Ok(user);
        }
        let by_email = match (&vouched.email, link_by_email, vouched.email_verified) {
            (Some(email), LinkByEmail::Verified, true) => {
                let mut found = identities::users_by_email(conn, email)?;
                // Two users with one address: which one is meant is not ours
                // to guess, so neither is taken over.
                match found.len() {
                    1 => found.pop(),
                    _ => None,
                }
            }
            _ => None,
        };
        let user = match by_email {
            // Linked because the provider vouches for this address: it is
            // verified, as a verification link would have made it.
            Some(mut user) => {
                if !user.email_verified
                    && crate::db::email_verification::mark_verified(conn, user.id, &user.email)? > 0
                {
                    user.email_verified = true;
                }
                user
            }
            None => {
                let user = new_user(conn, vouched, now)?;
                let via = Via::Oidc(provider.to_owned()).to_stored();
                let created = What::to_user(EventKind::UserCreated, user.id).detail(&via);
                events::record(conn, source, created, now)?;
                user
            }
        };
        identities::link(conn, provider, &vouched.subject, user.id, now.millis())?;
        Ok(user)
    })
}

/// A new user named after the token (made unique with a number), with the
/// token's e-mail, and a password no password matches until one is set by
/// a reset (Django's marker for unusable passwords: `!` and random text).
fn new_user(
    conn: &mut AnyConnection,
    vouched: &Vouched,
    now: Timestamp,
) -> Result<LinkedUser, Error> {
    let base = username_base(
        vouched.preferred_username.as_deref(),
        vouched.email.as_deref(),
    );
    let unusable = format!(
        "!{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
    );
    let numbered = (2..1000).map(|n| format!("{base}{n}"));
    let random = std::iter::repeat_with(|| {
        let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 8);
        format!("{base}-{suffix}")
    })
    .take(5);
    for candidate in std::iter::once(base.clone()).chain(numbered).chain(random) {
        let username = Username::parse(&candidate).map_err(Error::internal)?;
        let key = username.key();
        if users::username_key_taken(conn, &key)? {
            continue;
        }
        let user = users::insert(
            conn,
            &users::NewUser {
                username: username.as_str(),
                username_key: &key,
                password_hash: &unusable,
                email: vouched.email.as_deref().unwrap_or(""),
                is_active: true,
                is_admin: false,
                is_service: false,
                created_at: now.millis(),
            },
        )?;
        // The provider vouches for the address: nothing left to verify.
        let email_verified = vouched.email_verified && !user.email.is_empty();
        if email_verified {
            crate::db::email_verification::mark_verified(conn, user.id, &user.email)?;
        }
        return Ok(LinkedUser {
            id: user.id,
            password_hash: unusable,
            is_active: true,
            email: user.email,
            email_verified,
            two_factor: false,
        });
    }
    Err(Error::internal(format!(
        "no free username starting with {base:?}"
    )))
}

/// An account at a provider that signs in as a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub provider: String,
    pub subject: String,
    pub linked_at: Timestamp,
}

/// A user's linked identities, oldest first (the console's user page).
pub fn identities_of(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<LinkedIdentity>, Error> {
    Ok(identities::for_user(conn, user_id)?
        .into_iter()
        .map(|identity| LinkedIdentity {
            provider: identity.provider,
            subject: identity.subject,
            linked_at: Timestamp(identity.created_at),
        })
        .collect())
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
