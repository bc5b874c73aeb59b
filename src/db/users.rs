//! Queries on `users`: finding users (by name, id, address, or part of
//! either a page at a time), creating them, and changing their password and
//! flags. Changes that revoke a user's tokens do it in the same transaction,
//! through `tokens::delete_all_for_user`.

use super::email_verification::VerifyingUser;
use super::schema::users;
use super::tokens::RevokedToken;
use super::user_by_id::one_user_by_id;
use super::AnyConnection;
use super::{console_sessions, tokens};
use crate::domain::username::lookup_key;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(text: Text) -> Text;
}

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub is_service: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// Two-factor authentication is on (a TOTP secret was confirmed).
    pub two_factor: bool,
    pub email_verified: bool,
}

/// What a password check needs of a user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub two_factor: bool,
    /// For the `EMAIL_VERIFICATION=mandatory` rule, after the password check.
    pub email: String,
    pub email_verified: bool,
}

/// What a password reset needs of a user: the token is bound to all of it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct ResetUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub last_login_at: Option<i64>,
    pub is_active: bool,
    pub email_changes: i64,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    pub password_hash: &'a str,
    pub email: &'a str,
    pub is_active: bool,
    pub is_admin: bool,
    pub is_service: bool,
    pub created_at: i64,
}

pub fn credentials_by_key(
    conn: &mut AnyConnection,
    username_key: &str,
) -> QueryResult<Option<Credentials>> {
    users::table
        .filter(users::username_key.eq(username_key))
        .select(Credentials::as_select())
        .first(conn)
        .optional()
}

/// Up to `limit` stored hashes, by user id after `after`, that are neither
/// ours (`$argon2…`) nor unusable (`!…`): the Django hashes imported users
/// keep until their first sign-in.
pub fn foreign_hashes_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, String)>> {
    users::table
        .filter(users::id.gt(after))
        .filter(users::password_hash.not_like("$%"))
        .filter(users::password_hash.not_like("!%"))
        .order(users::id)
        .select((users::id, users::password_hash))
        .limit(limit)
        .load(conn)
}

pub fn by_key(conn: &mut AnyConnection, username_key: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username_key.eq(username_key))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<User>> {
    one_user_by_id!(conn, User, id)
}

pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::id)
        .select(User::as_select())
        .load(conn)
}

pub fn username_key_taken(conn: &mut AnyConnection, username_key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::username_key.eq(username_key)),
    ))
    .get_result(conn)
}

/// Inserts a user; a taken name surfaces as a unique violation.
pub fn insert(conn: &mut AnyConnection, new: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new)
        .execute(conn)?;
    by_key(conn, new.username_key)?.ok_or(diesel::result::Error::NotFound)
}

type WithEmail<'a> = diesel::dsl::Order<
    diesel::dsl::Filter<
        users::table,
        diesel::dsl::Eq<lower<users::email>, lower<diesel::dsl::AsExprOf<&'a str, Text>>>,
    >,
    users::id,
>;

/// Users with this e-mail address, compared without regard to case (by the
/// database's `lower` on both sides, through an index), by id: the one
/// comparison of addresses, for resets, verification mails and OpenID
/// Connect sign-ins alike.
pub(super) fn with_email(email: &str) -> WithEmail<'_> {
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .order(users::id)
}

/// Active users with this e-mail address.
pub fn active_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Vec<ResetUser>> {
    with_email(email)
        .filter(users::is_active.eq(true))
        .select(ResetUser::as_select())
        .load(conn)
}

/// Active users with this address that is not verified yet.
pub fn unverified_by_email(
    conn: &mut AnyConnection,
    email: &str,
    limit: i64,
) -> QueryResult<Vec<VerifyingUser>> {
    with_email(email)
        .filter(users::is_active.eq(true))
        .filter(users::email_verified.eq(false))
        .limit(limit)
        .select(VerifyingUser::as_select())
        .load(conn)
}

pub fn reset_user_by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ResetUser>> {
    one_user_by_id!(conn, ResetUser, id)
}

