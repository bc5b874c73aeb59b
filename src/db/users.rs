//! Queries on `users`.

use super::schema::{tokens, users};
use super::AnyConnection;
use diesel::prelude::*;

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// What a login needs to check a password.
#[derive(Debug, Clone, Queryable)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub is_active: bool,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    pub password_hash: &'a str,
    pub email: &'a str,
    pub is_admin: bool,
    pub created_at: i64,
}

pub fn credentials_by_key(
    conn: &mut AnyConnection,
    username_key: &str,
) -> QueryResult<Option<Credentials>> {
    users::table
        .filter(users::username_key.eq(username_key))
        .select((users::id, users::password_hash, users::is_active))
        .first(conn)
        .optional()
}

pub fn by_key(conn: &mut AnyConnection, username_key: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username_key.eq(username_key))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::id)
        .select(User::as_select())
        .load(conn)
}

/// Inserts a user; a taken name surfaces as a unique violation.
pub fn insert(conn: &mut AnyConnection, new: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values((
            users::username.eq(new.username),
            users::username_key.eq(new.username_key),
            users::password_hash.eq(new.password_hash),
            users::email.eq(new.email),
            users::is_active.eq(true),
            users::is_admin.eq(new.is_admin),
            users::created_at.eq(new.created_at),
        ))
        .execute(conn)?;
    by_key(conn, new.username_key)?.ok_or(diesel::result::Error::NotFound)
}

/// Stores a new password hash and revokes every token of the user, at once.
pub fn set_password_and_revoke_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(user_id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        diesel::delete(tokens::table.filter(tokens::user_id.eq(user_id))).execute(conn)
    })
}

/// Deactivates a user and revokes every token, at once.
pub fn deactivate_and_revoke_tokens(conn: &mut AnyConnection, user_id: i64) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(user_id))
            .set(users::is_active.eq(false))
            .execute(conn)?;
        diesel::delete(tokens::table.filter(tokens::user_id.eq(user_id))).execute(conn)
    })
}

pub fn record_login(conn: &mut AnyConnection, user_id: i64, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(users::last_login_at.eq(now))
        .execute(conn)
}
