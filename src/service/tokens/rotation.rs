//! Key rotation with reuse detection.
//!
//! A rotation gives a device a new key in place: the same `tokens` row gets
//! a new digest, so the device keeps its client, scopes, `via`, `created_at`
//! (`TOKEN_MAX_AGE` still counts from the sign-in) and whatever else the
//! row holds, without this code knowing of it. The replaced digest goes
//! into `retired_keys`, naming its device by row and sign-in time.
//!
//! A retired key stands for its device for `ROTATION_GRACE`: a client whose
//! answer was lost retries with it, and rotating it again issues another
//! new key, ending the previous new one (which nobody should hold). After
//! the grace, any use of it, wherever it is presented (see
//! [`super::verify`]), revokes the device, current key too: two holders of
//! one key means it was copied. Retired keys are remembered until the
//! device's key would have expired, then swept.
//!
//! [`rotate`] is the use case (`POST /tokens/rotate`, `/token/refresh` with
//! `ROTATE_REFRESH_TOKENS`; any other endpoint that rotates calls it too),
//! [`rotate_counted`] the same off the async workers, counted.

use crate::db::events::What;
use crate::db::rotation::{self, NewRetired, RotatedRow};
use crate::db::tokens::RevokedToken;
use crate::db::AnyConnection;
use crate::domain::event::{EventKind, EventSource, RevokedBy};
use crate::domain::{PlainToken, Scopes, Timestamp, TokenDigest, TokenPolicy};
use crate::metrics::{RevocationCause, RotationResult};
use crate::service::shared::events;
use crate::service::{AuthFailure, Error, Services};

