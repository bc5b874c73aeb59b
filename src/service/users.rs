//! Creating and managing users, shared by the command line and the API.

use super::Error;
use crate::db::users::{self, NewUser, User};
use crate::db::AnyConnection;
use crate::domain::username::lookup_key;
use crate::domain::FieldErrors;
use crate::domain::{Timestamp, Username};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;

pub const USERNAME_TAKEN: &str = "A user with that username already exists.";

pub struct CreateUser<'a> {
    pub username: &'a Username,
    pub password_hash: &'a str,
    pub email: &'a str,
    pub is_admin: bool,
    pub is_service: bool,
}

pub fn create(conn: &mut AnyConnection, new: CreateUser<'_>) -> Result<User, Error> {
    let key = new.username.key();
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
            created_at: Timestamp::now().millis(),
        },
    );
    match inserted {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(
            Error::Invalid(FieldErrors::single("username", USERNAME_TAKEN)),
        ),
        other => Ok(other?),
    }
}

/// The user of that name (without regard to case), or `NotFound`.
pub fn find(conn: &mut AnyConnection, name: &str) -> Result<User, Error> {
    users::by_key(conn, &lookup_key(name))?.ok_or(Error::NotFound)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<User>, Error> {
    Ok(users::all(conn)?)
}

/// Stores a new password hash; every token of the user is revoked with it.
pub fn set_password(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
) -> Result<usize, Error> {
    Ok(users::set_password_and_revoke_tokens(
        conn,
        user_id,
        password_hash,
    )?)
}

/// Deactivates the user; every token is revoked with it, at once.
pub fn deactivate(conn: &mut AnyConnection, user_id: i64) -> Result<usize, Error> {
    Ok(conn.transaction(|conn| users::set_active(conn, user_id, false))?)
}
