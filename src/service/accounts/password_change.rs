//! Changing one's own password: the old one is checked (under the login
//! throttle), the new one must pass the rules, and every other device of
//! the user is signed out.

use crate::db::events::What;
use crate::db::users;
use crate::domain::event::{EventKind, EventSource, RevokedBy};
use crate::domain::principal::Principal;
use crate::domain::{FieldErrors, NewPassword, Password, Timestamp};
use crate::metrics::{RevocationCause, ThrottledAction};
use crate::service::shared::events;
use crate::service::sign_in::credentials;
use crate::service::sign_in::throttle::{under_throttle, Guess, GuessKind};
use crate::service::{Error, Services};

use crate::domain::messages::WRONG_OLD_PASSWORD;

/// Proof that the user gave their right old password
/// ([`check_old_password`]).
pub struct OldPasswordChecked(());

/// A password change whose fields passed every check.
pub struct PasswordChange {
    pub old_password: OldPasswordChecked,
    /// Past the rules for this user's name and address.
    pub new_password: NewPassword,
}

/// Checks the user's old password, whatever the new one is worth: a wrong
/// one is recorded under `old_password` in `errors`, with the other
/// fields' problems.
pub async fn check_old_password(
    services: &Services,
    principal: &Principal,
    old_password: Password,
    source: &EventSource,
    errors: &mut FieldErrors,
) -> Result<Option<OldPasswordChecked>, Error> {
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
        device_proofs: &[],
    };
    let checked = under_throttle(
        services,
        guess,
        credentials::verify_own(services, user_id, old_password),
    )
    .await;
    match checked {
        Ok(()) => Ok(Some(OldPasswordChecked(()))),
        Err(Error::BadCredentials) => {
            errors.add("old_password", WRONG_OLD_PASSWORD);
            Ok(None)
        }
        Err(error @ Error::Throttled(_)) => {
            services.metrics.throttled(ThrottledAction::PasswordChange);
            Err(error)
        }
        Err(other) => Err(other),
    }
}

/// Sets the new password. Returns how many other tokens were revoked.
pub async fn change_password(
    services: &Services,
    principal: &Principal,
    request: PasswordChange,
    source: &EventSource,
) -> Result<usize, Error> {
    let PasswordChange {
        old_password: OldPasswordChecked(()),
        new_password,
    } = request;
    let new_hash = services.hasher.hash(new_password.into_password()).await?;
    let (user_id, token_id) = (principal.user_id, principal.token_id);
    let source = source.clone();
    let revoked = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
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
