//! The API tokens: how long they live, how often their use is written,
//! how many devices a user may hold, and which scopes and key shapes are
//! accepted.

use super::parse::{boolean, longer_than_zero, named, positive};
use crate::domain::{parse_duration, AllowedScopes, TokenPolicy};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Tokens")]
pub struct TokenSettings {
    /// Idle lifetime: a token unused this long expires (90s, 15m, 12h, 14d).
    #[arg(long, env = "TOKEN_TTL", default_value = "14d", global = true,
          value_parser = named(parse_duration))]
    pub token_ttl: Duration,

    /// Absolute lifetime from login; unset means none.
    #[arg(long, env = "TOKEN_MAX_AGE", global = true, value_parser = named(parse_duration))]
    pub token_max_age: Option<Duration>,

    /// At most one last-used write per token per interval.
    #[arg(long, env = "TOKEN_TOUCH_INTERVAL", default_value = "60s", global = true,
          value_parser = named(parse_duration))]
    pub token_touch_interval: Duration,

    /// Clients (devices) one user may hold at once; re-login of a held client is always allowed.
    #[arg(long, env = "MAX_CLIENTS_PER_USER", default_value = "50", global = true,
          value_parser = named(positive))]
    pub max_clients_per_user: u32,

    /// Scopes (space- or comma-separated) a token may ask for; any when unset.
    #[arg(long, env = "ALLOWED_SCOPES", default_value = "", global = true,
          value_parser = named(AllowedScopes::parse))]
    pub allowed_scopes: AllowedScopes,

    /// Accept the key shapes of tokens imported from Django (40 hex characters: DRF and multitoken; 64: knox), `on` or `off`.
    #[arg(long, env = "LEGACY_TOKENS", default_value = "on", global = true,
          action = clap::ArgAction::Set, value_parser = named(boolean))]
    pub legacy_tokens: bool,

    /// How long a rotated key (POST /tokens/rotate) keeps working, for a client whose answer was lost; any use after it revokes the device.
    #[arg(long, env = "ROTATION_GRACE", default_value = "60s", global = true,
          value_parser = named(parse_duration))]
    pub rotation_grace: Duration,

    /// POST /token/refresh also rotates the refresh token (the device key), as POST /tokens/rotate does, `true` or `false`.
    #[arg(long, env = "ROTATE_REFRESH_TOKENS", default_value = "false", global = true,
          action = clap::ArgAction::Set, value_parser = named(boolean))]
    pub rotate_refresh_tokens: bool,

    /// GitHub's secret scanning public keys: a file in GitHub's format or an https:// URL serving it; unset, POST /secret-scanning/github answers 404.
    #[arg(long, env = "SECRET_SCANNING_GITHUB_KEYS", global = true)]
    pub secret_scanning_github_keys: Option<String>,
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
