//! Webhooks: where security events are posted (Standard Webhooks), the
//! secret they are signed with, which types are sent, and for how long a
//! delivery is tried.

use super::parse::{longer_than_zero, named, secret};
use crate::domain::webhook::{WebhookEvents, WebhookSecret, WebhookUrls};
use std::time::Duration;

/// The wait after a delivery's first failed attempt, doubled after each one.
pub const WEBHOOK_RETRY_BASE: Duration = Duration::from_secs(5);
/// How long a receiver has to answer a delivery.
pub const WEBHOOK_SEND_TIMEOUT: Duration = Duration::from_secs(10);

settings_group! {
    #[command(next_help_heading = "Webhooks")]
    pub struct WebhookSettings {
        /// Where security events are POSTed as Standard Webhooks: space- or comma-separated http(s):// URLs; none when unset.
        webhook_urls: Option<WebhookUrls> => named(WebhookUrls::parse),

        /// The secret webhooks are signed with: whsec_ and the base64 of 24 to 64 random bytes; required with WEBHOOK_URLS.
        #[arg(hide_env_values = true)]
        webhook_secret: Option<WebhookSecret> => secret(WebhookSecret::parse),

        /// The event types sent, space- or comma-separated; all when unset.
        webhook_events: Option<WebhookEvents> => named(WebhookEvents::parse),

        /// How long a delivery is tried (with growing waits between attempts) before it is given up.
        webhook_max_age: Duration = "3d" => named(crate::domain::parse_duration),

        /// Internal: the wait after a delivery's first failed attempt.
        internal webhook_retry_base: Duration = WEBHOOK_RETRY_BASE,

        /// Internal: how long a receiver has to answer (10 s, as the contract says).
        internal webhook_send_timeout: Duration = WEBHOOK_SEND_TIMEOUT,
    }
}

impl WebhookSettings {
    pub fn validate(&self) -> Result<(), String> {
        longer_than_zero("WEBHOOK_MAX_AGE", self.webhook_max_age)?;
        if self.webhook_urls.is_some() && self.webhook_secret.is_none() {
            return Err("WEBHOOK_SECRET is required when WEBHOOK_URLS is set".into());
        }
        Ok(())
    }

    /// The receivers and the secret, when webhooks are on.
    pub fn receivers(&self) -> Option<(&WebhookUrls, &WebhookSecret)> {
        self.webhook_urls.as_ref().zip(self.webhook_secret.as_ref())
    }
}
