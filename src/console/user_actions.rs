//! What an admin does to one user, each at `/console/users/{id}/{action}`:
//! GET shows what will happen and a `Confirm …` button, POST does it and
//! goes back to the user's page.

use super::error::ConsoleError;
use super::layout::{self, confirmation, layout, Chrome, Confirmation};
use super::request::{require_admin, see_other, user_id, AdminPage, PostedForm};
use crate::domain::event::Actor;
use crate::domain::{ClientName, FieldErrors};
use crate::http::request::{request_source, QueryParams};
use crate::http::session as console_session;
use crate::service::accounts::admin::{self, UserChanges, UserView};
use crate::service::accounts::password_reset::{self, AdminResetMail};
use crate::service::sign_in::two_factor;
use crate::service::{Error, Services};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

/// What an admin can do to one user from their page, each at
/// `/console/users/{id}/{action}`: GET asks for confirmation, POST does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Deactivate,
    Reactivate,
    MakeAdmin,
    RemoveAdmin,
    SendReset,
    DisableTwoFactor,
    Revoke,
    RevokeAll,
}

impl Action {
    fn parse(path: &str) -> Option<Self> {
        Some(match path {
            "deactivate" => Action::Deactivate,
            "reactivate" => Action::Reactivate,
            "make-admin" => Action::MakeAdmin,
            "remove-admin" => Action::RemoveAdmin,
            "send-reset" => Action::SendReset,
            "disable-2fa" => Action::DisableTwoFactor,
            "revoke" => Action::Revoke,
            "revoke-all" => Action::RevokeAll,
            _ => return None,
        })
    }
}

/// The client a revocation names (`?client=` on the confirmation page, a
/// form field on the post). A name no device can have is no device of
/// this user's, as for `DELETE /tokens/{client}`; it is not repeated in
/// the flash message, which a long one would push past the cookie's size.
fn device_client(client: &str) -> Result<String, ConsoleError> {
    ClientName::parse(client).map_err(|_| ConsoleError::NotFound)?;
    Ok(client.to_owned())
}

/// What the confirmation page of `action` says and its button's text.
struct Asked {
    title: String,
    explanation: String,
    button: String,
    danger: bool,
}

/// Why an action cannot be asked for this user at all (no address to
/// mail, two-factor already off), or what its confirmation says.
fn ask(action: Action, user: &UserView, devices: usize, client: &str) -> Result<Asked, String> {
    let name = &user.username;
    let signed_out = match devices {
        0 => "they hold no live device".to_owned(),
        1 => "their 1 device is signed out at once".to_owned(),
        n => format!("their {n} devices are signed out at once"),
    };
    let asked = |title: String, explanation: String, button: String, danger: bool| Asked {
        title,
        explanation,
        button,
        danger,
    };
    Ok(match action {
        Action::Deactivate => asked(
            format!("Deactivate {name}?"),
            format!(
                "{name} will no longer be able to sign in; {signed_out}. You can \
                 reactivate the account later; its devices will have to sign in again."
            ),
            format!("Confirm: deactivate {name}"),
            true,
        ),
        Action::Reactivate => asked(
            format!("Reactivate {name}?"),
            format!("{name} will be able to sign in again with their password."),
            format!("Confirm: reactivate {name}"),
            false,
        ),
        Action::MakeAdmin => asked(
            format!("Make {name} an admin?"),
            format!(
                "{name} will be able to use this console and the admin API: see and \
                 change every user, and revoke anyone's devices."
            ),
            format!("Confirm: make {name} an admin"),
            true,
        ),
        Action::RemoveAdmin => asked(
            format!("Remove admin rights from {name}?"),
            format!(
                "{name} will no longer be able to use this console or the admin API. \
                 Their account and devices stay as they are."
            ),
            format!("Confirm: remove admin rights from {name}"),
            true,
        ),
        Action::SendReset => {
            if user.email.is_empty() {
                return Err(format!(
                    "{name} has no e-mail address, so no reset mail can be sent. \
                     Give them one first (admin API: PATCH /admin/users/{}).",
                    user.id
                ));
            }
            if !user.is_active {
                return Err(format!(
                    "{name} is inactive: a reset link would not work. Reactivate them first."
                ));
            }
            asked(
                format!("Send {name} a password-reset mail?"),
                format!(
                    "A mail with a link to choose a new password goes to {}. The current \
                     password keeps working until the link is used.",
                    user.email
                ),
                format!("Confirm: send the mail to {}", user.email),
                false,
            )
        }
        Action::DisableTwoFactor => {
            if !user.two_factor {
                return Err(format!(
                    "Two-factor authentication is already off for {name}."
                ));
            }
            asked(
                format!("Turn two-factor off for {name}?"),
                format!(
                    "For a user who lost their authenticator and recovery codes: {name} \
                     will sign in with their password alone, and their recovery codes \
                     stop working. They can turn two-factor on again themselves."
                ),
                format!("Confirm: turn two-factor off for {name}"),
                true,
            )
        }
        Action::Revoke => asked(
            format!("Revoke the {client} device of {name}?"),
            format!(
                "The {client} device of {name} is signed out at once: its key stops \
                 working on its next request."
            ),
            format!("Confirm: revoke {client}"),
            true,
        ),
        Action::RevokeAll => {
            if devices == 0 {
                return Err(format!("{name} has no device to revoke."));
            }
            asked(
                format!("Revoke every device of {name}?"),
                format!(
                    "Every device of {name} is signed out at once ({devices}); the account \
                     stays active and can sign in again."
                ),
                "Confirm: revoke all devices".to_owned(),
                true,
            )
        }
    })
}

