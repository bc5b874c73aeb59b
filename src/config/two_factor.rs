//! Two-factor authentication: whether admins must have it.

use super::parse::{boolean, named};

settings_group! {
    #[command(next_help_heading = "Two-factor authentication")]
    pub struct TwoFactorSettings {
        /// Refuse the console, the admin API and /introspect to admins without two-factor authentication: true or false.
        #[arg(action = clap::ArgAction::Set)]
        require_2fa_for_admins: bool = "false" => named(boolean),
    }
}
