//! `/reset?uid=&token=`: the page of a password-reset mail's link. The link
//! is checked first, so a dead one says so before anyone types a password;
//! then a new password, typed twice, is set by `confirm_reset`, the use
//! case of `POST /password/reset/confirm` (same rules and messages, every
//! device signed out, the same events).

use super::{dead_link_page, live, message_page, query_value};
use crate::console::error::ConsoleError;
use crate::console::layout::{self, public_page};
use crate::console::request::PostedForm;
use crate::domain::Password;
use crate::http::request::request_source;
use crate::http::session::{self as console_session, CSRF_FIELD};
use crate::service::accounts::password_reset::{check_link, confirm_reset, ConfirmRequest};
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

pub const TITLE: &str = "Choose a new password";
pub const MISMATCH: &str = "The two password fields didn’t match.";
pub const DEAD_LINK: &str = "This password-reset link is invalid or has expired";
pub const DONE: &str = "Your password has been changed";

/// `GET /reset`: the new-password form, if the link still works.
pub async fn page(
    services: web::Data<Services>,
    request: HttpRequest,
    session: Session,
) -> Result<HttpResponse, ConsoleError> {
    let (Some(uid), Some(token)) = (query_value(&request, "uid"), query_value(&request, "token"))
    else {
        return Ok(dead_link());
    };
    let Some(user) = live(check_link(&services, &uid, &token).await)? else {
        return Ok(dead_link());
    };
    let csrf = console_session::csrf_token(&session)?;
    let form = Form {
        csrf: &csrf,
        uid: &uid,
        token: &token,
        username: &user.username,
        problems: &[],
    };
    Ok(layout::html(StatusCode::OK, form.render()))
}

/// `POST /reset`: sets the password, or shows the form again with what
/// is wrong with it.
pub async fn set_password(
    services: web::Data<Services>,
    request: HttpRequest,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    let uid = posted.text("uid");
    let token = posted.text("token");
    let Some(user) = live(check_link(&services, &uid, &token).await)? else {
        return Ok(dead_link());
    };
    let csrf = console_session::csrf_token(&posted.session)?;
    let refuse = |problems: &[&str]| {
        let form = Form {
            csrf: &csrf,
            uid: &uid,
            token: &token,
            username: &user.username,
            problems,
        };
        Ok(layout::html(StatusCode::BAD_REQUEST, form.render()))
    };
    let new_password = posted.text("new_password1");
    if new_password != posted.text("new_password2") {
        return refuse(&[MISMATCH]);
    }
    let confirmed = ConfirmRequest {
        uid: uid.clone(),
        token: token.clone(),
        new_password: Password::new(new_password),
    };
    match confirm_reset(&services, confirmed, &request_source(&request)).await {
        Ok(revoked) => Ok(done(revoked)),
        Err(Error::Invalid(errors)) if errors.contains("new_password") => {
            refuse(&errors.messages("new_password"))
        }
        // Spent between the check and the change (the same link used twice at once).
        Err(Error::Invalid(_)) => Ok(dead_link()),
        Err(other) => Err(other.into()),
    }
}

/// The form, with the rules the last password broke, if any.
struct Form<'a> {
    csrf: &'a str,
    uid: &'a str,
    token: &'a str,
    username: &'a str,
    problems: &'a [&'a str],
}

impl Form<'_> {
    fn render(&self) -> Markup {
        public_page(
            TITLE,
            html! {
                p { "For the account " strong id="username" { (self.username) } "." }
                @if !self.problems.is_empty() {
                    div.error role="alert" id="problems" {
                        @for problem in self.problems {
                            p.field-error { (problem) }
                        }
                    }
                }
                form.card method="post" action="/reset" {
                    input type="hidden" name=(CSRF_FIELD) value=(self.csrf);
                    input type="hidden" name="uid" value=(self.uid);
                    input type="hidden" name="token" value=(self.token);
                    // For password managers: which account the new password is for.
                    input type="text" name="username" value=(self.username)
                        autocomplete="username" hidden;
                    label for="new_password1" { "New password" }
                    input type="password" id="new_password1" name="new_password1"
                        autocomplete="new-password" required autofocus
                        aria-describedby="rules";
                    label for="new_password2" { "New password again" }
                    input type="password" id="new_password2" name="new_password2"
                        autocomplete="new-password" required;
                    p.hint id="rules" {
                        "At least 8 characters, not entirely numeric, not a common "
                        "password, and not like your username or e-mail address."
                    }
                    button type="submit" id="set-password" { "Set the password" }
                }
            },
        )
    }
}

fn dead_link() -> HttpResponse {
    dead_link_page(
        DEAD_LINK,
        "The link is incomplete, has expired, or was used already. \
         Ask for a password reset again to get a new one.",
    )
}

fn done(revoked: usize) -> HttpResponse {
    message_page(
        StatusCode::OK,
        DONE,
        html! {
            p.flash role="status" { "You can now sign in with your new password." }
            @if revoked > 0 {
                p { "Every device that was signed in to your account (" (revoked) ") was signed out." }
            }
        },
    )
}
