//! The command line: every subcommand (defined in `definition`) is carried
//! out here, calling the same use cases as the HTTP API so that both behave
//! alike. `main` only parses it and reports the outcome.

use crate::config::Settings;
use crate::db::{self, AnyConnection};
use crate::domain::account::{AccountFields, AccountInput, NewAccount};
use crate::domain::email::Email;
use crate::domain::event::{Actor, EventSource, RevokedBy};
use crate::domain::{FieldErrors, NewPassword, Password, Timestamp};
use crate::service::accounts::django_import::{self, ImportError, ImportOptions};
use crate::service::accounts::users;
use crate::service::shared::passwords::hash_blocking;
use crate::service::shared::{events, secret_key, webhooks};
use crate::service::tokens::jwt;
use crate::service::tokens::{self, Revocation};
use crate::service::Error;
use crate::startup::Application;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

mod definition;
mod help;

pub use definition::{Cli, Command, EventsCommand, JwtCommand, TokensCommand, UserCommand};

/// A failed command: the message goes to standard error, the exit status is 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        CliError(match error {
            Error::Invalid(errors) => format!("{errors}"),
            Error::Unavailable(_) | Error::Internal(_) => {
                format!("database error: {}", error.chain())
            }
            other => other.to_string(),
        })
    }
}

impl From<db::DbSetupError> for CliError {
    fn from(error: db::DbSetupError) -> Self {
        CliError(error.to_string())
    }
}

impl Command {
    /// Carries out the command (serving when there is none), reading a
    /// password from `stdin` where one is asked for and writing to `out`.
    pub fn run(
        command: Option<Command>,
        settings: Settings,
        stdin: &mut dyn BufRead,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        // Every setting is a global flag whose value its parser has checked
        // whatever the command; the rules between settings are checked as
        // alike, so that no command runs on settings `serve` would refuse.
        settings.validate().map_err(CliError)?;
        match command {
            None | Some(Command::Serve) => serve(settings),
            Some(Command::Migrate) => {
                let applied = db::migrate(&settings.database.database_url)?;
                writeln!(
                    out,
                    "applied {applied} migration(s) to {}",
                    settings.database.database_url.describe()
                )
                .map_err(write_failed)
            }
            Some(Command::User(command)) => {
                let mut conn = open(&settings)?;
                run_user(&mut conn, command, stdin, out)?;
                wait_for_other_instances(&settings, &mut conn)
            }
            Some(Command::Tokens(command)) => {
                let mut conn = open(&settings)?;
                run_tokens(&mut conn, command, out)?;
                wait_for_other_instances(&settings, &mut conn)
            }
            Some(Command::Jwt(command)) => run_jwt(&settings, command, out),
            Some(Command::Events(command)) => run_events(&mut open(&settings)?, command, out),
            Some(Command::Healthcheck) => healthcheck(settings.server.bind),
            Some(Command::ImportDjango {
                url,
                dry_run,
                update,
                admins,
                drf_client,
            }) => {
                let options = ImportOptions {
                    dry_run,
                    update,
                    admins,
                    drf_client,
                    policy: settings.tokens.policy(),
                };
                import_django(&settings, &url, &options, out)
            }
        }
    }
}

fn serve(settings: Settings) -> Result<(), CliError> {
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).map_err(|e| CliError(e.to_string()))?;
        application
            .run_until_stopped()
            .await
            .map_err(|e| CliError(format!("server stopped: {e}")))
    })
}

/// The import, with a progress bar on standard error when that is a terminal.
fn import_django(
    settings: &Settings,
    url: &str,
    options: &ImportOptions,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut source = db::django::open_read_only(url)
        .map_err(|e| CliError(format!("cannot read the Django database: {e}")))?;
    let mut target = open(settings)?;
    let bar = match std::io::stderr().is_terminal() {
        true => ProgressBar::new(0),
        false => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} users {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = |read: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(read);
    };
    let report = django_import::import(&mut source, &mut target, options, &mut progress);
    bar.finish_and_clear();
    let report = report.map_err(|error| match error {
        ImportError::Ours(error) => CliError::from(error),
        other => CliError(other.to_string()),
    })?;
    write!(out, "{report}").map_err(write_failed)
}

