//! Every setting in one typed place, in groups (one file each): each is a
//! command-line flag and an environment variable whose name, default,
//! parser and `--help` text (the doc comment) are written once, in its
//! group. They are parsed and checked once at start, with messages that
//! name the variable; `docs/src/reference/configuration.md` lists them,
//! and a test holds it to these declarations.

/// Declares a group of settings: a clap `Args` struct whose fields are
/// settings, `field: Type = "default" => parser,` (default and parser when
/// it has them) described by their doc comment, the `--help` text. Every
/// setting is the same three things, a `--flag` that every command accepts,
/// an environment variable named after its field, and a line under the
/// group's heading in `--help`, so those are written here once: a new setting
/// cannot forget to be global, nor spell its variable apart from its field.
/// What one setting does differently (another flag or variable name, a value
/// kept out of `--help`, a `true`/`false` value) is an `#[arg(...)]` of its
/// own, which comes after and so wins. An `internal` field is no setting but
/// a fixed value, there for tests to shorten.
macro_rules! settings_group {
    ($(#[$group:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        settings_group!(@field [$(#[$group])*] $name [] $($fields)*);
    };
    (@field $group:tt $name:ident [$($done:tt)*]
        $(#[$attr:meta])* internal $field:ident: $ty:ty = $value:expr, $($rest:tt)*
    ) => {
        settings_group!(@field $group $name [
            $($done)*
            $(#[$attr])*
            #[arg(skip = $value)]
            pub $field: $ty,
        ] $($rest)*);
    };
    (@field $group:tt $name:ident [$($done:tt)*]
        $(#[$attr:meta])* $field:ident: $ty:ty $(= $default:literal)? $(=> $parser:expr)?,
        $($rest:tt)*
    ) => {
        settings_group!(@field $group $name [
            $($done)*
            #[arg(long, env, global = true
                  $(, default_value = $default)? $(, value_parser = $parser)?)]
            $(#[$attr])*
            pub $field: $ty,
        ] $($rest)*);
    };
    (@field [$($group:tt)*] $name:ident [$($done:tt)*]) => {
        #[derive(Debug, Clone, clap::Args)]
        $($group)*
        pub struct $name {
            $($done)*
        }
    };
}

mod accounts;
mod bootstrap;
mod console;
mod database;
mod device_grant;
mod dpop;
mod events;
mod jwt;
mod mail;
mod oidc;
mod parse;
mod server;
mod throttles;
mod token_cache;
mod tokens;
mod two_factor;
mod webhooks;

pub use self::accounts::AccountSettings;
pub use self::bootstrap::BootstrapSettings;
pub use self::console::ConsoleSettings;
pub use self::database::DatabaseSettings;
pub use self::device_grant::DeviceGrantSettings;
pub use self::dpop::DpopSettings;
pub use self::events::EventSettings;
pub use self::jwt::JwtSettings;
pub use self::mail::{MailSettings, MAIL_RETRY_BASE};
pub use self::oidc::{OidcSettings, OIDC_HTTP_TIMEOUT};
pub use self::server::{ServerSettings, BODY_READ_TIMEOUT, SWEEP_EVERY};
pub use self::throttles::ThrottleSettings;
pub use self::token_cache::TokenCacheSettings;
pub use self::tokens::TokenSettings;
pub use self::two_factor::TwoFactorSettings;
pub use self::webhooks::{WebhookSettings, WEBHOOK_RETRY_BASE, WEBHOOK_SEND_TIMEOUT};
pub use crate::domain::registration::Registration;

use crate::db::Database;
use clap::{Args, FromArgMatches};
use std::net::SocketAddr;

/// Every setting, by group; the order of the groups is the order of the
/// headings in `--help`.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub tokens: TokenSettings,
    #[command(flatten)]
    pub token_cache: TokenCacheSettings,
    #[command(flatten)]
    pub throttles: ThrottleSettings,
    #[command(flatten)]
    pub accounts: AccountSettings,
    #[command(flatten)]
    pub mail: MailSettings,
    #[command(flatten)]
    pub console: ConsoleSettings,
    #[command(flatten)]
    pub jwt: JwtSettings,
    #[command(flatten)]
    pub oidc: OidcSettings,
    #[command(flatten)]
    pub two_factor: TwoFactorSettings,
    #[command(flatten)]
    pub events: EventSettings,
    #[command(flatten)]
    pub dpop: DpopSettings,
    #[command(flatten)]
    pub device_grant: DeviceGrantSettings,
    #[command(flatten)]
    pub webhooks: WebhookSettings,
    #[command(flatten)]
    pub bootstrap: BootstrapSettings,
}

impl Settings {
    /// The flags' own defaults, parsed as the flags parse them, with no
    /// environment variable read.
    pub fn defaults() -> Self {
        let command =
            Settings::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
        // The defaults are constants that the unit tests parse: a failure
        // here is a bug in a declaration, not an input.
        command
            .try_get_matches_from(["multitoken"])
            .and_then(|matches| Settings::from_arg_matches(&matches))
            .unwrap_or_else(|e| panic!("the settings' defaults do not parse: {e}"))
    }

    /// The defaults on the given database and a free loopback port: what
    /// tests and embedders start from.
    pub fn with_database(database: Database) -> Self {
        let mut settings = Settings::defaults();
        settings.database.database_url = database;
        settings.server.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        settings
    }

    /// The rules within a group, and between settings.
    pub fn validate(&self) -> Result<(), String> {
        self.tokens.validate()?;
        self.server.validate()?;
        self.jwt.validate()?;
        self.accounts.validate()?;
        self.console.validate()?;
        self.token_cache.validate()?;
        self.dpop.validate()?;
        self.webhooks.validate()?;
        self.bootstrap.validate()?;
        self.database.validate()
    }

    /// Whether token checks go through the cache: PostgreSQL only.
    pub fn caches_tokens(&self) -> bool {
        self.token_cache.token_cache
            && matches!(self.database.database_url, Database::Postgres { .. })
    }
}
#[cfg(test)]
mod tests;