/// The confirmation page of an action on a user: what will happen, and
/// the form that does it. Nothing changes until that form is posted.
pub async fn confirm(
    services: web::Data<Services>,
    signed_in: AdminPage,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (raw_id, action) = path.into_inner();
    let id = user_id(&raw_id)?;
    let action = Action::parse(&action).ok_or(ConsoleError::NotFound)?;
    let client = match action {
        Action::Revoke => {
            let query =
                QueryParams::parse(request.query_string()).map_err(|_| ConsoleError::NotFound)?;
            device_client(query.get("client").unwrap_or(""))?
        }
        _ => String::new(),
    };
    let detail = services
        .db(move |conn| admin::user_detail(conn, id))
        .await?;
    if action == Action::Revoke && !detail.tokens.iter().any(|device| device.client == client) {
        return Err(ConsoleError::NotFound);
    }
    let chrome = signed_in.chrome();
    let back = format!("/console/users/{id}");
    if let Some(refusal) = not_for_yourself(action, id, signed_in.admin.user_id) {
        return Ok(refused(&chrome, &detail.user, refusal));
    }
    let asked = match ask(action, &detail.user, detail.tokens.len(), &client) {
        Ok(asked) => asked,
        Err(refusal) => return Ok(refused(&chrome, &detail.user, &refusal)),
    };
    let action_path = format!("/console/users/{id}/{}", raw_action(action));
    let fields: Vec<(&str, &str)> = match action {
        Action::Revoke => vec![("client", client.as_str())],
        _ => Vec::new(),
    };
    let page = confirmation(
        &chrome,
        &Confirmation {
            title: &asked.title,
            explanation: &asked.explanation,
            action: &action_path,
            fields: &fields,
            button: &asked.button,
            danger: asked.danger,
            back: &back,
        },
    );
    Ok(layout::html(StatusCode::OK, page))
}

fn raw_action(action: Action) -> &'static str {
    match action {
        Action::Deactivate => "deactivate",
        Action::Reactivate => "reactivate",
        Action::MakeAdmin => "make-admin",
        Action::RemoveAdmin => "remove-admin",
        Action::SendReset => "send-reset",
        Action::DisableTwoFactor => "disable-2fa",
        Action::Revoke => "revoke",
        Action::RevokeAll => "revoke-all",
    }
}

/// An admin's own second factor is turned off where it was turned on
/// (`POST /2fa/disable`, with the password and a code), so that a stolen
/// console session cannot strip it.
fn not_for_yourself(action: Action, user_id: i64, admin_id: i64) -> Option<&'static str> {
    (action == Action::DisableTwoFactor && user_id == admin_id).then_some(
        "Turn your own two-factor authentication off from your account \
         (POST /2fa/disable, with your password and a code), not here.",
    )
}

/// A refused action: the reason, and the way back to the user (400: the
/// request cannot be done as asked).
fn refused(chrome: &Chrome<'_>, user: &UserView, message: &str) -> HttpResponse {
    let page = layout(
        "Refused",
        Some(chrome),
        None,
        html! {
            h1 { "Refused" }
            p.error #refusal role="alert" { (message) }
            p { a href=(format!("/console/users/{}", user.id)) { "Back to " (user.username) } }
        },
    );
    layout::html(StatusCode::BAD_REQUEST, page)
}

/// Every message of a refusal by the use case (the admin guards), as one.
fn refusal_text(errors: &FieldErrors) -> String {
    let json = errors.to_json();
    let messages: Vec<&str> = json
        .as_object()
        .into_iter()
        .flat_map(|fields| fields.values())
        .filter_map(|messages| messages.as_array())
        .flatten()
        .filter_map(|message| message.as_str())
        .collect();
    messages.join(" ")
}

