//! Creating and managing users, shared by the command line and the API.

use crate::db::events::What;
use crate::db::users::{self, NewUser, User};
use crate::db::AnyConnection;
use crate::domain::event::{EventKind, EventSource, RevokedBy};
use crate::domain::username::lookup_key;
use crate::domain::FieldErrors;
use crate::domain::{Timestamp, Username};
use crate::service::shared::events;
use crate::service::Error;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::messages::{
    CANNOT_DEACTIVATE_LAST_ADMIN, CANNOT_DEACTIVATE_SELF, CANNOT_DEMOTE_LAST_ADMIN,
    CANNOT_DEMOTE_SELF, USERNAME_TAKEN,
};

pub struct CreateUser<'a> {
    pub username: &'a Username,
    pub password_hash: &'a str,
    pub email: &'a str,
    pub is_admin: bool,
    pub is_service: bool,
}

/// Creates the user, with its `user_created` event (by `source`).
pub fn create(
    conn: &mut AnyConnection,
    new: CreateUser<'_>,
    source: &EventSource,
) -> Result<User, Error> {
    let key = new.username.key();
    let now = Timestamp::now();
    crate::db::transaction(conn, |conn| {
        let inserted = users::insert(
            conn,
            &NewUser {
                username: new.username.as_str(),
                username_key: &key,
                password_hash: new.password_hash,
                email: new.email,
                is_active: true,
                is_admin: new.is_admin,
                is_service: new.is_service,
                created_at: now.millis(),
            },
        );
        let user = match inserted {
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(Error::Invalid(FieldErrors::single(
                    "username",
                    USERNAME_TAKEN,
                )))
            }
            other => other?,
        };
        events::record(
            conn,
            source,
            What::to_user(EventKind::UserCreated, user.id),
            now,
        )?;
        Ok(user)
    })
}

/// The user of that name (without regard to case), or `NotFound`.
pub fn find(conn: &mut AnyConnection, name: &str) -> Result<User, Error> {
    users::by_key(conn, &lookup_key(name))?.ok_or(Error::NotFound)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<User>, Error> {
    Ok(users::all(conn)?)
}

/// Stores a new password hash, set by someone else than the user (an
/// admin, the command line); every token of the user is revoked with it,
/// and both are recorded.
pub fn set_password(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
    source: &EventSource,
) -> Result<usize, Error> {
    crate::db::transaction(conn, |conn| {
        let revoked = users::set_password_and_revoke_tokens(conn, user_id, password_hash)?;
        let now = Timestamp::now();
        events::record(
            conn,
            source,
            What::to_user(EventKind::PasswordChanged, user_id),
            now,
        )?;
        events::revoked(conn, source, RevokedBy::PasswordChange, &revoked, now)
    })
}

/// Activates or deactivates the user (call it in a transaction): a
/// deactivation revokes every token, recorded as such. Returns how many.
pub fn set_active(
    conn: &mut AnyConnection,
    user_id: i64,
    is_active: bool,
    source: &EventSource,
) -> Result<usize, Error> {
    let revoked = users::set_active(conn, user_id, is_active)?;
    events::revoked(
        conn,
        source,
        RevokedBy::Deactivated,
        &revoked,
        Timestamp::now(),
    )
}

/// What a change takes away from a user, as far as the admin guards care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removal {
    pub deactivates: bool,
    pub demotes: bool,
}

impl Removal {
    pub fn any(self) -> bool {
        self.deactivates || self.demotes
    }

    /// Refuses what this removal takes away, each under its field
    /// (`is_active`, `is_admin`) with its message.
    fn refuse(self, deactivating: &str, demoting: &str) -> Result<(), Error> {
        let mut errors = FieldErrors::new();
        if self.deactivates {
            errors.add("is_active", deactivating);
        }
        if self.demotes {
            errors.add("is_admin", demoting);
        }
        Ok(errors.into_result()?)
    }
}

/// Refuses an admin's change that takes their own account or admin rights
/// away: nobody is left to undo it if they were the only admin, and a
/// stolen admin session cannot lock the owner out this way.
pub fn refuse_removing_self(
    acting_admin: i64,
    user_id: i64,
    removal: Removal,
) -> Result<(), Error> {
    if acting_admin != user_id {
        return Ok(());
    }
    removal.refuse(CANNOT_DEACTIVATE_SELF, CANNOT_DEMOTE_SELF)
}

/// Refuses a change that would leave no active admin. Call it first in the
/// transaction of the change: it locks the admins until that ends.
pub fn keep_an_active_admin(
    conn: &mut AnyConnection,
    user_id: i64,
    removal: Removal,
) -> Result<(), Error> {
    if !removal.any() {
        return Ok(());
    }
    let admins = users::lock_active_admins(conn)?;
    if admins != [user_id] {
        return Ok(());
    }
    removal.refuse(CANNOT_DEACTIVATE_LAST_ADMIN, CANNOT_DEMOTE_LAST_ADMIN)
}

/// Deactivates the user; every token is revoked with it, at once. The last
/// active admin cannot be deactivated.
pub fn deactivate(
    conn: &mut AnyConnection,
    user_id: i64,
    source: &EventSource,
) -> Result<usize, Error> {
    crate::db::transaction(conn, |conn| {
        let removal = Removal {
            deactivates: true,
            demotes: false,
        };
        keep_an_active_admin(conn, user_id, removal)?;
        let revoked = set_active(conn, user_id, false, source)?;
        let updated = What::to_user(EventKind::UserUpdated, user_id).detail("is_active");
        events::record(conn, source, updated, Timestamp::now())?;
        Ok(revoked)
    })
}
