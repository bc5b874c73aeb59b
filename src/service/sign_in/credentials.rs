//! The one password check, shared by `POST /login` and the console's
//! sign-in: a fix to it is made once. Also the check of a signed-in user's
//! own password, before they change it or their second factor; and the
//! rule `EMAIL_VERIFICATION=mandatory` adds to every way of signing in
//! ([`allow_sign_in`]), called after the password or provider check so that
//! it tells nothing to someone without it.

use crate::config::Settings;
use crate::db::users;
use crate::domain::email_verification::EmailVerification;
use crate::domain::username::lookup_key;
use crate::domain::Password;
use crate::service::shared::passwords::needs_rehash;
use crate::service::tokens::CheckedHash;
use crate::service::{Error, Services};

use crate::domain::messages::EMAIL_NOT_VERIFIED;

/// A user whose password was just checked.
#[derive(Clone)]
pub struct Credentials {
    pub user_id: i64,
    pub is_admin: bool,
    /// Two-factor authentication is on: the sign-in needs a code too.
    pub two_factor: bool,
    /// For [`allow_sign_in`].
    pub email: String,
    pub email_verified: bool,
    /// The hash the password matched: a token is issued only while the
    /// user still has it (see `tokens::issue`).
    pub checked_hash: String,
    /// Our own argon2id of the password, when the matched hash was one
    /// imported from Django: the sign-in stores it in place of that one.
    pub rehashed: Option<String>,
}

impl Credentials {
    pub fn checked(&self) -> CheckedHash<'_> {
        CheckedHash {
            checked: &self.checked_hash,
            rehashed: self.rehashed.as_deref(),
        }
    }
}

/// Checks `password` for the user named `username` (without regard to
/// case). An unknown user, a wrong password and an inactive user are all
/// `BadCredentials`; an unknown user costs the same argon2 verification as
/// a wrong password, against the hasher's dummy hash, so the answer's timing
/// does not tell which names exist. A Django hash that matches costs one
/// more hash, once: the new one replaces it.
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
    let password_matches = services.hasher.verify(password.clone(), phc).await?;
    match found {
        Some(user) if password_matches && user.is_active => {
            let rehashed = match needs_rehash(&user.password_hash) {
                true => Some(services.hasher.hash(password).await?),
                false => None,
            };
            Ok(Credentials {
                user_id: user.id,
                is_admin: user.is_admin,
                two_factor: user.two_factor,
                email: user.email,
                email_verified: user.email_verified,
                checked_hash: user.password_hash,
                rehashed,
            })
        }
        _ => Err(Error::BadCredentials),
    }
}

/// Checks the password of the signed-in user `user_id`: `BadCredentials`
/// when it is wrong. Run it under the login throttle (a wrong one is a guess
/// at the user's password like a wrong login).
pub async fn verify_own(
    services: &Services,
    user_id: i64,
    password: Password,
) -> Result<(), Error> {
    let hash = services
        .db(move |conn| Ok(users::password_hash(conn, user_id)?))
        .await?;
    match services.hasher.verify(password, hash).await? {
        true => Ok(()),
        false => Err(Error::BadCredentials),
    }
}

/// The sign-in rule of `EMAIL_VERIFICATION=mandatory`, for every way of
/// signing in, after its credential check: a user whose address is not
/// verified may not sign in. A user without any address is let in: only an
/// admin, the command line or an import makes one (registration then
/// requires an address), and there is nothing they could verify.
pub fn allow_sign_in(settings: &Settings, email: &str, email_verified: bool) -> Result<(), Error> {
    if settings.accounts.email_verification == EmailVerification::Mandatory
        && !email.is_empty()
        && !email_verified
    {
        return Err(Error::field("non_field_errors", EMAIL_NOT_VERIFIED));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    fn settings(mode: EmailVerification) -> Settings {
        let mut settings = Settings::with_database(Database::Sqlite { path: "x".into() });
        settings.accounts.email_verification = mode;
        settings
    }

    #[test]
    fn only_mandatory_keeps_an_unverified_address_from_signing_in() {
        let refused =
            |mode, email: &str, verified| allow_sign_in(&settings(mode), email, verified).is_err();
        assert!(refused(
            EmailVerification::Mandatory,
            "a@example.com",
            false
        ));
        assert!(!refused(
            EmailVerification::Mandatory,
            "a@example.com",
            true
        ));
        assert!(
            !refused(EmailVerification::Mandatory, "", false),
            "nothing to verify"
        );
        assert!(!refused(
            EmailVerification::Optional,
            "a@example.com",
            false
        ));
        assert!(!refused(EmailVerification::None, "a@example.com", false));
        let Err(Error::Invalid(errors)) = allow_sign_in(
            &settings(EmailVerification::Mandatory),
            "a@example.com",
            false,
        ) else {
            panic!("a field error")
        };
        assert_eq!(
            errors.to_json(),
            serde_json::json!({"non_field_errors": [EMAIL_NOT_VERIFIED]})
        );
    }
}