fn write_failed(error: std::io::Error) -> CliError {
    CliError(format!("cannot write output: {error}"))
}

/// The database, with what recording events needs set for this thread:
/// the `sid` key if the secret key is known, and the webhooks.
fn open(settings: &Settings) -> Result<AnyConnection, CliError> {
    db::migrate(&settings.database.database_url)?;
    let mut conn = db::connect_once(&settings.database.database_url)?;
    let secret = secret_key::known(&mut conn, settings.server.secret_key.as_ref());
    let sid_key = secret.as_ref().map(crate::domain::jwt::SidKey::derive);
    webhooks::EventContext::new(sid_key, &settings.webhooks).install_for_thread();
    Ok(conn)
}

fn find_user(conn: &mut AnyConnection, name: &str) -> Result<db::users::User, CliError> {
    users::find(conn, name).map_err(|error| match error {
        Error::NotFound => CliError(format!("no user named {name:?}")),
        other => other.into(),
    })
}

/// A new password: the first line of standard input with `--password-stdin`,
/// else asked for twice, not echoed, on the terminal. Without a terminal
/// and without the flag there is no one to ask: an error, not a wait on a
/// pipe that may never end or an empty password.
fn new_password(password_stdin: bool, stdin: &mut dyn BufRead) -> Result<Password, CliError> {
    if password_stdin {
        return read_password(stdin);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError(
            "standard input is not a terminal to ask for the password on: \
             give it as the first line of standard input with --password-stdin"
                .into(),
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError(format!("cannot read the password from the terminal: {e}")))
    };
    let first = ask("Password: ")?;
    if ask("Password (again): ")? != first {
        return Err(CliError("passwords do not match".into()));
    }
    Ok(Password::new(first))
}

/// The first line of standard input, a password.
fn read_password(stdin: &mut dyn BufRead) -> Result<Password, CliError> {
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| CliError(format!("cannot read the password from standard input: {e}")))?;
    Ok(Password::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// The first field's problems, as the command line reports them.
fn refused(errors: &FieldErrors) -> CliError {
    let (field, messages) = ["username", "email", "password"]
        .into_iter()
        .map(|field| (field, errors.messages(field)))
        .find(|(_, messages)| !messages.is_empty())
        .unwrap_or(("account", Vec::new()));
    CliError(format!("{field} refused: {}", messages.join(" ")))
}

fn run_user(
    conn: &mut AnyConnection,
    command: UserCommand,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            name,
            email,
            admin,
            service,
            password_stdin,
        } => {
            let mut errors = FieldErrors::new();
            let email = email.unwrap_or_default();
            let password = new_password(password_stdin, stdin)?;
            let account = AccountFields::parse(
                AccountInput {
                    username: Some(&name),
                    password: Some(password),
                    email: &email,
                    email_required: false,
                },
                &mut errors,
            )
            .account()
            .filter(|_| errors.is_empty())
            .ok_or_else(|| refused(&errors))?;
            let NewAccount {
                username,
                password,
                email,
            } = account;
            let email = email.map(Email::into_string).unwrap_or_default();
            let password = password.into_password();
            let hash = hash_blocking(&password)?;
            let user = users::create(
                conn,
                users::CreateUser {
                    username: &username,
                    password_hash: &hash,
                    email: &email,
                    is_admin: admin,
                    is_service: service,
                },
                &cli_source(),
            )?;
            writeln!(
                out,
                "created user {} (id {}){}",
                user.username,
                user.id,
                match (admin, service) {
                    (true, true) => " as admin and service",
                    (true, false) => " as admin",
                    (false, true) => " as service",
                    (false, false) => "",
                }
            )
            .map_err(write_failed)?;
        }
        UserCommand::List => {
            for user in users::list(conn)? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\tlast login {}",
                    user.id,
                    user.username,
                    if user.email.is_empty() {
                        "-"
                    } else {
                        &user.email
                    },
                    if user.is_active { "active" } else { "inactive" },
                    match (user.is_admin, user.is_service) {
                        (true, true) => "admin,service",
                        (true, false) => "admin",
                        (false, true) => "service",
                        (false, false) => "user",
                    },
                    user.last_login_at
                        .map(|at| Timestamp(at).to_rfc3339())
                        .unwrap_or_else(|| "never".into()),
                )
                .map_err(write_failed)?;
            }
        }
        UserCommand::SetPassword {
            name,
            password_stdin,
        } => {
            let user = find_user(conn, &name)?;
            let password = new_password(password_stdin, stdin)?;
            let password = NewPassword::parse(password, &user.username, &user.email)
                .map_err(|problems| CliError(format!("password refused: {}", problems.join(" "))))?
                .into_password();
            let hash = hash_blocking(&password)?;
            let revoked = users::set_password(conn, user.id, &hash, &cli_source())?;
            writeln!(
                out,
                "password of {} changed; {revoked} token(s) revoked",
                user.username
            )
            .map_err(write_failed)?;
        }
        UserCommand::Deactivate { name } => {
            let user = find_user(conn, &name)?;
            let revoked = users::deactivate(conn, user.id, &cli_source())?;
            writeln!(
                out,
                "deactivated {}; {revoked} token(s) revoked",
                user.username
            )
            .map_err(write_failed)?;
        }
    }
    Ok(())
}

