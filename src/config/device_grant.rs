//! The OAuth device grant (RFC 8628): how long its codes live, how often an
//! address may ask for them, and the page a person approves them on.

use super::parse::named;
use crate::domain::device_grant::POLL_INTERVAL_SECONDS;
use crate::domain::{parse_duration, PublicUrl, ThrottleLimit};
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Device grant")]
    pub struct DeviceGrantSettings {
        /// Lifetime of a device grant's codes (POST /oauth/device_authorization's expires_in).
        device_code_ttl: Duration = "10m" => named(parse_duration),

        /// Device authorization requests allowed per client address per window (ATTEMPTS/DURATION); past it 429.
        device_code_throttle: ThrottleLimit = "60/15m" => named(ThrottleLimit::parse),

        /// The page a person opens to approve a device (verification_uri); default PUBLIC_URL + /device.
        device_verification_url: Option<PublicUrl> => named(PublicUrl::parse),

        /// Internal: the polling interval a device is told, in seconds (RFC 8628's 5; tests shorten it).
        internal device_poll_interval: i64 = POLL_INTERVAL_SECONDS,
    }
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
