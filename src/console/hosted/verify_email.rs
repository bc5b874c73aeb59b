//! `/verify-email?key=`: the page of a verification mail's link.
//!
//! Opening the link does not verify: it shows the address and a Confirm
//! button, whose POST (CSRF-checked) does, through `verify`, the use case
//! of `POST /register/verify-email`. A key works once, and mail scanners
//! and link previews fetch links before the person reads the mail; a GET
//! that verified would spend the key on their behalf (and verify an
//! address for whoever merely fetched it). allauth's
//! `ACCOUNT_CONFIRM_EMAIL_ON_GET` is off by default for the same reason.

use super::{dead_link_page, live, message_page, query_value};
use crate::console::error::ConsoleError;
use crate::console::layout::{self, public_page};
use crate::console::request::PostedForm;
use crate::http::request::request_source;
use crate::http::session::{self as console_session, CSRF_FIELD};
use crate::service::accounts::email_verification::{check_key, verify};
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

pub const TITLE: &str = "Confirm your e-mail address";
pub const DEAD_LINK: &str = "This verification link is invalid or has expired";
pub const DONE: &str = "Your e-mail address is confirmed";

/// `GET /verify-email`: what the key would verify, and the button that does.
pub async fn page(
    services: web::Data<Services>,
    request: HttpRequest,
    session: Session,
) -> Result<HttpResponse, ConsoleError> {
    let Some(key) = query_value(&request, "key") else {
        return Ok(dead_link());
    };
    let Some(user) = live(check_key(&services, &key).await)? else {
        return Ok(dead_link());
    };
    let csrf = console_session::csrf_token(&session)?;
    let page = public_page(
        TITLE,
        html! {
            p {
                "Confirm that " strong id="email" { (user.email) }
                " is the address of the account " strong id="username" { (user.username) } "."
            }
            form.confirm method="post" action="/verify-email" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="key" value=(key);
                button type="submit" id="confirm" { "Confirm" }
            }
        },
    );
    Ok(layout::html(StatusCode::OK, page))
}

/// `POST /verify-email`: verifies the address.
pub async fn confirm(
    services: web::Data<Services>,
    request: HttpRequest,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    let key = posted.text("key");
    match verify(&services, key.trim(), &request_source(&request)).await {
        Ok(()) => Ok(message_page(
            StatusCode::OK,
            DONE,
            html! { p.flash role="status" { "Thank you: the address is verified. You can close this page." } },
        )),
        Err(Error::Invalid(_)) => Ok(dead_link()),
        Err(other) => Err(other.into()),
    }
}

fn dead_link() -> HttpResponse {
    dead_link_page(
        DEAD_LINK,
        "The link is incomplete, has expired, was used already, or is for an address \
         the account no longer has. Ask the application you signed up with for a new \
         verification mail.",
    )
}
