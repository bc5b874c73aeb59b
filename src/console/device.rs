//! `/device`: the hosted page of the OAuth device grant, where a person
//! approves a device's request without an app of their own. They type the
//! code the device shows (or arrive with `?user_code=`), see what asks
//! (client name, scopes, address, user agent), sign in with their username,
//! password and two-factor code, and approve or deny it, in one form.
//!
//! The console's look, headers and CSRF token; no session is kept: the
//! sign-in is the same check, throttle and counts as `POST /login`
//! (`login::device_page_sign_in`), and the decision the same use case as
//! `POST /oauth/device/{user_code}/approve` (`sign_in::device_grant`).

use super::error::ConsoleError;
use super::layout::{self, exact, layout, public_page};
use super::request::PostedForm;
use super::sign_in::{refusal, MISSING_CREDENTIALS};
use crate::domain::messages::TOO_MANY_CLIENTS;
use crate::domain::throttle::throttled_detail;
use crate::domain::Password;
use crate::http::request::request_source;
use crate::http::session::{self as console_session, CSRF_FIELD};
use crate::service::sign_in::device_grant::{
    decide, pending_for_page, Approver, Decision, PendingGrant,
};
use crate::service::sign_in::login::device_page_sign_in;
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

/// Every step (the code, the request, the outcome) is one page to the
/// person going through them: the browser tab keeps its title.
const TITLE: &str = "Sign in a device";
pub const UNKNOWN_CODE: &str =
    "No device is waiting with this code. Check it, or start again on the device.";

#[derive(Deserialize)]
pub struct Query {
    user_code: Option<String>,
}

/// `GET /device`: the code form, or the request of `?user_code=` with the
/// sign-in and the two buttons.
pub async fn page(
    services: web::Data<Services>,
    request: HttpRequest,
    session: Session,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let csrf = console_session::csrf_token(&session)?;
    let typed = query.user_code.as_deref().map(str::trim).unwrap_or("");
    if typed.is_empty() {
        return Ok(layout::html(StatusCode::OK, code_form("", None)));
    }
    let source = request_source(&request);
    match pending_for_page(&services, typed, &source).await {
        Ok(grant) => Ok(layout::html(
            StatusCode::OK,
            approval_form(&csrf, typed, &grant, None, ""),
        )),
        Err(error) => refused_code(typed, error),
    }
}

/// The code form again, saying why the code was not taken.
fn refused_code(typed: &str, error: Error) -> Result<HttpResponse, ConsoleError> {
    match error {
        Error::NotFound => Ok(layout::html(
            StatusCode::NOT_FOUND,
            code_form(typed, Some(UNKNOWN_CODE)),
        )),
        Error::Throttled(seconds) => Ok(layout::html(
            StatusCode::TOO_MANY_REQUESTS,
            code_form(typed, Some(&throttled_detail(seconds))),
        )),
        other => Err(other.into()),
    }
}

/// `POST /device`: sign in, then approve or deny.
pub async fn decide_on_page(
    services: web::Data<Services>,
    request: HttpRequest,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    let csrf = console_session::csrf_token(&posted.session)?;
    let user_code = posted.text("user_code");
    let username = posted.text("username");
    let password = posted.text("password");
    let approving = posted.text("decision") == "approve";
    let otp = posted.filled("otp");
    let source = request_source(&request);
    let grant = match pending_for_page(&services, &user_code, &source).await {
        Ok(grant) => grant,
        Err(error) => return refused_code(&user_code, error),
    };
    let refuse = |status: StatusCode, message: &str| {
        let form = approval_form(&csrf, &user_code, &grant, Some(message), &username);
        Ok(layout::html(status, form))
    };
    if username.is_empty() || password.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, MISSING_CREDENTIALS);
    }
    let signed_in =
        device_page_sign_in(&services, &username, Password::new(password), otp, &source).await;
    let user = match signed_in {
        Ok(user) => user,
        Err(error) => {
            let (status, message) = refusal(error)?;
            return refuse(status, &message);
        }
    };
    // The second factor was checked by the sign-in itself.
    let approver = Approver {
        user_id: user.user_id,
        username,
        two_factor: false,
    };
    let decision = match approving {
        true => Decision::Approve {
            scopes: None,
            otp: None,
        },
        false => Decision::Deny,
    };
    match decide(&services, &approver, &user_code, decision, &source).await {
        Ok((client, _)) => Ok(layout::html(StatusCode::OK, decided(&client, approving))),
        Err(Error::Forbidden(message)) if message == TOO_MANY_CLIENTS => {
            Ok(layout::html(StatusCode::FORBIDDEN, over_limit()))
        }
        Err(error) => refused_code(&user_code, error),
    }
}

fn code_form(typed: &str, error: Option<&str>) -> Markup {
    public_page(
        TITLE,
        html! {
            p.hint { "Enter the code that your TV, command-line tool or other device shows." }
            (layout::refusal_alert(error))
            form.card method="get" action="/device" {
                label for="user_code" { "Code" }
                input type="text" id="user_code" name="user_code" value=(typed)
                    autocomplete="off" autocapitalize="characters" spellcheck="false"
                    placeholder="XXXX-XXXX" required autofocus;
                button type="submit" id="continue" { "Continue" }
            }
        },
    )
}

fn approval_form(
    csrf: &str,
    user_code: &str,
    grant: &PendingGrant,
    error: Option<&str>,
    username: &str,
) -> Markup {
    let scopes = match grant.scopes.is_restricted() {
        true => grant.scopes.to_stored(),
        false => "everything your account may do".to_owned(),
    };
    public_page(
        TITLE,
        html! {
            p { "A device asks to sign in to your account. Approve it only if you started this yourself." }
            dl.card id="request" {
                dt { "Device (client)" } dd id="client" { (grant.client) }
                dt { "Scopes" } dd id="scopes" { (scopes) }
                dt { "Address" } dd id="ip" { (grant.ip.as_deref().unwrap_or("unknown")) }
                dt { "User agent" } dd id="user-agent" { (grant.user_agent.as_deref().unwrap_or("unknown")) }
                dt { "Asked at" } dd { (exact(grant.created_at)) }
                dt { "Code expires at" } dd { (exact(grant.expires_at)) }
            }
            (layout::refusal_alert(error))
            form.card method="post" action="/device" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="user_code" value=(user_code);
                (layout::credential_fields(username))
                button type="submit" name="decision" value="approve" id="approve" { "Approve" }
                " "
                button type="submit" name="decision" value="deny" id="deny" { "Deny" }
            }
        },
    )
}

fn decided(client: &str, approved: bool) -> Markup {
    layout(
        TITLE,
        None,
        None,
        html! {
            @if approved {
                h1 id="outcome" { "Device approved" }
                p { "The device " strong { (client) } " is signing in. You can close this page." }
            } @else {
                h1 id="outcome" { "Device denied" }
                p { "The device " strong { (client) } " will not be signed in." }
            }
        },
    )
}

fn over_limit() -> Markup {
    layout(
        TITLE,
        None,
        None,
        html! {
            h1 id="outcome" { "Device denied" }
            p.error role="alert" { (TOO_MANY_CLIENTS) " Sign out a device first, then start again." }
        },
    )
}
