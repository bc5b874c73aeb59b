//! The first admin (`BOOTSTRAP_ADMIN` and its password): created by `serve`
//! at start when no active admin exists, so that a fresh deployment has
//! someone who can open the console. Once any active admin exists it does
//! nothing, whatever the settings say: it never changes a password or
//! promotes anyone, so leaving the variables set is harmless.

use super::users::{self, CreateUser};
use crate::config::BootstrapSettings;
use crate::db::users::lock_active_admins;
use crate::db::AnyConnection;
use crate::domain::event::{Actor, EventSource};
use crate::domain::{NewPassword, Username};
use crate::service::shared::passwords::hash_blocking;
use crate::service::shared::webhooks::EventContext;
use crate::service::Error;
use std::sync::Arc;

/// What the start did about the first admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// `BOOTSTRAP_ADMIN` is unset.
    NotAsked,
    /// An active admin exists already: nothing was done.
    AdminExists,
    /// The admin was created, with this id.
    Created(i64),
}

/// Creates the configured admin unless an active admin exists. An error is
/// a message for the operator that names the setting and never holds the
/// password. `events` is the context the `user_created` event is recorded
/// in (webhooks included), as a request's would be.
pub fn ensure_admin(
    conn: &mut AnyConnection,
    settings: &BootstrapSettings,
    events: &Arc<EventContext>,
) -> Result<Bootstrap, String> {
    let Some((username, password)) = settings.admin()? else {
        return Ok(Bootstrap::NotAsked);
    };
    let database_error = |error: Error| format!("BOOTSTRAP_ADMIN: {}", error.chain());
    if any_active_admin(conn).map_err(database_error)? {
        log::info!("BOOTSTRAP_ADMIN: an active admin exists, nothing to do");
        return Ok(Bootstrap::AdminExists);
    }
    let password = NewPassword::parse(password, username.as_str(), "")
        .map_err(|problems| format!("BOOTSTRAP_ADMIN_PASSWORD refused: {}", problems.join(" ")))?
        .into_password();
    let hash = hash_blocking(&password).map_err(database_error)?;
    events.install_for_thread();
    let created = crate::db::transaction(conn, |conn| {
        // Locked, so that instances starting together create one admin.
        if !lock_active_admins(conn)?.is_empty() {
            return Ok(None);
        }
        let new = CreateUser {
            username: &username,
            password_hash: &hash,
            email: "",
            is_admin: true,
            is_service: false,
        };
        users::create(conn, new, &EventSource::without_request(Actor::System)).map(Some)
    });
    match created {
        Ok(Some(user)) => {
            log::info!(
                "BOOTSTRAP_ADMIN: created the admin {} (id {})",
                user.username,
                user.id
            );
            Ok(Bootstrap::Created(user.id))
        }
        Ok(None) => Ok(Bootstrap::AdminExists),
        Err(Error::Invalid(_)) => name_taken(conn, &username),
        Err(other) => Err(database_error(other)),
    }
}

/// The name is taken: by the admin another instance has just created (then
/// all is well), or by a user who is not an active admin, whom a start
/// does not promote.
fn name_taken(conn: &mut AnyConnection, username: &Username) -> Result<Bootstrap, String> {
    let user = users::find(conn, username.as_str())
        .map_err(|error| format!("BOOTSTRAP_ADMIN: {}", error.chain()))?;
    if user.is_admin && user.is_active {
        return Ok(Bootstrap::AdminExists);
    }
    Err(format!(
        "BOOTSTRAP_ADMIN: a user named {} exists but is not an active admin, and there is no \
         active admin; choose another name",
        user.username
    ))
}

fn any_active_admin(conn: &mut AnyConnection) -> Result<bool, Error> {
    let admins = crate::db::transaction::<_, diesel::result::Error, _>(conn, lock_active_admins)?;
    Ok(!admins.is_empty())
}
