//! Who is making an authenticated request: what a token check answers,
//! and what every use case acting for a signed-in user takes.

use super::{Scopes, Timestamp, TokenDigest};

/// Who is making an authenticated request, and with which token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: i64,
    /// The digest of the presented key: what `/logout` revokes, so that a
    /// re-login that gave the row a new key since is not revoked with it.
    /// For a key that a rotation retired, within its grace, the device's
    /// current key's: the retired key stands for the device.
    pub digest: TokenDigest,
    pub client: String,
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    /// May introspect other users' keys.
    pub is_service: bool,
    pub two_factor: bool,
    pub email_verified: bool,
    /// What the token may be used for; empty when unrestricted.
    pub scopes: Scopes,
    pub created_at: Timestamp,
    /// When the token expires, counting the use this check records.
    pub expires_at: Timestamp,
    /// The thumbprint of the public key the key is bound to (DPoP): then
    /// every use needs a proof by that key.
    pub dpop_jkt: Option<String>,
}

impl Principal {
    /// Whether the token has scopes, and so may do only what they allow.
    pub fn is_restricted(&self) -> bool {
        self.scopes.is_restricted()
    }
}
