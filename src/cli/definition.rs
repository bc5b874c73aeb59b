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
    /// Create a user; the password is asked for twice on the terminal, or read from standard input with --password-stdin.
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
        /// Read the password from the first line of standard input instead of asking for it on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// One line per user.
    List,
    /// Set a new password (asked for twice on the terminal, or read from standard input with --password-stdin); revokes all of the user's tokens.
    SetPassword {
        /// The user whose password changes.
        name: String,
        /// Read the password from the first line of standard input instead of asking for it on the terminal.
        #[arg(long)]
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

// The help tests live here, not in help.rs: they need the whole definition,
// and help.rs is what the definition is built with.
#[cfg(test)]
mod tests {
    use crate::cli::help::acts_on;

    #[test]
    fn every_setting_named_is_a_setting() {
        let root = crate::cli::Cli::definition();
        let ids: Vec<&str> = root.get_arguments().map(|a| a.get_id().as_str()).collect();
        for sub in root.get_subcommands() {
            for id in acts_on(sub.get_name()).unwrap_or_default() {
                assert!(ids.contains(id), "{}: no setting {id}", sub.get_name());
            }
        }
    }

    #[test]
    fn a_command_shows_the_settings_it_acts_on_and_accepts_all_of_them() {
        let mut root = crate::cli::Cli::definition();
        root.build();
        let help = |path: &[&str]| {
            let mut command = root.clone();
            for name in path {
                command = command.find_subcommand(name).expect(name).clone();
            }
            command.render_help().to_string()
        };
        let healthcheck = help(&["healthcheck"]);
        assert!(healthcheck.lines().count() <= 25, "{healthcheck}");
        assert!(healthcheck.contains("--bind") && !healthcheck.contains("--token-ttl"));
        let create = help(&["user", "create"]);
        assert!(create.contains("--database-url") && !create.contains("--mail-from"));
        assert!(help(&["serve"]).contains("--mail-from"));
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_args(
                std::iter::once("multitoken").chain(args.iter().copied()),
            )
        };
        let refused = parse(&["healthcheck", "--token-ttl", "soon"]).map(|_| ());
        assert!(refused.is_err_and(|e| e.to_string().contains("TOKEN_TTL: ")));
        for args in [
            &["--token-ttl", "2h", "user", "list"][..],
            &[
                "user",
                "create",
                "bob",
                "--password-stdin",
                "--token-ttl",
                "2h",
            ][..],
        ] {
            let ttl = parse(args).map(|cli| cli.settings.tokens.token_ttl);
            assert_eq!(
                ttl.ok(),
                Some(std::time::Duration::from_secs(7200)),
                "{args:?}"
            );
        }
    }

    /// One row of the settings reference: variable, flag, default, and the
    /// heading it is under.
    struct Row {
        variable: String,
        flag: String,
        default: String,
        heading: String,
    }

    fn reference_rows() -> Vec<Row> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/src/reference/configuration.md"
        );
        let page = std::fs::read_to_string(path).expect("the settings reference");
        let mut heading = String::new();
        let mut rows = Vec::new();
        for line in page.lines() {
            if let Some(title) = line.strip_prefix("## ") {
                heading = title.to_owned();
            }
            let cells: Vec<&str> = line.split(" | ").collect();
            if let [first, flag, default, _meaning] = cells[..] {
                if let Some(variable) = first.strip_prefix("| `") {
                    rows.push(Row {
                        variable: variable.trim_end_matches('`').to_owned(),
                        flag: flag.to_owned(),
                        default: default.to_owned(),
                        heading: heading.clone(),
                    });
                }
            }
        }
        rows
    }

    /// Every argument of every command that reads a variable.
    fn settings(command: &clap::Command) -> Vec<clap::Arg> {
        let mut found: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|arg| arg.get_env().is_some())
            .cloned()
            .collect();
        for sub in command.get_subcommands() {
            for arg in settings(sub) {
                if !found.iter().any(|seen| seen.get_id() == arg.get_id()) {
                    found.push(arg);
                }
            }
        }
        found
    }

    #[test]
    fn the_settings_reference_lists_every_variable_with_its_flag_heading_and_default() {
        let rows = reference_rows();
        let settings = settings(&crate::cli::Cli::definition());
        let mut documented: Vec<&str> = rows.iter().map(|row| row.variable.as_str()).collect();
        let mut declared: Vec<String> = settings
            .iter()
            .filter_map(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .collect();
        documented.sort_unstable();
        declared.sort_unstable();
        assert_eq!(documented, declared, "docs/src/reference/configuration.md");
        for arg in &settings {
            let variable = arg.get_env().map(|env| env.to_string_lossy().into_owned());
            let Some(row) = rows
                .iter()
                .find(|row| Some(&row.variable) == variable.as_ref())
            else {
                continue;
            };
            let flag = format!("`--{}`", arg.get_long().unwrap_or_default());
            assert_eq!(row.flag, flag, "{}", row.variable);
            assert_eq!(
                Some(row.heading.as_str()),
                arg.get_help_heading(),
                "{} is under the heading of its group",
                row.variable
            );
            match arg.get_default_values() {
                [default] if default.is_empty() => {
                    assert!(row.default.starts_with("unset"), "{}", row.variable)
                }
                [default] => assert_eq!(
                    row.default,
                    format!("`{}`", default.to_string_lossy()),
                    "{}",
                    row.variable
                ),
                // No default: the page says what happens when it is unset.
                _ => assert!(!row.default.starts_with('`'), "{}", row.variable),
            }
        }
    }
}
