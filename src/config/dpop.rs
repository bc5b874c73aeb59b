//! Keys bound to devices (DPoP, RFC 9449): how far a proof's `iat` may be
//! from the server's clock, and which clients must bind their keys.

use super::parse::{longer_than_zero, named};
use crate::domain::parse_duration;
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "DPoP")]
    pub struct DpopSettings {
        /// How far a DPoP proof's iat may be from the server's clock, either way; a proof's jti is remembered this long.
        dpop_proof_window: Duration = "60s" => named(parse_duration),

        /// Clients (comma-separated names) that must sign in with a DPoP proof; unset, none must.
        dpop_required_clients: String = "",
    }
}

impl DpopSettings {
    pub fn validate(&self) -> Result<(), String> {
        longer_than_zero("DPOP_PROOF_WINDOW", self.dpop_proof_window)
    }

    /// Whether `client` must sign in with a proof.
    pub fn requires_proof(&self, client: &str) -> bool {
        self.dpop_required_clients
            .split(',')
            .any(|name| name.trim() == client)
    }
}
