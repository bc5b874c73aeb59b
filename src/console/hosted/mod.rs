//! The pages the default links of the service's own mails open, so that a
//! newcomer's first reset or verification mail works without a front-end
//! (`PASSWORD_RESET_URL` and `EMAIL_VERIFICATION_URL` default to them):
//! `reset` at `/reset` and `verify_email` at `/verify-email`. An
//! application with pages of its own sets those URLs to them instead.
//!
//! The console's look, headers and CSRF token, no script, no session kept:
//! each page finishes its task through the same use case as the API's
//! endpoint (`POST /password/reset/confirm`, `POST /register/verify-email`),
//! so the rules, events and revocations are the same. They are pages, not
//! API endpoints: not in the OpenAPI document.

pub mod reset;
pub mod verify_email;

use super::error::ConsoleError;
use super::layout::{self, layout};
use crate::service::Error;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup};

/// The first value of `name` in the request's query, if it is not blank.
/// Read by hand rather than by an extractor, whose refusal of a malformed
/// query would be the API's JSON error, not a page.
fn query_value(request: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// What the check of a mailed link found: its user, or `None` when the
/// service refused the link (the page then says it is dead). Any other
/// failure, a database that does not answer, is the console's error page.
fn live<T>(checked: Result<T, Error>) -> Result<Option<T>, ConsoleError> {
    match checked {
        Ok(found) => Ok(Some(found)),
        Err(Error::Invalid(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// A page of one message: what happened, and what to do next.
fn message_page(status: StatusCode, title: &str, message: Markup) -> HttpResponse {
    layout::html(
        status,
        layout(
            title,
            None,
            None,
            html! {
                h1 id="outcome" { (title) }
                (message)
            },
        ),
    )
}

/// The answer to a link that is incomplete, expired, used already or
/// refused: a 400 page with the page's own heading and what to do to get
/// a link that works. Both pages check their link before anything else,
/// so a dead one never shows a form.
fn dead_link_page(title: &str, what_to_do: &str) -> HttpResponse {
    message_page(
        StatusCode::BAD_REQUEST,
        title,
        html! {
            p.error role="alert" { (what_to_do) }
        },
    )
}
