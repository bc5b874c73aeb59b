//! Queries on `identities`: accounts at OpenID Connect providers, each
//! (provider, subject) linked to one user.

use super::schema::{identities, users};
use super::user_by_id::one_user_by_id;
use super::users::with_email;
use super::AnyConnection;
use diesel::prelude::*;

/// A linked identity, as a user's page lists it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub provider: String,
    pub subject: String,
    pub created_at: i64,
}

/// A user a sign-in may land on, with what deciding needs.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct LinkedUser {
    pub id: i64,
    pub password_hash: String,
    pub is_active: bool,
    pub email: String,
    pub email_verified: bool,
    pub two_factor: bool,
}

/// The user linked to (provider, subject), active or not.
pub fn user_of(
    conn: &mut AnyConnection,
    provider: &str,
    subject: &str,
) -> QueryResult<Option<LinkedUser>> {
    identities::table
        .inner_join(users::table)
        .filter(identities::provider.eq(provider))
        .filter(identities::subject.eq(subject))
        .select(LinkedUser::as_select())
        .first(conn)
        .optional()
}

/// The users a provider's verified e-mail may link to: those with this
/// address (compared without regard to case, as everywhere else) whose own
/// address is verified here and who are not admins, active or not (a
/// deactivated user's address must not lead to a fresh account instead of
/// a refusal). An unverified address proves nothing: whoever registered it
/// first would own the account the address's owner then signs into.
pub fn linkable_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Vec<LinkedUser>> {
    with_email(email)
        .filter(users::email_verified.eq(true))
        .filter(users::is_admin.eq(false))
        .select(LinkedUser::as_select())
        .load(conn)
}

pub fn user_by_id(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<LinkedUser>> {
    one_user_by_id!(conn, LinkedUser, user_id)
}

#[derive(Insertable)]
#[diesel(table_name = identities)]
struct NewIdentity<'a> {
    provider: &'a str,
    subject: &'a str,
    user_id: i64,
    created_at: i64,
}

/// Links (provider, subject) to the user; a concurrent link of the same
/// pair surfaces as a unique violation.
pub fn link(
    conn: &mut AnyConnection,
    provider: &str,
    subject: &str,
    user_id: i64,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(identities::table)
        .values(&NewIdentity {
            provider,
            subject,
            user_id,
            created_at: now,
        })
        .execute(conn)
}

/// The user's linked identities, oldest first.
pub fn for_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Identity>> {
    identities::table
        .filter(identities::user_id.eq(user_id))
        .order((identities::created_at, identities::id))
        .select(Identity::as_select())
        .load(conn)
}
