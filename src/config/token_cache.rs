//! The in-memory cache of token checks (PostgreSQL only): whether it is
//! on, how long an entry is trusted, how large it may grow, and how long a
//! revocation waits for every instance to have heard it.

use super::parse::{boolean, named, positive};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Token cache")]
pub struct TokenCacheSettings {
    /// PostgreSQL: keep recently checked tokens in memory, evicted on every instance by NOTIFY (`on` or `off`; SQLite never caches).
    #[arg(long, env = "TOKEN_CACHE", default_value = "on", global = true,
          action = clap::ArgAction::Set, value_parser = named(boolean))]
    pub token_cache: bool,

    /// How long a cached token check is trusted at most, evictions aside.
    #[arg(long, env = "TOKEN_CACHE_TTL", default_value = "10s", global = true,
          value_parser = named(crate::domain::parse_duration))]
    pub token_cache_ttl: Duration,

    /// Token checks the cache holds at most.
    #[arg(long, env = "TOKEN_CACHE_ENTRIES", default_value = "100000", global = true,
          value_parser = named(positive))]
    pub token_cache_entries: u32,

    /// Memory the token cache uses at most, in MiB: each entry is charged what it costs (about 592 bytes for a short username and address).
    #[arg(long, env = "TOKEN_CACHE_MIB", default_value = "64", global = true,
          value_parser = named(positive))]
    pub token_cache_mib: u32,

    /// PostgreSQL: how long a revoking request waits at most for every instance to acknowledge it; an instance that cannot prove it is current within it stops trusting its cache.
    #[arg(long, env = "REVOCATION_ACK_TIMEOUT", default_value = "1s", global = true,
          value_parser = named(crate::domain::parse_duration))]
    pub revocation_ack_timeout: Duration,
}

impl TokenCacheSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.token_cache_ttl.is_zero() {
            return Err(
                "TOKEN_CACHE_TTL must be longer than 0s (set TOKEN_CACHE=off to cache nothing)"
                    .into(),
            );
        }
        if self.token_cache_ttl > Duration::from_secs(3600) {
            return Err(format!(
                "TOKEN_CACHE_TTL ({:?}) must be at most 1h: it bounds how long a missed eviction lasts",
                self.token_cache_ttl
            ));
        }
        if self.revocation_ack_timeout < Duration::from_millis(10)
            || self.revocation_ack_timeout > Duration::from_secs(60)
        {
            return Err(format!(
                "REVOCATION_ACK_TIMEOUT ({:?}) must be between 10ms and 1m: it bounds how long a revocation waits, and how long an instance trusts its cache unconfirmed",
                self.revocation_ack_timeout
            ));
        }
        Ok(())
    }
}
