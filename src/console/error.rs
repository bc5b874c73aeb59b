//! What can go wrong on a console page, and the HTML page (or redirect)
//! that shows it.

use super::layout;
use crate::http::error::status_of;
use crate::service::Error;
use actix_web::http::header::{HeaderValue, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// What can go wrong on a console page, each shown as an HTML page (or a
/// redirect to the sign-in page).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("not signed in")]
    SignIn,
    #[error("CSRF token missing or incorrect")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Service(#[from] Error),
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            // A page past the last is a page that does not exist.
            ConsoleError::NotFound | ConsoleError::Service(Error::InvalidPage) => {
                StatusCode::NOT_FOUND
            }
            ConsoleError::Service(error) => status_of(error),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            ConsoleError::SignIn => {
                return HttpResponse::SeeOther()
                    .insert_header((LOCATION, HeaderValue::from_static("/console/login")))
                    .finish();
            }
            ConsoleError::Csrf => (
                "Forbidden",
                "The form was not accepted: its security token is missing or out of date. \
                 Go back, reload the page and try again.",
            ),
            ConsoleError::NotFound
            | ConsoleError::Service(Error::NotFound | Error::InvalidPage) => {
                ("Not found", "There is nothing here.")
            }
            ConsoleError::Service(error @ (Error::Unavailable(_) | Error::Internal(_))) => {
                error.log_fault();
                (
                    "Something went wrong",
                    "The request could not be completed. Try again in a moment.",
                )
            }
            ConsoleError::Service(_) => ("Refused", "The request was refused."),
        };
        layout::html(self.status_code(), layout::error_page(title, message))
    }
}
