//! The in-memory cache of token checks (PostgreSQL only): whether it is
//! on, how long an entry is trusted, how large it may grow, and how long a
//! revocation waits for every instance to have heard it.

use super::parse::{boolean, named, positive};
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Token cache")]
    pub struct TokenCacheSettings {
        /// PostgreSQL: keep recently checked tokens in memory, evicted on every instance by NOTIFY (`on` or `off`; SQLite never caches).
        #[arg(action = clap::ArgAction::Set)]
        token_cache: bool = "on" => named(boolean),

        /// How long a cached token check is trusted at most, evictions aside.
        token_cache_ttl: Duration = "10s" => named(crate::domain::parse_duration),

        /// Token checks the cache holds at most.
        token_cache_entries: u32 = "100000" => named(positive),

        /// Memory the token cache uses at most, in MiB: each entry is charged what it costs (about 592 bytes for a short username and address).
        token_cache_mib: u32 = "64" => named(positive),

        /// PostgreSQL: how long a revoking request waits at most for every instance to acknowledge it; an instance that cannot prove it is current within it stops trusting its cache.
        revocation_ack_timeout: Duration = "1s" => named(crate::domain::parse_duration),
    }
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
