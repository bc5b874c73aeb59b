//! JWT access tokens: their lifetime, the claims they carry, and the key
//! that signs them.

use super::parse::{longer_than_zero, named};
use std::path::PathBuf;
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "JWT access tokens")]
    pub struct JwtSettings {
        /// Lifetime of JWT access tokens (POST /token, /token/refresh).
        access_token_lifetime: Duration = "5m" => named(crate::domain::parse_duration),

        /// The `iss` claim of access tokens, checked by /token/verify and wherever they are accepted; none when unset.
        jwt_issuer: Option<String> => named(parse_claim),

        /// The `aud` claim of access tokens, checked like JWT_ISSUER; none when unset.
        jwt_audience: Option<String> => named(parse_claim),

        /// A PKCS#8 PEM P-256 private key to sign access tokens with, instead of the generated ones.
        jwt_private_key_file: Option<PathBuf>,
    }
}

/// A text claim (`iss`, `aud`): one line, not empty.
fn parse_claim(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 512 || text.chars().any(char::is_control) {
        return Err("must be one line of 1 to 512 characters".into());
    }
    Ok(text.to_owned())
}

impl JwtSettings {
    pub fn validate(&self) -> Result<(), String> {
        longer_than_zero("ACCESS_TOKEN_LIFETIME", self.access_token_lifetime)
    }
}
