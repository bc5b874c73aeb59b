//! `ApiError`: a use case's `service::Error`, or a rejection that only HTTP
//! knows (a malformed body, a wrong method), and the only place that decides
//! a status code and an error body of the contract.
//!
//! A `503` (the database unreachable or busy) may be retried; a `500` has a
//! fixed body, its cause goes to the log and never to the client.

use crate::domain::messages::{
    BAD_BASIC_CREDENTIALS, BAD_CREDENTIALS, INVALID_CODE, INVALID_PAGE, INVALID_SIGNATURE,
    NOT_FOUND, PERMISSION_DENIED, REQUEST_TOO_LARGE, SERVER_ERROR, SERVICE_UNAVAILABLE,
};
use crate::domain::page::InvalidPage;
use crate::domain::throttle::throttled_detail;
use crate::domain::FieldErrors;
use crate::service::{AuthFailure, Error};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] Error),
    #[error("invalid Basic credentials")]
    BadBasicCredentials,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// A signed request (a secret scanning report) whose signature does not hold.
    #[error("invalid signature")]
    BadSignature,
    /// Another status that actix-web chose by itself, with its reason phrase.
    #[error("{0}")]
    Status(StatusCode),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Service(Error::field(field, message))
    }

    pub fn unauthorized(failure: AuthFailure) -> Self {
        ApiError::Service(Error::Unauthenticated(failure))
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Service(Error::Invalid(errors))
    }
}

impl From<InvalidPage> for ApiError {
    fn from(invalid: InvalidPage) -> Self {
        ApiError::Service(invalid.into())
    }
}

/// The status of a use case's error, for the API and the console alike.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::PermissionDenied | Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::BadCredentials | Error::Invalid(_) | Error::WrongCode { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::NotFound | Error::InvalidPage => StatusCode::NOT_FOUND,
        Error::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Service(error) => status_of(error),
            ApiError::BadBasicCredentials => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadSignature => StatusCode::UNAUTHORIZED,
            ApiError::Status(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = |text: &str| json!({ "detail": text });
        let body = match self {
            ApiError::Service(error) => {
                error.log_fault();
                match error {
                    Error::Unauthenticated(failure) => detail(failure.detail()),
                    Error::BadCredentials => {
                        FieldErrors::single("non_field_errors", BAD_CREDENTIALS).to_json()
                    }
                    Error::PermissionDenied => detail(PERMISSION_DENIED),
                    Error::Forbidden(message) => detail(message),
                    Error::Invalid(errors) => errors.to_json(),
                    Error::WrongCode { field, .. } => {
                        FieldErrors::single(field, INVALID_CODE).to_json()
                    }
                    Error::NotFound => detail(NOT_FOUND),
                    Error::InvalidPage => detail(INVALID_PAGE),
                    Error::Throttled(seconds) => detail(&throttled_detail(*seconds)),
                    Error::Unavailable(_) => detail(SERVICE_UNAVAILABLE),
                    Error::Internal(_) => detail(SERVER_ERROR),
                }
            }
            ApiError::BadBasicCredentials => detail(BAD_BASIC_CREDENTIALS),
            ApiError::BadRequest(message) => detail(message),
            ApiError::MethodNotAllowed(method) => {
                detail(&format!("Method \"{method}\" not allowed."))
            }
            ApiError::UnsupportedMediaType(media_type) => detail(&format!(
                "Unsupported media type \"{media_type}\" in request."
            )),
            ApiError::PayloadTooLarge => detail(REQUEST_TOO_LARGE),
            ApiError::BadSignature => detail(INVALID_SIGNATURE),
            ApiError::Status(status) => detail(&format!(
                "{}.",
                status.canonical_reason().unwrap_or("Error")
            )),
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Service(Error::Unauthenticated(AuthFailure::InvalidDpopProof)) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    crate::domain::dpop::www_authenticate(),
                ));
            }
            ApiError::Service(Error::Unauthenticated(_)) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Token")));
            }
            ApiError::BadBasicCredentials => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"api\""),
                ));
            }
            ApiError::Service(Error::Unavailable(_)) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::Service(Error::Throttled(seconds)) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            _ => {}
        }
        response.json(body)
    }
}
