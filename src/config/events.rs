//! The security events: how long they are kept.

use super::parse::named;
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Security events")]
    pub struct EventSettings {
        /// How long security events are kept, then swept.
        events_retention: Duration = "90d" => named(crate::domain::parse_duration),
    }
}
