//! The admin console's sessions: their cookie, and how long they last.

use super::parse::{boolean, longer_than_zero, named};
use crate::domain::parse_duration;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Console")]
pub struct ConsoleSettings {
    /// Mark the console's session cookie `Secure` (sent over HTTPS only).
    #[arg(long, env = "COOKIE_SECURE", default_value = "false", global = true,
          action = clap::ArgAction::Set, value_parser = named(boolean))]
    pub cookie_secure: bool,

    /// A console session unused this long ends (signed out).
    #[arg(long, env = "CONSOLE_SESSION_IDLE", default_value = "1h", global = true,
          value_parser = named(parse_duration))]
    pub console_session_idle: Duration,

    /// A console session ends this long after sign-in, however busy.
    #[arg(long, env = "CONSOLE_SESSION_MAX_AGE", default_value = "8h", global = true,
          value_parser = named(parse_duration))]
    pub console_session_max_age: Duration,
}

impl ConsoleSettings {
    pub fn validate(&self) -> Result<(), String> {
        longer_than_zero("CONSOLE_SESSION_IDLE", self.console_session_idle)?;
        if self.console_session_max_age < self.console_session_idle {
            return Err(format!(
                "CONSOLE_SESSION_MAX_AGE ({:?}) must not be shorter than CONSOLE_SESSION_IDLE ({:?})",
                self.console_session_max_age, self.console_session_idle
            ));
        }
        Ok(())
    }
}
