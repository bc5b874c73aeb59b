//! What admins do to other users' accounts, shared by the admin API and the
//! console: find users a page at a time, create and change them, and list or
//! revoke their devices. Every function that takes a user id answers
//! `NotFound` for an unknown one.

use super::email_verification::send_verification;
use super::users::{self, CreateUser};
use crate::db::events::What;
use crate::db::users::{self as queries, User};
use crate::db::AnyConnection;
use crate::domain::account::NewAccount;
use crate::domain::email::Email;
use crate::domain::event::{Actor, EventKind, EventSource};
use crate::domain::page::{Page, PageRequest};
use crate::domain::{Password, Timestamp};
use crate::metrics::RevocationCause;
use crate::service::shared::events;
use crate::service::tokens::{self, DeviceView, Revocation};
use crate::service::{Error, Services};
use serde::Serialize;

/// A user as admins see it: never the password hash.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// Whether the user proved `email` is theirs (`POST /register/verify-email`).
    pub email_verified: bool,
    pub is_active: bool,
    pub is_admin: bool,
    /// May introspect other users' keys (`POST /introspect`).
    pub is_service: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<Timestamp>,
    /// Two-factor authentication (TOTP) is on.
    pub two_factor: bool,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id,
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            is_active: user.is_active,
            is_admin: user.is_admin,
            is_service: user.is_service,
            created_at: Timestamp(user.created_at),
            last_login_at: user.last_login_at.map(Timestamp),
            two_factor: user.two_factor,
        }
    }
}

/// A user with their live devices.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub tokens: Vec<DeviceView>,
}

/// One page of users matching a search.
pub type UserPage = Page<UserView>;

/// Users whose username or e-mail contains `search`, without regard to case,
/// by id. A page past the last is `InvalidPage`; page 1 always exists.
pub fn search_users(
    conn: &mut AnyConnection,
    search: &str,
    page: PageRequest,
) -> Result<UserPage, Error> {
    let count = queries::count_matching(conn, search)?;
    let rows = page.read(count, |offset, limit| {
        Ok::<_, Error>(queries::page_matching(conn, search, offset, limit)?)
    })?;
    Ok(rows.map(UserView::from))
}

pub fn user(conn: &mut AnyConnection, user_id: i64) -> Result<User, Error> {
    queries::by_id(conn, user_id)?.ok_or(Error::NotFound)
}

pub fn user_detail(conn: &mut AnyConnection, user_id: i64) -> Result<UserDetail, Error> {
    let user = user(conn, user_id)?;
    let tokens = tokens::list(conn, user.id, None)?;
    Ok(UserDetail {
        user: user.into(),
        tokens,
    })
}

/// A new user, as an admin creates them.
pub struct NewUser {
    pub account: NewAccount,
    pub is_admin: bool,
    pub is_service: bool,
}

pub async fn create_user(
    services: &Services,
    new: NewUser,
    source: &EventSource,
) -> Result<UserView, Error> {
    let NewUser {
        account:
            NewAccount {
                username,
                password,
                email,
            },
        is_admin,
        is_service,
    } = new;
    let hash = services.hasher.hash(password.into_password()).await?;
    let email = email.map(Email::into_string).unwrap_or_default();
    let source = source.clone();
    let created = services
        .db(move |conn| {
            users::create(
                conn,
                CreateUser {
                    username: &username,
                    password_hash: &hash,
                    email: &email,
                    is_admin,
                    is_service,
                },
                &source,
            )
        })
        .await?;
    if !created.email.is_empty() {
        send_verification(services, created.id).await;
    }
    Ok(created.into())
}

/// Changes to a user, already validated; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub is_active: Option<bool>,
    pub is_admin: Option<bool>,
    pub is_service: Option<bool>,
    pub password: Option<Password>,
}

