//! The API's own description.

use super::ApiDoc;
use crate::http::ApiError;
use crate::service::Error;
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::OpenApi;

/// The OpenAPI 3 description of every JSON endpoint.
#[utoipa::path(get, operation_id = "openapi_document", path = "/openapi.json", responses(
    (status = 200, description = "The OpenAPI 3 document", content_type = "application/json"),
))]
pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    static DOCUMENT: OnceLock<Result<String, String>> = OnceLock::new();
    let document = DOCUMENT
        .get_or_init(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Error::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(document.as_str()))
}
