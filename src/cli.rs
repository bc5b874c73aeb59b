//! The operations commands (`user …`, `tokens …`), calling the same use
//! cases as the HTTP API so that both behave alike.

use crate::config::{Settings, TokensCommand, UserCommand};
use crate::db::{self, AnyConnection};
use crate::domain::email::{is_valid_email, INVALID_EMAIL};
use crate::domain::{Password, Timestamp, Username};
use crate::error::ApiError;
use crate::service::passwords::hash_blocking;
use crate::service::{devices, users};
use std::io::{BufRead, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// A failed command: the message goes to standard error, the exit status is 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<ApiError> for CliError {
    fn from(error: ApiError) -> Self {
        CliError(match error {
            ApiError::Fields(errors) => format!("{errors}"),
            ApiError::Unavailable(cause) | ApiError::Internal(cause) => {
                format!("database error: {cause}")
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

fn open(settings: &Settings) -> Result<AnyConnection, CliError> {
    db::migrate(&settings.database_url)?;
    Ok(db::connect_once(&settings.database_url)?)
}

fn find_user(conn: &mut AnyConnection, name: &str) -> Result<db::users::User, CliError> {
    users::find(conn, name).map_err(|error| match error {
        ApiError::NotFound => CliError(format!("no user named {name:?}")),
        other => other.into(),
    })
}

/// The first line of standard input, checked against the password rules
/// for the user `username` with `email`.
fn read_new_password(
    stdin: &mut dyn BufRead,
    username: &str,
    email: &str,
) -> Result<Password, CliError> {
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| CliError(format!("cannot read the password from standard input: {e}")))?;
    let password = Password::new(line.trim_end_matches(['\r', '\n']).to_owned());
    let problems = password.problems_as_new_password(username, email);
    if problems.is_empty() {
        Ok(password)
    } else {
        Err(CliError(format!(
            "password refused: {}",
            problems.join(" ")
        )))
    }
}

pub fn run_user(
    settings: &Settings,
    command: UserCommand,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut conn = open(settings)?;
    let write_failed = |e: std::io::Error| CliError(format!("cannot write output: {e}"));
    match command {
        UserCommand::Create {
            name,
            email,
            admin,
            password_stdin: _,
        } => {
            let username = Username::parse(&name)
                .map_err(|message| CliError(format!("username refused: {message}")))?;
            let email = email.unwrap_or_default();
            if !email.is_empty() && !is_valid_email(&email) {
                return Err(CliError(format!("email refused: {INVALID_EMAIL}")));
            }
            let password = read_new_password(stdin, username.as_str(), &email)?;
            let hash = hash_blocking(&password)?;
            let user = users::create(
                &mut conn,
                users::CreateUser {
                    username: &username,
                    password_hash: &hash,
                    email: &email,
                    is_admin: admin,
                },
            )?;
            writeln!(
                out,
                "created user {} (id {}){}",
                user.username,
                user.id,
                if admin { " as admin" } else { "" }
            )
            .map_err(write_failed)?;
        }
        UserCommand::List => {
            for user in users::list(&mut conn)? {
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
                    if user.is_admin { "admin" } else { "user" },
                    user.last_login_at
                        .map(|at| Timestamp(at).to_rfc3339())
                        .unwrap_or_else(|| "never".into()),
                )
                .map_err(write_failed)?;
            }
        }
        UserCommand::SetPassword {
            name,
            password_stdin: _,
        } => {
            let user = find_user(&mut conn, &name)?;
            let password = read_new_password(stdin, &user.username, &user.email)?;
            let hash = hash_blocking(&password)?;
            let revoked = users::set_password(&mut conn, user.id, &hash)?;
            writeln!(
                out,
                "password of {} changed; {revoked} token(s) revoked",
                user.username
            )
            .map_err(write_failed)?;
        }
        UserCommand::Deactivate { name } => {
            let user = find_user(&mut conn, &name)?;
            let revoked = users::deactivate(&mut conn, user.id)?;
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

pub fn run_tokens(
    settings: &Settings,
    command: TokensCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut conn = open(settings)?;
    let write_failed = |e: std::io::Error| CliError(format!("cannot write output: {e}"));
    match command {
        TokensCommand::List { name } => {
            let user = find_user(&mut conn, &name)?;
            for device in devices::list(&mut conn, user.id, None)? {
                writeln!(
                    out,
                    "{}\tcreated {}\tlast used {}\texpires {}",
                    device.client,
                    device.created_at.to_rfc3339(),
                    device.last_used_at.to_rfc3339(),
                    device.expires_at.to_rfc3339()
                )
                .map_err(write_failed)?;
            }
        }
        TokensCommand::Revoke { name, client } => {
            let user = find_user(&mut conn, &name)?;
            devices::revoke(&mut conn, user.id, &client).map_err(|error| match error {
                ApiError::NotFound => {
                    CliError(format!("{} has no client {client:?}", user.username))
                }
                other => other.into(),
            })?;
            writeln!(out, "revoked {client} of {}", user.username).map_err(write_failed)?;
        }
        TokensCommand::RevokeAll { name } => {
            let user = find_user(&mut conn, &name)?;
            let revoked = devices::revoke_all(&mut conn, user.id)?;
            writeln!(out, "revoked {revoked} token(s) of {}", user.username)
                .map_err(write_failed)?;
        }
        TokensCommand::Prune => {
            let pruned = devices::prune_expired(&mut conn, Timestamp::now())?;
            writeln!(out, "pruned {pruned} expired token(s)").map_err(write_failed)?;
        }
    }
    Ok(())
}

/// Asks the server listening on `bind` for `GET /healthz`; `Ok` on a 200.
///
/// A wildcard bind address is reached through loopback. Plain HTTP over a
/// socket is all it takes, so the runtime image needs no curl.
pub fn healthcheck(bind: SocketAddr) -> Result<(), CliError> {
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