/// A device's new key; the only place it exists in clear.
#[derive(Debug)]
pub struct RotatedKey {
    pub key: PlainToken,
    pub token_id: i64,
    pub user_id: i64,
    pub client: String,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How a rotation ended.
#[derive(Debug)]
pub enum Rotation {
    /// The presented key was the device's current key.
    Rotated(RotatedKey),
    /// The presented key was retired within its grace: the key that
    /// replaced it is ended, and this one replaces it.
    Retried(RotatedKey),
    /// The presented key was retired before its grace: the device is
    /// revoked (`revoked` devices: 0 when it was gone already).
    ReuseDetected { revoked: usize },
}

/// Rotates the key whose digest is `presented`: see the module's guide.
/// `Unauthenticated(InvalidToken)` when it names no live device.
///
/// The first statement is the write that finds the presented key current:
/// it takes the row's lock (PostgreSQL) or the write lock (SQLite), so of
/// two rotations of one key, one finds it current and the other, after it,
/// finds it retired within its grace. Either way the device ends with one
/// live key.
pub fn rotate(
    conn: &mut AnyConnection,
    presented: &TokenDigest,
    policy: &TokenPolicy,
    now: Timestamp,
    source: &EventSource,
) -> Result<Rotation, Error> {
    let key = PlainToken::generate();
    let new = key.digest();
    crate::db::transaction::<_, Error, _>(conn, |conn| {
        let at = now.millis();
        if let Some(row) = rotation::rotate_current(conn, presented.as_bytes(), new.as_bytes(), at)?
        {
            let rotated = finish(conn, row, key, presented, policy, now, source)?;
            rotation::retire(
                conn,
                &NewRetired {
                    digest: presented.as_bytes(),
                    token_id: rotated.token_id,
                    signed_in_at: rotated.created_at.millis(),
                    retired_at: at,
                    expires_at: rotated.expires_at.millis(),
                },
            )?;
            return Ok(Rotation::Rotated(rotated));
        }
        let retired = rotation::owner_of(conn, presented.as_bytes())?
            .ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
        let (token_id, signed_in_at) = (retired.owner.token_id, retired.owner.created_at);
        if !policy.in_rotation_grace(Timestamp(retired.retired_at), now) {
            let revoked = revoke_reused(conn, token_id, signed_in_at, source)?;
            return Ok(Rotation::ReuseDetected { revoked });
        }
        let row = rotation::rotate_device(conn, token_id, signed_in_at, new.as_bytes(), at)?
            .ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
        Ok(Rotation::Retried(finish(
            conn, row, key, presented, policy, now, source,
        )?))
    })
}

/// Gives the rotated key its expiry (a fresh sliding one, within the
/// device's absolute lifetime) and records the `rotated` event, with the
/// `sid` of the presented key (the one whose access JWTs a service drops).
#[allow(clippy::too_many_arguments)]
fn finish(
    conn: &mut AnyConnection,
    row: RotatedRow,
    key: PlainToken,
    presented: &TokenDigest,
    policy: &TokenPolicy,
    now: Timestamp,
    source: &EventSource,
) -> Result<RotatedKey, Error> {
    let created_at = Timestamp(row.created_at);
    let expires_at = policy.expiry(created_at, now);
    rotation::set_expiry(conn, row.id, expires_at.millis())?;
    let what = What::to_user(EventKind::Rotated, row.user_id)
        .on_client(&row.client)
        .of_device(presented.as_bytes());
    events::record(conn, source, what, now)?;
    Ok(RotatedKey {
        key,
        token_id: row.id,
        user_id: row.user_id,
        scopes: Scopes::from_stored(&row.scopes),
        client: row.client,
        created_at,
        expires_at,
    })
}

/// Revokes the device a retired key was used for after its grace (event
/// `revoked`, detail `reuse_detected`) and forgets its retired keys;
/// returns how many devices were revoked (0 when it was gone already).
pub fn revoke_reused(
    conn: &mut AnyConnection,
    token_id: i64,
    signed_in_at: i64,
    source: &EventSource,
) -> Result<usize, Error> {
    crate::db::transaction::<_, Error, _>(conn, |conn| {
        let revoked = rotation::delete_device(conn, token_id, signed_in_at)?;
        rotation::forget_device(conn, token_id, signed_in_at)?;
        events::revoked(
            conn,
            source,
            RevokedBy::ReuseDetected,
            &revoked,
            Timestamp::now(),
        )
    })
}

/// Deletes the devices that retired keys among `digests` stand for (a
/// revocation by key, `/revoke`, names a device by any of its keys that a
/// check would accept or answer with a reuse), forgetting their retired
/// keys; returns them.
pub fn delete_devices_of_retired(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
) -> Result<Vec<RevokedToken>, Error> {
    let mut revoked = Vec::new();
    for (token_id, signed_in_at) in rotation::devices_among(conn, digests)? {
        revoked.extend(rotation::delete_device(conn, token_id, signed_in_at)?);
        rotation::forget_device(conn, token_id, signed_in_at)?;
    }
    Ok(revoked)
}

/// [`rotate`] off the async workers, counted. A reuse detected is
/// `Unauthenticated(InvalidToken)` once the device is revoked.
pub async fn rotate_counted(
    services: &Services,
    presented: TokenDigest,
    source: &EventSource,
) -> Result<RotatedKey, Error> {
    let policy = services.settings.tokens.policy();
    let source = source.clone();
    let rotation = services
        .db(move |conn| rotate(conn, &presented, &policy, Timestamp::now(), &source))
        .await?;
    let metrics = &services.metrics;
    match rotation {
        Rotation::Rotated(rotated) => {
            metrics.rotation(RotationResult::Rotated);
            Ok(rotated)
        }
        Rotation::Retried(rotated) => {
            metrics.rotation(RotationResult::Retried);
            Ok(rotated)
        }
        Rotation::ReuseDetected { revoked } => {
            metrics.rotation(RotationResult::ReuseDetected);
            metrics.revoked(RevocationCause::ReuseDetected, revoked);
            Err(Error::Unauthenticated(AuthFailure::InvalidToken))
        }
    }
}
