//! Changing one's own password: the old one is checked, the new one must
//! pass the rules, and every other device of the user is signed out.

use super::tokens::Principal;
use super::{Error, Services};
use crate::db::users;
use crate::domain::{FieldErrors, Password};
use crate::metrics::RevocationCause;

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
        let user_id = principal.user_id;
        let hash = services
            .db(move |conn| Ok(users::password_hash(conn, user_id)?))
            .await?;
        if !services.hasher.verify(old_password, hash).await? {
            errors.add("old_password", WRONG_OLD_PASSWORD);
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
