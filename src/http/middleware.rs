//! What wraps every request: its timing under its route pattern, and the
//! rewrite that keeps every error response JSON, actix-web's own included.

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::service::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{web, ResponseError};
use std::time::Instant;

/// Times every request under its route pattern. Requests that match no
/// route share the label `unmatched`.
pub async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let method = request.method().clone();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let result = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        metrics.observe_request(
            method.as_str(),
            &route,
            status.as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    result
}

/// The console's pages outside `/console`.
const HOSTED_PAGES: [&str; 3] = ["/device", "/reset", "/verify-email"];

/// Keeps every error response JSON, including the ones actix-web produces by
/// itself (malformed paths, and anything not routed through `ApiError`), by
/// answering them as the matching `ApiError` would.
pub fn json_error_body<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let content_type = response.headers().get(CONTENT_TYPE);
    let is_json =
        content_type.is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    // The console's own error pages are HTML on purpose, and so are those of
    // the pages outside it (the device grant's, the mails' links).
    let path = response.request().path();
    let is_console_page = (path.starts_with("/console") || HOSTED_PAGES.contains(&path))
        && content_type.is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if is_json || is_console_page {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::Service(Error::NotFound),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::MethodNotAllowed(response.request().method().to_string())
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::INTERNAL_SERVER_ERROR => {
            ApiError::Service(Error::internal("an error answered by actix-web itself"))
        }
        other => ApiError::Status(other),
    };
    let (request, _) = response.into_parts();
    let mut replacement = error.error_response();
    // Keep the status actix-web chose, even for one `ApiError` maps otherwise.
    *replacement.status_mut() = status;
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, replacement).map_into_right_body(),
    ))
}
