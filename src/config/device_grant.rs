//! The OAuth device grant (RFC 8628): how long its codes live, how often an
//! address may ask for them, and the page a person approves them on.

use super::parse::named;
use crate::domain::device_grant::POLL_INTERVAL_SECONDS;
use crate::domain::{parse_duration, PublicUrl, ThrottleLimit};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Device grant")]
pub struct DeviceGrantSettings {
    /// Lifetime of a device grant's codes (POST /oauth/device_authorization's expires_in).
    #[arg(long, env = "DEVICE_CODE_TTL", default_value = "10m", global = true,
          value_parser = named(parse_duration))]
    pub device_code_ttl: Duration,

    /// Device authorization requests allowed per client address per window (ATTEMPTS/DURATION); past it 429.
    #[arg(long, env = "DEVICE_CODE_THROTTLE", default_value = "60/15m", global = true,
          value_parser = named(ThrottleLimit::parse))]
    pub device_code_throttle: ThrottleLimit,

    /// The page a person opens to approve a device (verification_uri); default PUBLIC_URL + /device.
    #[arg(long, env = "DEVICE_VERIFICATION_URL", global = true,
          value_parser = named(PublicUrl::parse))]
    pub device_verification_url: Option<PublicUrl>,

    /// Internal: the polling interval a device is told, in seconds (RFC 8628's 5; tests shorten it).
    #[arg(skip = POLL_INTERVAL_SECONDS)]
    pub device_poll_interval: i64,
}

impl DeviceGrantSettings {
    /// `DEVICE_VERIFICATION_URL`, or `public_url` + `/device`.
    pub fn verification_uri(&self, public_url: &PublicUrl) -> String {
        match &self.device_verification_url {
            Some(url) => url.as_str().to_owned(),
            None => public_url.join("/device"),
        }
    }
}
