//! Changing one's own password: the old one is checked (under the login
//! throttle), the new one must pass the rules, and every other device of
//! the user is signed out.

use super::credentials;
use super::throttle::under_throttle;
use super::tokens::Principal;
use super::{Error, Services};
use crate::db::users;
use crate::domain::{FieldErrors, Password};
use crate::metrics::{RevocationCause, ThrottledAction};

pub const WRONG_OLD_PASSWORD: &str = "Your old password was entered incorrectly.";
pub const PASSWORD_CHANGED: &str = "New password has been saved.";

/// Returns how many other tokens were revoked.
pub async fn change_password(
    services: &Services,
    principal: &Principal,
    old_password: Option<Password>,
    new_password: Option<Password>,
    mut errors: FieldErrors,
) -> Result<usize, Error> {
    if let Some(new_password) = &new_password {
        for problem in new_password.problems_as_new_password(&principal.username, &principal.email)
        {
            errors.add("new_password", problem);
        }
    }
    if let Some(old_password) = old_password {
        // A wrong old password is a guess at the user's password like a
        // wrong login, so it counts under the login throttle as a failed
        // login of that username: together both allow `LOGIN_THROTTLE`
        // guesses per window, and a stolen token gives no more of them.
        let user_id = principal.user_id;
        let checked = under_throttle(
            services,
            &principal.username,
            None,
            credentials::verify_own(services, user_id, old_password),
        )
        .await;
        match checked {
            Ok(()) => {}
            Err(Error::BadCredentials) => errors.add("old_password", WRONG_OLD_PASSWORD),
            Err(error @ Error::Throttled(_)) => {
                services.metrics.throttled(ThrottledAction::PasswordChange);
                return Err(error);
            }
            Err(other) => return Err(other),
        }
    }
    errors.into_result()?;
    let Some(new_password) = new_password else {
        return Err(Error::internal("validated new password missing"));
    };
    let new_hash = services.hasher.hash(new_password).await?;
    let (user_id, token_id) = (principal.user_id, principal.token_id);
    let revoked = services
        .db(move |conn| {
            Ok(users::set_password_and_revoke_other_tokens(
                conn, user_id, &new_hash, token_id,
            )?)
        })
        .await?;
    services.metrics.revoked(RevocationCause::Password, revoked);
    Ok(revoked)
}
