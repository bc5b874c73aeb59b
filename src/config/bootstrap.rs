//! The first admin: created by `serve` at start when no active admin
//! exists, so that a fresh deployment can open the console without a
//! shell on its machine (`service::accounts::bootstrap`).

use super::parse::{named, secret};
use crate::domain::{Password, Username};
use std::path::PathBuf;

settings_group! {
    #[command(next_help_heading = "First admin")]
    pub struct BootstrapSettings {
        /// Username of the admin created at start when there is no active admin; nothing is done when one exists.
        bootstrap_admin: Option<Username> => named(parse_username),

        /// The password of BOOTSTRAP_ADMIN (the password rules apply). Prefer BOOTSTRAP_ADMIN_PASSWORD_FILE: a variable or flag can be read by other processes.
        #[arg(hide_env_values = true)]
        bootstrap_admin_password: Option<Password> => secret(parse_password),

        /// A file whose first line is the password of BOOTSTRAP_ADMIN (a mounted secret, for instance).
        bootstrap_admin_password_file: Option<PathBuf>,
    }
}

fn parse_password(text: &str) -> Result<Password, String> {
    Ok(Password::new(text.to_owned()))
}

fn parse_username(text: &str) -> Result<Username, String> {
    Username::parse(text.trim()).map_err(str::to_owned)
}

impl BootstrapSettings {
    /// The settings agree: a password in one place exactly, and an admin to give it to.
    pub fn validate(&self) -> Result<(), String> {
        let password = self.bootstrap_admin_password.is_some();
        let file = self.bootstrap_admin_password_file.is_some();
        match (self.bootstrap_admin.is_some(), password, file) {
            (_, true, true) => Err(
                "BOOTSTRAP_ADMIN_PASSWORD and BOOTSTRAP_ADMIN_PASSWORD_FILE are both set: set one"
                    .into(),
            ),
            (true, false, false) => Err(
                "BOOTSTRAP_ADMIN is set without BOOTSTRAP_ADMIN_PASSWORD or BOOTSTRAP_ADMIN_PASSWORD_FILE"
                    .into(),
            ),
            (false, true, _) | (false, _, true) => Err(
                "BOOTSTRAP_ADMIN_PASSWORD or BOOTSTRAP_ADMIN_PASSWORD_FILE is set without BOOTSTRAP_ADMIN"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// The admin to create, with their password (read from its file when
    /// given so), if one is configured. The file's first line is the
    /// password, without its line ending; an error never repeats it.
    pub fn admin(&self) -> Result<Option<(Username, Password)>, String> {
        let Some(username) = &self.bootstrap_admin else {
            return Ok(None);
        };
        let password = match (
            &self.bootstrap_admin_password,
            &self.bootstrap_admin_password_file,
        ) {
            (Some(password), _) => password.clone(),
            (None, Some(path)) => read_password_file(path)?,
            (None, None) => return Err("BOOTSTRAP_ADMIN is set without a password".into()),
        };
        Ok(Some((username.clone(), password)))
    }
}

/// The first line of `path`. Bounded: a password file is small, and a path
/// set by mistake (a device, a big file) must not be read whole.
fn read_password_file(path: &std::path::Path) -> Result<Password, String> {
    use std::io::{BufRead, BufReader, Read};
    let refused = |e: std::io::Error| {
        format!(
            "BOOTSTRAP_ADMIN_PASSWORD_FILE: cannot read {}: {e}",
            path.display()
        )
    };
    let file = std::fs::File::open(path).map_err(refused)?;
    let mut line = String::new();
    BufReader::new(file.take(4096))
        .read_line(&mut line)
        .map_err(refused)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(format!(
            "BOOTSTRAP_ADMIN_PASSWORD_FILE: {} starts with an empty line",
            path.display()
        ));
    }
    Ok(Password::new(password.to_owned()))
}
