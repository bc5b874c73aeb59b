//! The command line's shape: the settings, the subcommands and their
//! arguments, each with the text its `--help` shows.

use super::help;
use crate::config::Settings;
use crate::domain::ClientName;
use crate::service::accounts::django_import::Admins;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "multitoken",
    version,
    about = "Per-client API tokens: one token per device, revocable one at a time."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    /// What to do; without one, serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command line as the binary parses it: clap's, with each command
    /// showing in its help only the settings it acts on.
    pub fn definition() -> clap::Command {
        help::show_only_used_settings(Cli::command())
    }

    /// Parses `args` (the program's name first).
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut matches = Cli::definition().try_get_matches_from(args)?;
        Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::definition()))
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Migrate the database if needed, then serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and revoke tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The keys that sign JWT access tokens.
    #[command(subcommand)]
    Jwt(JwtCommand),
    /// The security events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Exit 0 when the server on MULTITOKEN_BIND answers GET /healthz (for container health checks).
    Healthcheck,
    /// Copy a Django project's users and live tokens (DRF, multitoken, knox); the Django database is only read.
    ImportDjango {
        /// The Django database: a SQLite path or postgres://…
        url: String,
        /// Read and check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Update users whose name exists here already, instead of skipping them.
        #[arg(long)]
        update: bool,
        /// Who becomes an admin: Django's superusers, its staff (superusers too), or nobody.
        #[arg(long, value_enum, default_value = "superuser")]
        admins: Admins,
        /// The client name given to DRF tokens.
        #[arg(long, default_value = "drf",
              value_parser = |text: &str| ClientName::parse(text).map_err(|e| e.to_string()))]
        drf_client: ClientName,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is the first line of standard input.
    Create {
        /// The username: what the user signs in with.
        name: String,
        /// The user's e-mail address, for password resets and notices; none when left out.
        #[arg(long)]
        email: Option<String>,
        /// An admin: may use the console and the admin API.
        #[arg(long)]
        admin: bool,
        /// A service user: may introspect other users' keys (`POST /introspect`).
        #[arg(long)]
        service: bool,
        /// Read the password from the first line of standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// One line per user.
    List,
    /// Set a new password (first line of standard input); revokes all of the user's tokens.
    SetPassword {
        /// The user whose password changes.
        name: String,
        /// Read the password from the first line of standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Deactivate a user; revokes all of the user's tokens.
    Deactivate {
        /// The user to deactivate.
        name: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum TokensCommand {
    /// A user's devices: client, created, last used, expires.
    List {
        /// The user whose devices are listed.
        name: String,
    },
    /// Revoke one device of a user.
    Revoke {
        /// The user the device belongs to.
        name: String,
        /// The device's client name, as `tokens list` shows it.
        client: String,
    },
    /// Revoke every device of a user.
    RevokeAll {
        /// The user whose devices are all revoked.
        name: String,
    },
    /// Delete every expired token now and print how many.
    Prune,
}

#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// The newest events, of one user when NAME is given, one line each:
    /// time, type, user id, client, actor, address, detail (`-` for none).
    List {
        /// Only this user's events; everyone's when left out.
        name: Option<String>,
        /// How many events at most.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum JwtCommand {
    /// Make a new signing key; the old one verifies for ACCESS_TOKEN_LIFETIME more, then leaves the JWKS.
    RotateKey,
    /// The signing keys: kid, created, and whether it signs or until when it verifies.
    Keys,
}
