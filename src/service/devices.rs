//! A user's devices (one token each): listing and revoking.

use crate::db::{tokens, AnyConnection};
use crate::domain::Timestamp;
use crate::error::ApiError;
use serde::Serialize;

/// A device as listed to its owner or to an admin. Never a key or digest.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeviceView {
    pub client: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    /// Only in the owner's own listing: whether this is the requesting token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

/// Live devices, most recently used first; `current_token` marks one.
pub fn list(
    conn: &mut AnyConnection,
    user_id: i64,
    current_token: Option<i64>,
) -> Result<Vec<DeviceView>, ApiError> {
    let devices = tokens::live_for_user(conn, user_id, Timestamp::now().millis())?;
    Ok(devices
        .into_iter()
        .map(|device| DeviceView {
            current: current_token.map(|current| current == device.id),
            client: device.client,
            created_at: Timestamp(device.created_at),
            last_used_at: Timestamp(device.last_used_at),
            expires_at: Timestamp(device.expires_at),
            user_agent: device.user_agent,
        })
        .collect())
}

/// Revokes one device; `NotFound` when the user has no such client.
pub fn revoke(conn: &mut AnyConnection, user_id: i64, client: &str) -> Result<(), ApiError> {
    match tokens::delete_client(conn, user_id, client)? {
        0 => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

pub fn revoke_token(conn: &mut AnyConnection, token_id: i64) -> Result<(), ApiError> {
    tokens::delete_by_id(conn, token_id)?;
    Ok(())
}

/// Revokes every device of the user; returns how many.
pub fn revoke_all(conn: &mut AnyConnection, user_id: i64) -> Result<usize, ApiError> {
    Ok(tokens::delete_all_for_user(conn, user_id)?)
}

/// Revokes every device of the user but `keep_token_id`; returns how many.
pub fn revoke_others(
    conn: &mut AnyConnection,
    user_id: i64,
    keep_token_id: i64,
) -> Result<usize, ApiError> {
    Ok(tokens::delete_others(conn, user_id, keep_token_id)?)
}

/// Deletes every token that has expired by `now`; returns how many.
pub fn prune_expired(conn: &mut AnyConnection, now: Timestamp) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let deleted = tokens::delete_expired_batch(conn, now.millis(), 1000)?;
        total += deleted;
        if deleted == 0 {
            return Ok(total);
        }
    }
}
