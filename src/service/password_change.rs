//! Changing one's own password: the old one is checked, the new one must
//! pass the rules, and every other device of the user is signed out.

use crate::db::accounts;
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::service::authenticate::Session;
use crate::state::AppState;

pub const WRONG_OLD_PASSWORD: &str = "Your old password was entered incorrectly.";
pub const PASSWORD_CHANGED: &str = "New password has been saved.";

/// Returns how many other tokens were revoked.
pub async fn change_password(
    state: &AppState,
    session: &Session,
    old_password: Option<Password>,
    new_password: Option<Password>,
    mut errors: FieldErrors,
) -> Result<usize, ApiError> {
    if let Some(new_password) = &new_password {
        for problem in new_password.problems_as_new_password(&session.username, &session.email) {
            errors.add("new_password", problem);
        }
    }
    if let Some(old_password) = old_password {
        let user_id = session.user_id;
        let hash = state
            .db(move |conn| Ok(accounts::password_hash(conn, user_id)?))
            .await?;
        if !state.hasher.verify(old_password, hash).await? {
            errors.add("old_password", WRONG_OLD_PASSWORD);
        }
    }
    errors.into_result()?;
    let Some(new_password) = new_password else {
        return Err(ApiError::internal("validated new password missing"));
    };
    let new_hash = state.hasher.hash(new_password).await?;
    let (user_id, token_id) = (session.user_id, session.token_id);
    state
        .db(move |conn| {
            Ok(accounts::set_password_and_revoke_other_tokens(
                conn, user_id, &new_hash, token_id,
            )?)
        })
        .await
}
