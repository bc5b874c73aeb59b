//! The one password check, shared by `POST /login` and the console's
//! sign-in: a fix to it is made once.

use super::{Error, Services};
use crate::db::users;
use crate::domain::username::lookup_key;
use crate::domain::Password;

/// A user whose password was just checked.
#[derive(Clone)]
pub struct Credentials {
    pub user_id: i64,
    pub is_admin: bool,
    /// The hash the password matched: a token is issued only while the
    /// user still has it (see `tokens::issue`).
    pub checked_hash: String,
}

/// Checks `password` for the user named `username` (without regard to
/// case). An unknown user, a wrong password and an inactive user are all
/// `BadCredentials`; an unknown user costs the same argon2 verification as
/// a wrong password, against the hasher's dummy hash, so the answer's timing
/// does not tell which names exist.
pub async fn verify(
    services: &Services,
    username: &str,
    password: Password,
) -> Result<Credentials, Error> {
    let key = lookup_key(username);
    let found = services
        .db(move |conn| Ok(users::credentials_by_key(conn, &key)?))
        .await?;
    let phc = found.as_ref().map(|user| user.password_hash.clone());
    let password_matches = services.hasher.verify(password, phc).await?;
    match found {
        Some(user) if password_matches && user.is_active => Ok(Credentials {
            user_id: user.id,
            is_admin: user.is_admin,
            checked_hash: user.password_hash,
        }),
        _ => Err(Error::BadCredentials),
    }
}