/// A command that revoked keys exits only once no instance's cache can
/// still accept them (see `tokens::revocation_sync`), as a request would.
fn wait_for_other_instances(settings: &Settings, conn: &mut AnyConnection) -> Result<(), CliError> {
    let metrics = crate::metrics::Metrics::new().map_err(|e| CliError(e.to_string()))?;
    let ack_timeout = settings.token_cache.revocation_ack_timeout;
    tokens::revocation_sync::wait_blocking(conn, ack_timeout, &metrics);
    Ok(())
}

/// Where the command line's changes come from, for their security events.
fn cli_source() -> EventSource {
    EventSource::without_request(Actor::Cli)
}

fn run_tokens(
    conn: &mut AnyConnection,
    command: TokensCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        TokensCommand::List { name } => {
            let user = find_user(conn, &name)?;
            for device in tokens::list(conn, user.id, None)? {
                writeln!(
                    out,
                    "{}\tcreated {}\tlast used {}\texpires {}\tscopes {}",
                    device.client,
                    device.created_at.to_rfc3339(),
                    device.last_used_at.to_rfc3339(),
                    device.expires_at.to_rfc3339(),
                    if device.scopes.is_empty() {
                        "(unrestricted)".to_owned()
                    } else {
                        device.scopes.join(" ")
                    }
                )
                .map_err(write_failed)?;
            }
        }
        TokensCommand::Revoke { name, client } => {
            let user = find_user(conn, &name)?;
            let revocation = Revocation::Device {
                user_id: user.id,
                client: client.clone(),
            };
            let revoked = tokens::revoke(conn, &revocation, RevokedBy::Device, &cli_source());
            revoked.map_err(|error| match error {
                Error::NotFound => CliError(format!("{} has no client {client:?}", user.username)),
                other => other.into(),
            })?;
            writeln!(out, "revoked {client} of {}", user.username).map_err(write_failed)?;
        }
        TokensCommand::RevokeAll { name } => {
            let user = find_user(conn, &name)?;
            let revocation = Revocation::All { user_id: user.id };
            let revoked = tokens::revoke(conn, &revocation, RevokedBy::LogoutAll, &cli_source())?;
            writeln!(out, "revoked {revoked} token(s) of {}", user.username)
                .map_err(write_failed)?;
        }
        TokensCommand::Prune => {
            let pruned = tokens::prune_expired(conn, Timestamp::now(), Actor::Cli)?;
            writeln!(out, "pruned {pruned} expired token(s)").map_err(write_failed)?;
        }
    }
    Ok(())
}

