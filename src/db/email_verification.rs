//! Queries of e-mail verification: who a verification mail goes to, and
//! setting the flag once a key checks. (The lookup by address is
//! `users::unverified_by_email`, beside the other lookups by address.)

use super::schema::users;
use super::user_by_id::one_user_by_id;
use super::AnyConnection;
use crate::domain::email_verification::Address;
use diesel::prelude::*;

/// What a verification mail and its key need of a user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct VerifyingUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub email_changes: i64,
}

impl VerifyingUser {
    /// The address a key for this user is signed for.
    pub fn address(&self) -> Address<'_> {
        Address {
            email: &self.email,
            changes: self.email_changes,
        }
    }

    /// Whether a verification mail to this user makes sense.
    pub fn awaits_verification(&self) -> bool {
        self.is_active && !self.email_verified && !self.email.is_empty()
    }
}

pub fn by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<VerifyingUser>> {
    one_user_by_id!(conn, VerifyingUser, id)
}

/// Marks `email` verified for the user, only if it is still their address
/// and not verified yet; returns 0 otherwise, so that of two concurrent
/// uses of one key only one succeeds.
pub fn mark_verified(conn: &mut AnyConnection, user_id: i64, email: &str) -> QueryResult<usize> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::email.eq(email))
            .filter(users::email_verified.eq(false))
            .filter(users::is_active.eq(true)),
    )
    .set(users::email_verified.eq(true))
    .execute(conn)
}

/// As [`mark_verified`], for the address a verification key was signed
/// for: only if it has not changed since, not even away and back.
pub fn mark_verified_at(
    conn: &mut AnyConnection,
    user_id: i64,
    address: Address<'_>,
) -> QueryResult<usize> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::email.eq(address.email))
            .filter(users::email_changes.eq(address.changes))
            .filter(users::email_verified.eq(false))
            .filter(users::is_active.eq(true)),
    )
    .set(users::email_verified.eq(true))
    .execute(conn)
}
