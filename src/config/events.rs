//! The security events: how long they are kept.

use super::parse::named;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Security events")]
pub struct EventSettings {
    /// How long security events are kept, then swept.
    #[arg(long, env = "EVENTS_RETENTION", default_value = "90d", global = true,
          value_parser = named(crate::domain::parse_duration))]
    pub events_retention: Duration,
}
