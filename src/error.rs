//! `ApiError`: the one error type of the service, and the only place that
//! decides a status code and an error body of the contract.
//!
//! Storage failures are split in two: the database being unreachable or busy
//! is a `503` that clients may retry, anything else is an opaque `500` whose
//! cause goes to the log and never to the client.

use crate::domain::throttle::throttled_detail;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};
use std::fmt;

pub const REQUIRED: &str = "This field is required.";
pub const NOT_A_STRING: &str = "Not a valid string.";

/// Why a request could not be authenticated, in the contract's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    NotProvided,
    NoCredentials,
    ContainsSpaces,
    InvalidCharacters,
    InvalidToken,
    Expired,
    Inactive,
}

impl AuthFailure {
    pub fn detail(self) -> &'static str {
        match self {
            AuthFailure::NotProvided => "Authentication credentials were not provided.",
            AuthFailure::NoCredentials => "Invalid token header. No credentials provided.",
            AuthFailure::ContainsSpaces => {
                "Invalid token header. Token string should not contain spaces."
            }
            AuthFailure::InvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            AuthFailure::InvalidToken => "Invalid token.",
            AuthFailure::Expired => "Token has expired.",
            AuthFailure::Inactive => "User inactive or deleted.",
        }
    }
}

/// Field validation errors: `{"field": ["message", ...]}`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(messages) = entry {
            messages.push(Value::String(message.into()));
        }
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Err` with these errors if there are any.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self))
        }
    }
}

impl fmt::Display for FieldErrors {
    /// `field: message message; other: message`, for the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            let messages = messages
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            write!(
                f,
                "{}{field}: {}",
                if first { "" } else { "; " },
                messages.collect::<Vec<_>>().join(" ")
            )?;
            first = false;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication failed: {}", .0.detail())]
    Unauthorized(AuthFailure),
    #[error("invalid Basic credentials")]
    BadBasicCredentials,
    #[error("permission denied")]
    PermissionDenied,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("invalid fields: {0:?}")]
    Fields(FieldErrors),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    /// A page number past the last page, or not a page number at all.
    #[error("invalid page")]
    InvalidPage,
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Too many failed logins; the number is the whole seconds to wait.
    #[error("throttled for {0}s")]
    Throttled(u64),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Fields(FieldErrors::single(field, message))
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                ApiError::Unavailable(error.to_string())
            }
            Error::DatabaseError(_, info) if is_transient(info.message()) => {
                ApiError::Unavailable(error.to_string())
            }
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

/// Messages of errors that mean "try again later" rather than "bug".
fn is_transient(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "database is locked",
        "database is busy",
        "server closed the connection",
        "connection",
        "terminating",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(format!("no database connection: {error}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::internal(error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) | ApiError::BadBasicCredentials => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Fields(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = |text: &str| json!({ "detail": text });
        let body = match self {
            ApiError::Unauthorized(failure) => detail(failure.detail()),
            ApiError::BadBasicCredentials => detail("Invalid username/password."),
            ApiError::PermissionDenied => {
                detail("You do not have permission to perform this action.")
            }
            ApiError::Forbidden(message) => detail(message),
            ApiError::Fields(errors) => Value::Object(errors.0.clone()),
            ApiError::BadRequest(message) => detail(message),
            ApiError::NotFound => detail("Not found."),
            ApiError::InvalidPage => detail("Invalid page."),
            ApiError::MethodNotAllowed(method) => {
                detail(&format!("Method \"{method}\" not allowed."))
            }
            ApiError::UnsupportedMediaType(media_type) => detail(&format!(
                "Unsupported media type \"{media_type}\" in request."
            )),
            ApiError::PayloadTooLarge => detail("Request body too large."),
            ApiError::Unavailable(cause) => {
                log::warn!("answering 503: {cause}");
                detail("Service temporarily unavailable, try again later.")
            }
            ApiError::Throttled(seconds) => detail(&throttled_detail(*seconds)),
            ApiError::Internal(cause) => {
                log::error!("answering 500: {cause}");
                detail("A server error occurred.")
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Token")));
            }
            ApiError::BadBasicCredentials => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"api\""),
                ));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::Throttled(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            _ => {}
        }
        response.json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_collect_messages_per_field() {
        let mut errors = FieldErrors::new();
        errors.add("password", "one");
        errors.add("password", "two");
        errors.add("client", "three");
        assert_eq!(
            Value::Object(errors.0),
            json!({"password": ["one", "two"], "client": ["three"]})
        );
    }

    #[test]
    fn lock_and_connection_errors_are_transient() {
        assert!(is_transient("database is locked"));
        assert!(is_transient("server closed the connection unexpectedly"));
        assert!(!is_transient(
            "UNIQUE constraint failed: users.username_key"
        ));
    }
}
