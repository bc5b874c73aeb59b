//! Signing in and out of the console: the same credential check, second
//! factor and throttle as `POST /login`, for admins only.

use super::error::ConsoleError;
use super::layout::{self, public_page};
use super::request::{see_other, AdminPage, PostedForm};
use crate::domain::messages::{EMAIL_NOT_VERIFIED, INVALID_CODE};
use crate::domain::throttle::throttled_detail;
use crate::domain::Password;
use crate::http::device_proof;
use crate::http::request::request_source;
use crate::http::session::{self as console_session, CSRF_FIELD};
use crate::service::sign_in::device_proof::issue_for_console;
use crate::service::sign_in::login::console_sign_in;
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

pub const BAD_CREDENTIALS: &str = "Unable to sign in with this username and password.";
pub const NOT_AN_ADMIN: &str = "This console is for administrators only.";
pub const MISSING_CREDENTIALS: &str = "Enter a username and a password.";
pub const CODE_NEEDED: &str = "Enter the code from your authenticator app (or a recovery code).";

/// How a page that signs in with a password (this one, `/device`) answers
/// a failed sign-in: the status and the message it shows, or the error
/// itself when it is no refusal.
pub(super) fn refusal(error: Error) -> Result<(StatusCode, String), Error> {
    let message = |status, message: &str| Ok((status, message.to_owned()));
    match error {
        Error::BadCredentials => message(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS),
        Error::WrongCode { .. } => message(StatusCode::UNAUTHORIZED, INVALID_CODE),
        Error::Invalid(errors) if errors.contains("otp") => {
            message(StatusCode::UNAUTHORIZED, CODE_NEEDED)
        }
        // EMAIL_VERIFICATION=mandatory, after the password was checked.
        Error::Invalid(_) => message(StatusCode::BAD_REQUEST, EMAIL_NOT_VERIFIED),
        Error::Throttled(seconds) => {
            message(StatusCode::TOO_MANY_REQUESTS, &throttled_detail(seconds))
        }
        error => Err(error),
    }
}

/// Where an admin lands after signing in.
const LANDING: &str = "/console/";

/// `/console`: the dashboard, or the sign-in page for whoever is not
/// signed in.
pub async fn home(
    services: web::Data<Services>,
    signed_in: AdminPage,
) -> Result<HttpResponse, ConsoleError> {
    super::dashboard::dashboard(services, signed_in).await
}

pub async fn sign_in_page(
    services: web::Data<Services>,
    session: Session,
) -> Result<HttpResponse, ConsoleError> {
    if console_session::signed_in(&services, &session)
        .await?
        .is_some()
    {
        return Ok(see_other(LANDING));
    }
    let csrf = console_session::csrf_token(&session)?;
    Ok(layout::html(StatusCode::OK, sign_in_form(&csrf, None, "")))
}

/// Signs an admin in with the same password check as `POST /login`. A
/// wrong password or a non-admin gets the form again with a message, and
/// the session stays signed out.
pub async fn sign_in(
    services: web::Data<Services>,
    request: HttpRequest,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    let username = posted.text("username");
    let password = posted.text("password");
    let refuse = |status: StatusCode, message: &str| -> Result<HttpResponse, ConsoleError> {
        let csrf = console_session::csrf_token(&posted.session)?;
        Ok(layout::html(
            status,
            sign_in_form(&csrf, Some(message), &username),
        ))
    };
    let otp = posted.filled("otp");
    if username.is_empty() || password.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, MISSING_CREDENTIALS);
    }
    // The same check, throttle and counts as `POST /login`.
    let source = request_source(&request);
    // A browser that signed in before (here or through `/login`) presents
    // its device proof: failures others caused on the username do not
    // refuse it.
    let proofs: Vec<String> = device_proof::from_cookie(&request).into_iter().collect();
    let password = Password::new(password);
    let signed_in = console_sign_in(&services, &username, password, otp, &proofs, &source).await;
    let admin = match signed_in {
        Ok(admin) => admin,
        Err(Error::PermissionDenied) => return refuse(StatusCode::FORBIDDEN, NOT_AN_ADMIN),
        Err(Error::Forbidden(message)) => return refuse(StatusCode::FORBIDDEN, message),
        Err(error) => {
            let (status, message) = refusal(error)?;
            return refuse(status, &message);
        }
    };
    console_session::sign_in(&services, &posted.session, admin.user_id).await?;
    let proof = issue_for_console(&services, admin.user_id);
    let mut landing = see_other(LANDING);
    landing
        .add_cookie(&device_proof::cookie(&services, proof))
        .map_err(Error::internal)?;
    Ok(landing)
}

pub async fn sign_out(
    services: web::Data<Services>,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    console_session::sign_out(&services, &posted.session).await?;
    Ok(see_other("/console/login"))
}

fn sign_in_form(csrf: &str, error: Option<&str>, username: &str) -> Markup {
    public_page(
        "Sign in",
        html! {
            p.hint { "For administrators of this multitoken service." }
            (layout::refusal_alert(error))
            form.card method="post" action="/console/login" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                (layout::credential_fields(username))
                button type="submit" id="sign-in" { "Sign in" }
            }
        },
    )
}
