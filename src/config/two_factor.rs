//! Two-factor authentication: whether admins must have it.

use super::parse::{boolean, named};
use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Two-factor authentication")]
pub struct TwoFactorSettings {
    /// Refuse the console, the admin API and /introspect to admins without two-factor authentication: true or false.
    #[arg(long = "require-2fa-for-admins", env = "REQUIRE_2FA_FOR_ADMINS", default_value = "false", global = true,
          action = clap::ArgAction::Set, value_parser = named(boolean))]
    pub require_2fa_for_admins: bool,
}
