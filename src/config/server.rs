//! The server: where it listens, what it trusts of its callers, the key
//! that signs its links and sessions, how much password hashing it runs at
//! once, and its log.

use super::parse::{named, positive};
use crate::domain::client_address::TrustedProxies;
use crate::domain::{parse_duration, PublicUrl, SecretKey};
use std::net::SocketAddr;
use std::time::Duration;

/// How often expired tokens and closed throttle windows are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How long a client may take to send a request body, once its headers came.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

settings_group! {
    #[command(next_help_heading = "Server")]
    pub struct ServerSettings {
        /// Address to listen on.
        #[arg(env = "MULTITOKEN_BIND")]
        bind: SocketAddr = "127.0.0.1:8000" => named(parse_bind),

        /// The address clients use (for links, DPoP's htu and the OAuth metadata's issuer); default http:// and the bind address.
        public_url: Option<PublicUrl> => named(PublicUrl::parse),

        /// Signs password-reset links and console sessions (at least 32 characters). When unset on a loopback
        /// address, one is generated and kept in the database; required on any other address.
        #[arg(hide_env_values = true)]
        secret_key: Option<SecretKey> => |text: &str| Ok::<_, String>(SecretKey::unchecked(text)),

        /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For gives the client address; none when unset.
        trusted_proxies: TrustedProxies = "" => named(TrustedProxies::parse),

        /// Password hashes run at once (each holds 19 MiB and a core for ~20 ms); 64 per thread may wait, more get 503. Default: the number of cores.
        password_hash_threads: Option<u32> => named(positive),

        /// How long a stopping server (SIGTERM) lets the requests in flight, password checks included, finish before it closes their connections and exits.
        shutdown_timeout: Duration = "30s" => named(parse_duration),

        /// Log filter, as env_logger reads it (error, warn, info, debug, trace, per module).
        #[arg(long = "log", env = "RUST_LOG")]
        log_filter: String = "info",

        /// Internal: how often expired tokens and closed throttle windows are swept.
        internal sweep_interval: Duration = SWEEP_EVERY,

        /// Internal: how long a client may take to send a request body.
        internal body_read_timeout: Duration = BODY_READ_TIMEOUT,
    }
}

fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .map_err(|e| format!("{e}: expected HOST:PORT such as 127.0.0.1:8000"))
}

impl ServerSettings {
    /// `PUBLIC_URL`, or `http://` and the bind address when it is unset.
    pub fn public_url(&self) -> PublicUrl {
        self.public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::from_bind(self.bind))
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(secret_key) = &self.secret_key {
            secret_key.check().map_err(|e| format!("SECRET_KEY: {e}"))?;
        }
        Ok(())
    }
}