fn run_events(
    conn: &mut AnyConnection,
    command: EventsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let EventsCommand::List { name, limit } = command;
    let user_id = match name {
        Some(name) => Some(find_user(conn, &name)?.id),
        None => None,
    };
    let filter = events::Filter {
        user_id,
        ..events::Filter::default()
    };
    let or_dash = |text: Option<String>| text.unwrap_or_else(|| "-".to_owned());
    for event in events::newest(conn, filter, i64::from(limit))? {
        writeln!(
            out,
            "{}\t{}\tuser {}\t{}\t{}\t{}\t{}",
            event.at.to_rfc3339(),
            event.kind,
            or_dash(event.user_id.map(|id| id.to_string())),
            or_dash(event.client),
            event.actor,
            or_dash(event.ip),
            or_dash(event.detail),
        )
        .map_err(write_failed)?;
    }
    Ok(())
}

fn run_jwt(settings: &Settings, command: JwtCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let mut conn = open(settings)?;
    match command {
        JwtCommand::RotateKey => {
            let secret = secret_key::resolve(
                &mut conn,
                settings.server.secret_key.as_ref(),
                settings.server.bind,
            )
            .map_err(CliError)?;
            let kid = jwt::rotate_key(&mut conn, settings, &secret).map_err(CliError)?;
            writeln!(
                out,
                "new signing key {kid}; the previous one verifies for {} more",
                crate::domain::duration::format_duration(settings.jwt.access_token_lifetime)
            )
            .map_err(write_failed)?;
        }
        JwtCommand::Keys => {
            for key in jwt::list_keys(&mut conn, settings).map_err(CliError)? {
                let state = match (key.retired_at, key.verifies_until) {
                    (Some(retired), Some(until)) if until > Timestamp::now() => format!(
                        "retired {}\tverifies until {}",
                        retired.to_rfc3339(),
                        until.to_rfc3339()
                    ),
                    (Some(retired), _) => {
                        format!("retired {}\tno longer verifies", retired.to_rfc3339())
                    }
                    (None, _) => "signing".to_owned(),
                };
                writeln!(
                    out,
                    "{}\tcreated {}\t{state}",
                    key.kid,
                    key.created_at.to_rfc3339()
                )
                .map_err(write_failed)?;
            }
        }
    }
    Ok(())
}

/// Asks the server listening on `bind` for `GET /healthz`; `Ok` on a 200.
///
/// A wildcard bind address is reached through loopback. Plain HTTP over a
/// socket is all it takes, so the runtime image needs no curl.
fn healthcheck(bind: SocketAddr) -> Result<(), CliError> {
    let mut target = bind;
    if target.ip().is_unspecified() {
        target.set_ip(if bind.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
    let fail = |e: std::io::Error| CliError(format!("health check of {target} failed: {e}"));
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&target, timeout).map_err(fail)?;
    stream.set_read_timeout(Some(timeout)).map_err(fail)?;
    stream.set_write_timeout(Some(timeout)).map_err(fail)?;
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(fail)?;
    let mut response = Vec::new();
    stream
        .take(16 * 1024)
        .read_to_end(&mut response)
        .map_err(fail)?;
    let status_line = String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if status_line.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(CliError(format!(
            "health check of {target} failed: {status_line:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::iter::once("multitoken").chain(args.iter().copied()))
    }

    #[test]
    fn subcommands_match_the_contract() {
        assert!(matches!(parse(&[]).map(|c| c.command), Ok(None)));
        assert!(matches!(
            parse(&["tokens", "revoke", "alice", "ios"]).map(|c| c.command),
            Ok(Some(Command::Tokens(TokensCommand::Revoke { .. })))
        ));
        assert!(matches!(
            parse(&["user", "create", "bob", "--admin", "--password-stdin"]).map(|c| c.command),
            Ok(Some(Command::User(UserCommand::Create { admin: true, .. })))
        ));
        assert!(
            matches!(
                parse(&["user", "create", "bob"]).map(|c| c.command),
                Ok(Some(Command::User(UserCommand::Create {
                    password_stdin: false,
                    ..
                })))
            ),
            "without --password-stdin, the password is asked for on the terminal"
        );
    }
}
