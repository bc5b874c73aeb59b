//! Social login: `POST /login/oidc/{provider}` signs a user in with an ID
//! token from an OpenID Connect provider, sent by a native app that signed
//! in itself (`id_token`) or obtained here by exchanging an authorization
//! code with PKCE at the provider's token endpoint (`code`).
//!
//! The ID token is checked against its provider ([`providers`]). The user
//! is then the one linked to (provider, `sub`), else (with
//! `OIDC_LINK_BY_EMAIL=verified`) the one non-admin user whose own verified
//! e-mail is the one the provider vouches for, else a new user with an
//! unusable password; each ID token signs in once. The token is
//! issued by the same use case as `POST /login`, under its throttle and
//! client limit.

pub mod providers;

use self::providers::{Proof, Vouched};
use super::credentials::allow_sign_in;
use super::device_key::SignInDevice;
use super::login::count_login;
use super::throttle::{under_throttle, Guess};
use super::two_factor;
use crate::db::events::What;
use crate::db::identities::{self, LinkedUser};
use crate::db::{used_id_tokens, users, AnyConnection};
use crate::domain::event::{EventKind, EventSource};
use crate::domain::oidc::{username_base, LinkByEmail, Via};
use crate::domain::{Timestamp, Username};
use crate::service::shared::events;
use crate::service::tokens::{self, CheckedHash, IssuedToken};
use crate::service::{Error, Services};
use rand::distributions::{Alphanumeric, DistString};

use crate::domain::messages::PROVIDER_REFUSED;

#[derive(Debug)]
pub struct OidcLoginRequest {
    pub provider: String,
    pub proof: Proof,
    /// When sent, the ID token's `nonce` must be this.
    pub nonce: Option<String>,
    /// The device signing in, and the key it asks for.
    pub device: SignInDevice,
}

/// `POST /login/oidc/{provider}`: a new token for the client of the user
/// the provider's ID token stands for. `NotFound` for a provider that is not
/// configured; any failed check is the contract's one field error.
pub async fn login(
    services: &Services,
    request: OidcLoginRequest,
    source: &EventSource,
) -> Result<IssuedToken, Error> {
    let provider = services
        .oidc
        .get(&request.provider)
        .ok_or(Error::NotFound)?;
    request.device.key.check(&services.settings)?;
    // The login throttle counts failures per username and per address; here
    // no username is known before the token is checked, so the provider and
    // the address stand for it (a provider-wide count would let anyone lock
    // everyone out of it with a few bad tokens).
    let throttled_as = match source.ip {
        Some(address) => format!("oidc:{}@{address}", provider.config.name),
        None => format!("oidc:{}", provider.config.name),
    };
    // The provider and address stand for the username here: nothing a
    // proof could be of.
    let guess = Guess::sign_in("oidc", &throttled_as, &[], source);
    let outcome = under_throttle(services, guess, async {
        let (vouched, used) = provider
            .verified_claims(&services.oidc.http, request.proof, request.nonce.as_deref())
            .await?;
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
        let otp = request.device.otp.as_deref();
        let proofs = &request.device.device_proofs;
        two_factor::check_second_factor(
            services,
            user.id,
            user.two_factor,
            otp,
            proofs,
            source,
            "oidc",
        )
        .await?;
        allow_sign_in(&services.settings, &user.email, user.email_verified)?;
        let via = Via::Oidc(provider.config.name.clone());
        let limits = tokens::IssueLimits::of(&services.settings);
        let source = source.clone();
        services
            .db(move |conn| {
                // Spent in the transaction that issues the token: a sign-in
                // refused after this point (client limit, a deactivation)
                // leaves the token unspent, as one refused before it does
                // (a second factor still to send).
                crate::db::transaction(conn, |conn| {
                    if !used_id_tokens::use_once(
                        conn,
                        &used.digest,
                        used.remembered_until.millis(),
                    )? {
                        log::info!("OpenID sign-in refused: the ID token was used already");
                        return Err(Error::BadCredentials);
                    }
                    limits.issue(
                        conn,
                        user.id,
                        CheckedHash::kept(&user.password_hash),
                        request.device.key.grant(&source),
                        &via,
                    )
                })
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
/// verified e-mail when `OIDC_LINK_BY_EMAIL=verified` and exactly one
/// non-admin user has it verified here; else a new user (with the
/// provider's address even when an unverified user holds it too: e-mail
/// addresses are not unique, and that user stays as it was). The link is
/// written in the same transaction.
fn user_for(
    conn: &mut AnyConnection,
    provider: &str,
    vouched: &Vouched,
    link_by_email: LinkByEmail,
    now: Timestamp,
    source: &EventSource,
) -> Result<LinkedUser, Error> {
    crate::db::transaction::<_, Error, _>(conn, |conn| {
        if let Some(user) = identities::user_of(conn, provider, &vouched.subject)? {
            return Ok(user);
        }
        let by_email = match (&vouched.email, link_by_email, vouched.email_verified) {
            (Some(email), LinkByEmail::Verified, true) => {
                let mut found = identities::linkable_by_email(conn, email)?;
                // Two users with one verified address: which one is meant is
                // not ours to guess, so neither is taken over.
                match found.len() {
                    1 => found.pop(),
                    _ => None,
                }
            }
            _ => None,
        };
        // A user found by e-mail is taken as it is: its address was
        // verified here already, and nothing else about it changes.
        let user = match by_email {
            Some(user) => user,
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
