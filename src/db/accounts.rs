//! Queries of the account use cases: registration, password change and
//! password reset.

use super::schema::{tokens, users};
use super::AnyConnection;
use diesel::prelude::*;

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// What a password reset needs of a user: the token is bound to all of it.
#[derive(Debug, Clone, Queryable)]
pub struct ResetUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub last_login_at: Option<i64>,
    pub is_active: bool,
}

type ResetColumns = (
    users::id,
    users::username,
    users::email,
    users::password_hash,
    users::last_login_at,
    users::is_active,
);

const RESET_COLUMNS: ResetColumns = (
    users::id,
    users::username,
    users::email,
    users::password_hash,
    users::last_login_at,
    users::is_active,
);

pub fn username_key_taken(conn: &mut AnyConnection, username_key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::username_key.eq(username_key)),
    ))
    .get_result(conn)
}

/// Active users with this e-mail address, compared without regard to case
/// (by the database's `lower` on both sides, through an index).
pub fn active_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Vec<ResetUser>> {
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .filter(users::is_active.eq(true))
        .order(users::id)
        .select(RESET_COLUMNS)
        .load(conn)
}

pub fn reset_user_by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ResetUser>> {
    users::table
        .find(id)
        .select(RESET_COLUMNS)
        .first(conn)
        .optional()
}

/// Replaces the password hash only if it is still `expected_hash`, and then
/// revokes every token of the user, at once. `None` when the password has
/// changed in the meantime (so a reset link is used at most once, even by
/// two concurrent requests); otherwise how many tokens were revoked.
pub fn replace_password_and_revoke_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
    expected_hash: &str,
    new_hash: &str,
) -> QueryResult<Option<usize>> {
    conn.transaction(|conn| {
        let updated = diesel::update(
            users::table
                .find(user_id)
                .filter(users::password_hash.eq(expected_hash)),
        )
        .set(users::password_hash.eq(new_hash))
        .execute(conn)?;
        if updated == 0 {
            return Ok(None);
        }
        diesel::delete(tokens::table.filter(tokens::user_id.eq(user_id)))
            .execute(conn)
            .map(Some)
    })
}

/// Stores a new password hash and revokes every token of the user but
/// `keep_token_id`, at once; returns how many were revoked.
pub fn set_password_and_revoke_other_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
    keep_token_id: i64,
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(user_id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        diesel::delete(
            tokens::table
                .filter(tokens::user_id.eq(user_id))
                .filter(tokens::id.ne(keep_token_id)),
        )
        .execute(conn)
    })
}

/// The password hash of a user, for checking an old password.
pub fn password_hash(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<String>> {
    users::table
        .find(user_id)
        .select(users::password_hash)
        .first(conn)
        .optional()
}