/// Applies the changes at once, as `acting_admin` asked. Deactivating, or
/// setting a password, revokes every token of the user; a new e-mail
/// address is unverified, and a verification mail is asked for. Returns the user as
/// changed, and how many tokens were revoked.
///
/// No admin can deactivate or demote themself, and nobody the last active
/// admin: the service would be left without anyone to run it.
pub async fn update_user(
    services: &Services,
    source: &EventSource,
    user_id: i64,
    changes: UserChanges,
) -> Result<(UserView, usize), Error> {
    let Actor::Admin(acting_admin) = source.actor else {
        return Err(Error::internal("a user update not made by an admin"));
    };
    let source = source.clone();
    let removal = users::Removal {
        deactivates: changes.is_active == Some(false),
        demotes: changes.is_admin == Some(false),
    };
    users::refuse_removing_self(acting_admin, user_id, removal)?;
    // Refuse an unknown user before spending a password hash on it.
    services
        .db(move |conn| user(conn, user_id).map(|_| ()))
        .await?;
    let changed = changes.changed_fields();
    let password_hash = match changes.password {
        Some(password) => Some(services.hasher.hash(password).await?),
        None => None,
    };
    let (view, revoked, email_changed) = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                users::keep_an_active_admin(conn, user_id, removal)?;
                user(conn, user_id)?;
                let mut revoked = 0;
                let mut email_changed = false;
                if let Some(email) = &changes.email {
                    email_changed = queries::set_email(conn, user_id, email)? > 0;
                }
                if let Some(is_admin) = changes.is_admin {
                    queries::set_admin(conn, user_id, is_admin)?;
                }
                if let Some(is_service) = changes.is_service {
                    queries::set_service(conn, user_id, is_service)?;
                }
                if let Some(is_active) = changes.is_active {
                    revoked += users::set_active(conn, user_id, is_active, &source)?;
                }
                if !changed.is_empty() {
                    let updated = What::to_user(EventKind::UserUpdated, user_id).detail(&changed);
                    events::record(conn, &source, updated, Timestamp::now())?;
                }
                if let Some(hash) = &password_hash {
                    revoked += users::set_password(conn, user_id, hash, &source)?;
                }
                Ok((user(conn, user_id)?.into(), revoked, email_changed))
            })
        })
        .await?;
    services.metrics.revoked(RevocationCause::Admin, revoked);
    if email_changed {
        send_verification(services, user_id).await;
    }
    Ok((view, revoked))
}

impl UserChanges {
    /// The fields a change sets, comma-separated (a `user_updated`
    /// event's detail: which, never their values); a new password is a
    /// `password_changed` event of its own.
    fn changed_fields(&self) -> String {
        let fields = [
            ("email", self.email.is_some()),
            ("is_active", self.is_active.is_some()),
            ("is_admin", self.is_admin.is_some()),
            ("is_service", self.is_service.is_some()),
        ];
        let named: Vec<&str> = fields
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect();
        named.join(",")
    }
}

/// The user's live devices, without `current`.
pub fn user_devices(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<DeviceView>, Error> {
    user(conn, user_id)?;
    tokens::list(conn, user_id, None)
}

/// Revokes one device of the user; `NotFound` for an unknown user or client.
pub async fn revoke_device(
    services: &Services,
    source: &EventSource,
    user_id: i64,
    client: String,
) -> Result<(), Error> {
    services.db(move |conn| user(conn, user_id)).await?;
    tokens::revoke_counted(
        services,
        Revocation::Device { user_id, client },
        RevocationCause::Admin,
        source,
    )
    .await?;
    Ok(())
}

/// Revokes every device of the user; returns how many.
pub async fn revoke_all_devices(
    services: &Services,
    source: &EventSource,
    user_id: i64,
) -> Result<usize, Error> {
    services.db(move |conn| user(conn, user_id)).await?;
    tokens::revoke_counted(
        services,
        Revocation::All { user_id },
        RevocationCause::Admin,
        source,
    )
    .await
}
