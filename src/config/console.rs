//! The admin console's sessions: their cookie, and how long they last.

use super::parse::{boolean, longer_than_zero, named};
use crate::domain::parse_duration;
use std::time::Duration;

settings_group! {
    #[command(next_help_heading = "Console")]
    pub struct ConsoleSettings {
        /// Mark the console's session cookie `Secure` (sent over HTTPS only).
        #[arg(action = clap::ArgAction::Set)]
        cookie_secure: bool = "false" => named(boolean),

        /// A console session unused this long ends (signed out).
        console_session_idle: Duration = "1h" => named(parse_duration),

        /// A console session ends this long after sign-in, however busy.
        console_session_max_age: Duration = "8h" => named(parse_duration),
    }
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
