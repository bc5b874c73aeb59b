//! Signing up: counted under `REGISTER_THROTTLE` per client address, every
//! field checked and every problem reported at once, then the user created
//! and, when a client is named, logged in.

use super::email_verification::{
    registration_may_sign_in, registration_needs_email, send_verification,
};
use super::users::{self, CreateUser};
use crate::db::users::{self as queries, User};
use crate::domain::email::Email;
use crate::domain::event::EventSource;
use crate::domain::messages::{REGISTRATION_CLOSED, REQUIRED, USERNAME_TAKEN};
use crate::domain::oidc::Via;
use crate::domain::registration::Registration;
use crate::domain::FieldErrors;
use crate::domain::{ClientName, Password, Scopes, Username};
use crate::metrics::ThrottledAction;
use crate::service::sign_in::throttle::{address_scope, count_use};
use crate::service::tokens::{self, IssuedToken};
use crate::service::{Error, Services};
use diesel::Connection;

/// The fields of a registration as they came, after the body's own checks
/// (required, type) recorded their errors in `errors`.
pub struct RegisterRequest {
    pub username: Option<String>,
    pub password: Option<Password>,
    pub email: String,
    pub client: Option<String>,
    /// Already valid (the body's check); checked here against `ALLOWED_SCOPES`.
    pub scopes: Scopes,
    /// Where the request came from: its address is counted under
    /// `REGISTER_THROTTLE`.
    pub source: EventSource,
}

#[derive(Debug)]
pub struct Registered {
    pub user: User,
    pub token: Option<IssuedToken>,
}

pub async fn register(
    services: &Services,
    request: RegisterRequest,
    mut errors: FieldErrors,
) -> Result<Registered, Error> {
    if services.settings.accounts.registration == Registration::Closed {
        return Err(Error::Forbidden(REGISTRATION_CLOSED));
    }
    // Every attempt counts, valid or not, before anything else: a flood
    // from one address cannot fill the hashing queue that logins need, nor
    // probe for taken usernames.
    if let Some(address) = request.source.ip {
        let scopes = vec![address_scope("register", address)];
        count_use(
            services,
            services.settings.throttles.register_throttle,
            scopes,
        )
        .await
        .inspect_err(|error| {
            if matches!(error, Error::Throttled(_)) {
                services.metrics.throttled(ThrottledAction::Register);
            }
        })?;
    }
    let username = request.username.as_deref().and_then(|name| {
        Username::parse(name)
            .map_err(|message| errors.add("username", message))
            .ok()
    });
    if !request.email.is_empty() {
        if let Err(message) = Email::parse(&request.email) {
            errors.add("email", message);
        }
    }
    if request.email.is_empty() && registration_needs_email(&services.settings) {
        errors.add("email", REQUIRED);
    }
    if let Some(password) = &request.password {
        let name = request.username.as_deref().unwrap_or_default();
        for problem in password.problems_as_new_password(name, &request.email) {
            errors.add("password", problem);
        }
    }
    let client = request.client.as_deref().and_then(|client| {
        ClientName::parse(client)
            .map_err(|message| errors.add("client", message))
            .ok()
    });
    if let Err(message) = services
        .settings
        .tokens
        .allowed_scopes
        .check(&request.scopes)
    {
        errors.add("scopes", message);
    }
    if let Some(username) = &username {
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
    errors.into_result()?;
    let (Some(username), Some(password)) = (username, request.password) else {
        return Err(Error::internal("validated registration fields missing"));
    };
    let password_hash = services.hasher.hash(password).await?;
    let email = request.email;
    let limits = tokens::IssueLimits::of(&services.settings);
    let source = request.source;
    let scopes = request.scopes;
    // Under EMAIL_VERIFICATION=mandatory the user signs in once verified.
    let client = client.filter(|_| registration_may_sign_in(&services.settings));
    // One transaction: a user whose token could not be issued is not left
    // behind, so the client may simply try again.
    let registered = services
        .db(move |conn| {
            conn.transaction(|conn| {
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
                let token = client
                    .map(|client| {
                        limits.issue(
                            conn,
                            user.id,
                            tokens::CheckedHash::kept(&password_hash),
                            tokens::Grant {
                                client,
                                scopes,
                                source: &source,
                            },
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