/// The password hash of a user, for checking an old password.
pub fn password_hash(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<String>> {
    users::table
        .find(user_id)
        .select(users::password_hash)
        .first(conn)
        .optional()
}

/// Stores a new password hash and revokes every token of the user, at once.
pub fn set_password_and_revoke_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
) -> QueryResult<Vec<RevokedToken>> {
    set_password_and_sign_out(conn, user_id, password_hash, None)
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
) -> QueryResult<Option<Vec<RevokedToken>>> {
    crate::db::transaction(conn, |conn| {
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
        sign_out(conn, user_id, None).map(Some)
    })
}

/// Stores a new password hash and revokes every token of the user but
/// `keep_token_id`, at once; returns how many were revoked.
pub fn set_password_and_revoke_other_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
    keep_token_id: i64,
) -> QueryResult<Vec<RevokedToken>> {
    set_password_and_sign_out(conn, user_id, password_hash, Some(keep_token_id))
}

fn set_password_and_sign_out(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
    keep_token_id: Option<i64>,
) -> QueryResult<Vec<RevokedToken>> {
    crate::db::transaction(conn, |conn| {
        diesel::update(users::table.find(user_id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        sign_out(conn, user_id, keep_token_id)
    })
}

/// What a new password or a deactivation does to a user's sign-ins: every
/// console session ends, and every token but `keep_token_id` is revoked.
fn sign_out(
    conn: &mut AnyConnection,
    user_id: i64,
    keep_token_id: Option<i64>,
) -> QueryResult<Vec<RevokedToken>> {
    console_sessions::delete_for_user(conn, user_id)?;
    match keep_token_id {
        Some(keep_token_id) => tokens::delete_others(conn, user_id, keep_token_id),
        None => tokens::delete_all_for_user(conn, user_id),
    }
}

/// Activates or deactivates; deactivating also revokes every token (call it
/// in a transaction). Returns how many tokens were revoked.
pub fn set_active(
    conn: &mut AnyConnection,
    user_id: i64,
    is_active: bool,
) -> QueryResult<Vec<RevokedToken>> {
    diesel::update(users::table.find(user_id))
        .set(users::is_active.eq(is_active))
        .execute(conn)?;
    if is_active {
        Ok(Vec::new())
    } else {
        sign_out(conn, user_id, None)
    }
}

/// The ids of the active admins, by id, locked until the transaction ends:
/// call it first in the transaction that may take the last one away, so
/// that two such transactions (two admins demoting each other) take turns
/// and the second sees what the first did.
pub fn lock_active_admins(conn: &mut AnyConnection) -> QueryResult<Vec<i64>> {
    let active_admins = users::table
        .filter(users::is_admin.eq(true))
        .filter(users::is_active.eq(true))
        .order(users::id)
        .select(users::id);
    match conn {
        // In id order, so that concurrent lockers queue instead of deadlocking.
        AnyConnection::Postgresql(conn) => active_admins.for_update().load(conn),
        AnyConnection::Sqlite(conn) => {
            // SQLite has one write lock, taken at a transaction's first write;
            // a transaction that read before another one's write committed
            // can no longer write at all. A write of nothing takes the lock
            // (waiting for it as any writer does) before anything is read.
            diesel::sql_query("UPDATE users SET id = id WHERE 0").execute(conn)?;
            active_admins.load(conn)
        }
    }
}

/// A new address, no longer verified, and one more change counted (which
/// spends every verification key and reset token issued before); returns 0
/// when it was already the user's (then nothing changes, the flag included).
pub fn set_email(conn: &mut AnyConnection, user_id: i64, email: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id).filter(users::email.ne(email)))
        .set((
            users::email.eq(email),
            users::email_verified.eq(false),
            users::email_changes.eq(users::email_changes + 1),
        ))
        .execute(conn)
}

/// Promotes or demotes; demoting also ends the user's console sessions
/// (call it in a transaction).
pub fn set_admin(conn: &mut AnyConnection, user_id: i64, is_admin: bool) -> QueryResult<usize> {
    let updated = diesel::update(users::table.find(user_id))
        .set(users::is_admin.eq(is_admin))
        .execute(conn)?;
    if !is_admin {
        console_sessions::delete_for_user(conn, user_id)?;
    }
    Ok(updated)
}

pub fn set_service(conn: &mut AnyConnection, user_id: i64, is_service: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(users::is_service.eq(is_service))
        .execute(conn)
}

