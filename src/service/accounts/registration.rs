//! Signing up: admitted (open, under `REGISTER_THROTTLE` per client
//! address) before the fields are read, every field checked and every
//! problem reported at once, then the user created and, when a client is
//! named, logged in.

use super::email_verification::{
    registration_may_sign_in, registration_needs_email, send_verification,
};
use super::users::{self, CreateUser};
use crate::db::users::{self as queries, User};
use crate::domain::account::NewAccount;
use crate::domain::email::Email;
use crate::domain::event::EventSource;
use crate::domain::messages::{REGISTRATION_CLOSED, USERNAME_TAKEN};
use crate::domain::oidc::Via;
use crate::domain::registration::Registration;
use crate::domain::FieldErrors;
use crate::domain::{ClientName, Scopes, Username};
use crate::metrics::ThrottledAction;
use crate::service::sign_in::device_key::DeviceKey;
use crate::service::sign_in::throttle::admit_address;
use crate::service::tokens::{self, IssuedToken};
use crate::service::{Error, Services};

/// A registration whose every field passed its rules: the use case adds
/// those that depend on the settings and the database ([`check`]).
pub struct RegisterRequest {
    pub account: NewAccount,
    /// The client to log in on, if any.
    pub client: Option<ClientName>,
    pub scopes: Scopes,
    /// Where the request came from.
    pub source: EventSource,
    /// The thumbprint of the DPoP key the request proved it holds.
    pub dpop_jkt: Option<String>,
}

#[derive(Debug)]
pub struct Registered {
    pub user: User,
    pub token: Option<IssuedToken>,
}

/// Admits an attempt before its fields are read: refused when registration
/// is closed, and counted under `REGISTER_THROTTLE` per client address.
pub async fn admit(services: &Services, source: &EventSource) -> Result<(), Error> {
    if services.settings.accounts.registration == Registration::Closed {
        return Err(Error::Forbidden(REGISTRATION_CLOSED));
    }
    // Every attempt counts, valid or not, before anything else: a flood
    // from one address cannot fill the hashing queue that logins need, nor
    // probe for taken usernames.
    let limit = services.settings.throttles.register_throttle;
    admit_address(
        services,
        source,
        "register",
        limit,
        ThrottledAction::Register,
    )
    .await
}

/// Whether sign-up requires an e-mail address (`EMAIL_VERIFICATION=mandatory`).
pub fn email_required(services: &Services) -> bool {
    registration_needs_email(&services.settings)
}

/// Adds the problems that depend on the settings and the database to those
/// the fields' own rules found, so that all are reported at once: scopes
/// outside `ALLOWED_SCOPES`, and a taken username (checked even when another
/// field failed).
pub async fn check(
    services: &Services,
    username: Option<&Username>,
    scopes: &Scopes,
    errors: &mut FieldErrors,
) -> Result<(), Error> {
    if let Err(message) = services.settings.tokens.allowed_scopes.check(scopes) {
        errors.add("scopes", message);
    }
    if let Some(username) = username {
        // Checked here so that a taken name is reported with the other
        // problems; the unique index still decides races (see `users::create`).
        let key = username.key();
        if services
            .db(move |conn| Ok(queries::username_key_taken(conn, &key)?))
            .await?
        {
            errors.add("username", USERNAME_TAKEN);
        }
    }
    Ok(())
}

/// Creates the user and, when a client is named (and the settings let the
/// new user sign in), logs them in on it. Call [`admit`] and [`check`] first.
pub async fn register(services: &Services, request: RegisterRequest) -> Result<Registered, Error> {
    let RegisterRequest {
        account,
        client,
        scopes,
        source,
        dpop_jkt,
    } = request;
    let key = client.map(|client| DeviceKey {
        client,
        scopes,
        dpop_jkt,
    });
    if let Some(key) = &key {
        key.check_binding(&services.settings)?;
    }
    let password_hash = services
        .hasher
        .hash(account.password.into_password())
        .await?;
    let username = account.username;
    let email = account.email.map(Email::into_string).unwrap_or_default();
    let limits = tokens::IssueLimits::of(&services.settings);
    // Under EMAIL_VERIFICATION=mandatory the user signs in once verified.
    let key = key.filter(|_| registration_may_sign_in(&services.settings));
    // One transaction: a user whose token could not be issued is not left
    // behind, so the client may simply try again.
    let registered = services
        .db(move |conn| {
            crate::db::transaction(conn, |conn| {
                let user = users::create(
                    conn,
                    CreateUser {
                        username: &username,
                        password_hash: &password_hash,
                        email: &email,
                        is_admin: false,
                        is_service: false,
                    },
                    &source,
                )?;
                let token = key
                    .map(|key| {
                        limits.issue(
                            conn,
                            user.id,
                            tokens::CheckedHash::kept(&password_hash),
                            key.grant(&source),
                            &Via::Password,
                        )
                    })
                    .transpose()?;
                Ok(Registered { user, token })
            })
        })
        .await?;
    if !registered.user.email.is_empty() {
        send_verification(services, registered.user.id).await;
    }
    Ok(registered)
}
