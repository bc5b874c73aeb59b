//! The API tokens: how long they live, how often their use is written,
//! how many devices a user may hold, and which scopes and key shapes are
//! accepted.

use super::parse::{boolean, longer_than_zero, named, positive};
use crate::domain::{parse_duration, AllowedScopes, TokenPolicy};
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Tokens")]
    pub struct TokenSettings {
        /// Idle lifetime: a token unused this long expires (90s, 15m, 12h, 14d).
        token_ttl: Duration = "14d" => named(parse_duration),

        /// Absolute lifetime from login; unset means none.
        token_max_age: Option<Duration> => named(parse_duration),

        /// At most one last-used write per token per interval.
        token_touch_interval: Duration = "60s" => named(parse_duration),

        /// Clients (devices) one user may hold at once; re-login of a held client is always allowed.
        max_clients_per_user: u32 = "50" => named(positive),

        /// Scopes (space- or comma-separated) a token may ask for; any when unset.
        allowed_scopes: AllowedScopes = "" => named(AllowedScopes::parse),

        /// Accept the key shapes of tokens imported from Django (40 hex characters: DRF and multitoken; 64: knox), `on` or `off`.
        #[arg(action = clap::ArgAction::Set)]
        legacy_tokens: bool = "on" => named(boolean),

        /// How long a rotated key (POST /tokens/rotate) keeps working, for a client whose answer was lost; any use after it revokes the device.
        rotation_grace: Duration = "60s" => named(parse_duration),

        /// POST /token/refresh also rotates the refresh token (the device key), as POST /tokens/rotate does, `true` or `false`.
        #[arg(action = clap::ArgAction::Set)]
        rotate_refresh_tokens: bool = "false" => named(boolean),

        /// GitHub's secret scanning public keys: a file in GitHub's format or an https:// URL serving it; unset, POST /secret-scanning/github answers 404.
        secret_scanning_github_keys: Option<String>,
    }
}

impl TokenSettings {
    pub fn validate(&self) -> Result<(), String> {
        longer_than_zero("TOKEN_TTL", self.token_ttl)?;
        if self.token_max_age.is_some_and(|max_age| max_age.is_zero()) {
            return Err(
                "TOKEN_MAX_AGE must be longer than 0s (leave it unset for no absolute lifetime)"
                    .into(),
            );
        }
        if self.token_touch_interval >= self.token_ttl {
            return Err(format!(
                "TOKEN_TOUCH_INTERVAL ({:?}) must be shorter than TOKEN_TTL ({:?}), or busy tokens would expire while in use",
                self.token_touch_interval, self.token_ttl
            ));
        }
        Ok(())
    }

    /// The lifetimes a token is issued and checked with.
    pub fn policy(&self) -> TokenPolicy {
        TokenPolicy {
            ttl: self.token_ttl,
            max_age: self.token_max_age,
            touch_interval: self.token_touch_interval,
            rotation_grace: self.rotation_grace,
        }
    }
}