/// Records a login, only if the user is still active with the password
/// hash that was checked, storing `rehashed` in its place when given;
/// returns 0 when either changed since the check.
pub fn record_login_if_unchanged(
    conn: &mut AnyConnection,
    user_id: i64,
    checked_hash: &str,
    rehashed: Option<&str>,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::password_hash.eq(checked_hash))
            .filter(users::is_active.eq(true)),
    )
    .set((
        users::last_login_at.eq(now),
        users::password_hash.eq(rehashed.unwrap_or(checked_hash)),
    ))
    .execute(conn)
}

#[derive(QueryableByName)]
struct KeyedName {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    username_key: String,
}

/// What [`rekey_usernames`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rekeyed {
    pub updated: usize,
    /// (user, holder): the user's new key was already the holder's, so the
    /// user kept the old one.
    pub clashes: Vec<(i64, i64)>,
}

// Only names with a character outside printable ASCII can have another key
// now: NFKC and lower case agree with plain lower case on ASCII.
const NOT_ASCII_SQLITE: &str =
    "SELECT id, username, username_key FROM users WHERE username GLOB '*[^ -~]*' ORDER BY id";
const NOT_ASCII_POSTGRES: &str =
    "SELECT id, username, username_key FROM users WHERE username ~ '[^ -~]' ORDER BY id";

/// Gives each user the lookup key `key_of` makes of their name, where it
/// differs from the stored one (keys made before usernames were normalised).
/// Only the key changes, never the name as it was registered. A user whose
/// new key another user holds already keeps the old key and is reported:
/// two users must never share one.
pub fn rekey_usernames(
    conn: &mut AnyConnection,
    key_of: impl Fn(&str) -> String,
) -> QueryResult<Rekeyed> {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    let rows: Vec<KeyedName> = match conn {
        AnyConnection::Sqlite(conn) => diesel::sql_query(NOT_ASCII_SQLITE).load(conn)?,
        AnyConnection::Postgresql(conn) => diesel::sql_query(NOT_ASCII_POSTGRES).load(conn)?,
    };
    let mut rekeyed = Rekeyed::default();
    for row in rows {
        let key = key_of(&row.username);
        if key == row.username_key {
            continue;
        }
        let holder = |conn: &mut AnyConnection| {
            users::table
                .filter(users::username_key.eq(&key))
                .select(users::id)
                .first::<i64>(conn)
                .optional()
        };
        if let Some(holder) = holder(conn)? {
            rekeyed.clashes.push((row.id, holder));
            continue;
        }
        let updated = diesel::update(
            users::table
                .find(row.id)
                .filter(users::username_key.eq(&row.username_key)),
        )
        .set(users::username_key.eq(&key))
        .execute(conn);
        match updated {
            Ok(count) => rekeyed.updated += count,
            // Taken meanwhile, by a registration on a running instance.
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                let holder = holder(conn)?.unwrap_or_default();
                rekeyed.clashes.push((row.id, holder));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(rekeyed)
}

/// A `LIKE` pattern matching `needle` anywhere, with `\` escaping the
/// wildcards a needle may contain; normalised as usernames' keys are.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in lookup_key(needle).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

type ContainsText<Column> = diesel::dsl::Escape<diesel::dsl::Like<Column, String>>;
type Matching =
    diesel::dsl::Or<ContainsText<users::username_key>, ContainsText<lower<users::email>>>;

/// Users whose username or e-mail contains `search`, without regard to case.
fn matching(search: &str) -> Matching {
    let pattern = contains_pattern(search);
    users::username_key
        .like(pattern.clone())
        .escape('\\')
        .or(lower(users::email).like(pattern).escape('\\'))
}

pub fn count_matching(conn: &mut AnyConnection, search: &str) -> QueryResult<i64> {
    users::table
        .filter(matching(search))
        .count()
        .get_result(conn)
}

/// Up to `limit` users matching `search` from `offset`, by id.
pub fn page_matching(
    conn: &mut AnyConnection,
    search: &str,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<User>> {
    users::table
        .filter(matching(search))
        .order(users::id)
        .offset(offset)
        .limit(limit)
        .select(User::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards_and_ignore_case() {
        assert_eq!(contains_pattern(""), "%%");
        assert_eq!(contains_pattern("Alice"), "%alice%");
        assert_eq!(contains_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
        assert_eq!(contains_pattern("ＲＯＯＴ"), "%root%");
    }
}