/// Does a confirmed action (its form posted with the session's CSRF token)
/// and goes back to the user's page with what happened, or shows why it
/// was refused.
pub async fn act(
    services: web::Data<Services>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    let (admin, csrf) = require_admin(&services, &posted.session).await?;
    let (raw_id, action) = path.into_inner();
    let id = user_id(&raw_id)?;
    let action = Action::parse(&action).ok_or(ConsoleError::NotFound)?;
    let source = request_source(&request).by(Actor::Admin(admin.user_id));
    let user: UserView = services.db(move |conn| admin::user(conn, id)).await?.into();
    let chrome = Chrome::of(&admin, &csrf);
    if let Some(refusal) = not_for_yourself(action, id, admin.user_id) {
        return Ok(refused(&chrome, &user, refusal));
    }
    let name = &user.username;
    let done = match action {
        Action::Deactivate | Action::Reactivate | Action::MakeAdmin | Action::RemoveAdmin => {
            let changes = match action {
                Action::Deactivate => UserChanges {
                    is_active: Some(false),
                    ..UserChanges::default()
                },
                Action::Reactivate => UserChanges {
                    is_active: Some(true),
                    ..UserChanges::default()
                },
                Action::MakeAdmin => UserChanges {
                    is_admin: Some(true),
                    ..UserChanges::default()
                },
                _ => UserChanges {
                    is_admin: Some(false),
                    ..UserChanges::default()
                },
            };
            match admin::update_user(&services, &source, id, changes).await {
                Ok((_, revoked)) => match action {
                    Action::Deactivate => {
                        let devices = if revoked == 1 { "device" } else { "devices" };
                        format!("Deactivated {name}; {revoked} {devices} signed out.")
                    }
                    Action::Reactivate => format!("Reactivated {name}."),
                    Action::MakeAdmin => format!("{name} is now an admin."),
                    _ => format!("{name} is no longer an admin."),
                },
                Err(Error::Invalid(errors)) => {
                    return Ok(refused(&chrome, &user, &refusal_text(&errors)))
                }
                Err(other) => return Err(other.into()),
            }
        }
        Action::SendReset => {
            match password_reset::send_reset_to_user(&services, id, &source).await? {
                AdminResetMail::Queued => {
                    format!("A password-reset mail to {} is on its way.", user.email)
                }
                // The user changed since the confirmation page was shown.
                AdminResetMail::NoEmail => {
                    let refusal = format!("{name} has no e-mail address: no mail was sent.");
                    return Ok(refused(&chrome, &user, &refusal));
                }
                AdminResetMail::Inactive => {
                    let refusal = format!("{name} is inactive: no mail was sent.");
                    return Ok(refused(&chrome, &user, &refusal));
                }
                AdminResetMail::Undeliverable => {
                    let refusal = format!(
                        "The address of {name} cannot be written as a recipient: no mail was \
                         sent. Correct it first."
                    );
                    return Ok(refused(&chrome, &user, &refusal));
                }
            }
        }
        Action::DisableTwoFactor => {
            if two_factor::disable_for_user(&services, id, &source).await? {
                format!("Two-factor authentication is off for {name}.")
            } else {
                format!("Two-factor authentication was already off for {name}.")
            }
        }
        Action::Revoke => {
            let client = device_client(&posted.text("client"))?;
            match admin::revoke_device(&services, &source, id, client.clone()).await {
                Ok(()) => format!("Revoked the {client} device of {name}."),
                Err(Error::NotFound) => format!("{name} has no device {client}."),
                Err(other) => return Err(other.into()),
            }
        }
        Action::RevokeAll => {
            let revoked = admin::revoke_all_devices(&services, &source, id).await?;
            let devices = if revoked == 1 { "device" } else { "devices" };
            format!("Revoked {revoked} {devices} of {name}.")
        }
    };
    console_session::set_flash(&posted.session, &done)?;
    Ok(see_other(&format!("/console/users/{id}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn alice() -> UserView {
        UserView {
            id: 7,
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            is_active: true,
            is_admin: false,
            is_service: false,
            created_at: Timestamp(0),
            last_login_at: None,
            two_factor: true,
        }
    }

    const ACTIONS: [Action; 8] = [
        Action::Deactivate,
        Action::Reactivate,
        Action::MakeAdmin,
        Action::RemoveAdmin,
        Action::SendReset,
        Action::DisableTwoFactor,
        Action::Revoke,
        Action::RevokeAll,
    ];

    #[test]
    fn every_action_has_the_path_it_is_parsed_from() {
        for action in ACTIONS {
            assert_eq!(Action::parse(raw_action(action)), Some(action));
        }
        assert_eq!(Action::parse("delete"), None);
        assert_eq!(Action::parse(""), None);
    }

    #[test]
    fn every_confirmation_button_begins_with_confirm() {
        for action in ACTIONS {
            let asked = ask(action, &alice(), 2, "ios").unwrap_or_else(|refusal| {
                panic!("{action:?} refused: {refusal}");
            });
            assert!(asked.button.starts_with("Confirm"), "{action:?}");
        }
    }

    #[test]
    fn actions_that_cannot_be_done_say_why() {
        let no_email = UserView {
            email: String::new(),
            ..alice()
        };
        let inactive = UserView {
            is_active: false,
            ..alice()
        };
        let without_two_factor = UserView {
            two_factor: false,
            ..alice()
        };
        for (action, user, devices, reason) in [
            (Action::SendReset, &no_email, 1, "has no e-mail address"),
            (Action::SendReset, &inactive, 1, "is inactive"),
            (
                Action::DisableTwoFactor,
                &without_two_factor,
                1,
                "already off",
            ),
            (Action::RevokeAll, &alice(), 0, "no device"),
        ] {
            let refusal = ask(action, user, devices, "").err().unwrap_or_default();
            assert!(refusal.contains(reason), "{action:?}: {refusal}");
        }
    }
}
