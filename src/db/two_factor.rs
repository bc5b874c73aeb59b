//! Queries on a user's two-factor state (`users.totp_secret`, `two_factor`,
//! `totp_last_step`) and `recovery_codes`. Every change is conditional on
//! the state it expects, so two concurrent requests cannot both confirm,
//! both spend one code, or both pass with the same time step.

use super::schema::{recovery_codes, users};
use super::AnyConnection;
use diesel::prelude::*;

/// A user's sealed TOTP secret, and whether it is confirmed (enabled).
#[derive(Debug, Clone, Queryable)]
pub struct TotpState {
    pub sealed_secret: Option<Vec<u8>>,
    pub enabled: bool,
}

pub fn state(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<TotpState>> {
    users::table
        .find(user_id)
        .select((users::totp_secret, users::two_factor))
        .first(conn)
        .optional()
}

/// Stores a new secret awaiting confirmation, unless two-factor is on
/// already; returns 0 then.
pub fn set_pending(conn: &mut AnyConnection, user_id: i64, sealed: &[u8]) -> QueryResult<usize> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::two_factor.eq(false)),
    )
    .set(users::totp_secret.eq(sealed))
    .execute(conn)
}

/// Turns two-factor on with the pending secret that was checked, if it is
/// still the pending one, recording the step of the confirming code and
/// replacing the recovery codes; false when the state changed meanwhile.
pub fn enable(
    conn: &mut AnyConnection,
    user_id: i64,
    checked_secret: &[u8],
    step: i64,
    recovery_digests: &[Vec<u8>],
) -> QueryResult<bool> {
    crate::db::transaction(conn, |conn| {
        let enabled = diesel::update(
            users::table
                .find(user_id)
                .filter(users::two_factor.eq(false))
                .filter(users::totp_secret.eq(checked_secret)),
        )
        .set((users::two_factor.eq(true), users::totp_last_step.eq(step)))
        .execute(conn)?;
        if enabled == 0 {
            return Ok(false);
        }
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        // One row at a time: batch inserts are not available through the
        // two-backend connection, and there are ten.
        for digest in recovery_digests {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(user_id),
                    recovery_codes::digest.eq(digest.as_slice()),
                ))
                .execute(conn)?;
        }
        Ok(true)
    })
}

/// Accepts a code of time step `step` once: only if no code of this step or
/// a later one was accepted before. Returns whether it was.
pub fn accept_step(conn: &mut AnyConnection, user_id: i64, step: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        users::table
            .find(user_id)
            .filter(users::two_factor.eq(true))
            .filter(
                users::totp_last_step
                    .is_null()
                    .or(users::totp_last_step.lt(step)),
            ),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Spends a recovery code; whether there was one with this digest.
pub fn spend_recovery_code(
    conn: &mut AnyConnection,
    user_id: i64,
    digest: &[u8],
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::digest.eq(digest)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

pub fn recovery_codes_left(conn: &mut AnyConnection, user_id: i64) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .count()
        .get_result(conn)
}

/// Turns two-factor off and forgets the secret and the recovery codes.
pub fn disable(conn: &mut AnyConnection, user_id: i64) -> QueryResult<usize> {
    crate::db::transaction(conn, |conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        diesel::update(
            users::table
                .find(user_id)
                .filter(users::two_factor.eq(true)),
        )
        .set((
            users::two_factor.eq(false),
            users::totp_secret.eq(None::<Vec<u8>>),
            users::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)
    })
}
