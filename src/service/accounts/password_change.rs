//! Changing one's own password: the old one is checked (under the login
//! throttle), the new one must pass the rules, and every other device of
//! the user is signed out.

use crate::db::events::What;
use crate::db::users;
use crate::domain::event::{EventKind, EventSource, RevokedBy};
use crate::domain::principal::Principal;
use crate::domain::{FieldErrors, Password, Timestamp};
use crate::metrics::{RevocationCause, ThrottledAction};
use crate::service::shared::events;
use crate::service::sign_in::credentials;
use crate::service::sign_in::throttle::{under_throttle, Guess, GuessKind};
use crate::service::{Error, Services};
use diesel::Connection;

use crate::domain::messages::WRONG_OLD_PASSWORD;

/// Returns how many other tokens were revoked.
pub async fn change_password(
    services: &Services,
    principal: &Principal,
    old_password: Option<Password>,
    new_password: Option<Password>,
    mut errors: FieldErrors,
    source: &EventSource,
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
        let guess = Guess {
            username: &principal.username,
            kind: GuessKind::Own,
            source,
            action: "password_change",
        };
        let checked = under_throttle(
            services,
            guess,
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
    let source = source.clone();
    let revoked = services
        .db(move |conn| {
            conn.transaction::<_, Error, _>(|conn| {
                let revoked = users::set_password_and_revoke_other_tokens(
                    conn, user_id, &new_hash, token_id,
                )?;
                let now = Timestamp::now();
                let changed = What::to_user(EventKind::PasswordChanged, user_id);
                events::record(conn, &source, changed, now)?;
                events::revoked(conn, &source, RevokedBy::PasswordChange, &revoked, now)
            })
        })
        .await?;
    services.metrics.revoked(RevocationCause::Password, revoked);
    Ok(revoked)
}
