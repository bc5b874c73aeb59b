//! Liveness and readiness for load balancers and orchestrators.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde_json::json;

/// The process is up; says nothing of the database.
/// Liveness: the process runs.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "Alive", body = crate::openapi::Status),
))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers.
/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready", body = crate::openapi::Status),
    (status = 503, description = "The database does not answer", body = crate::openapi::Detail),
))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db(|conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|e| ApiError::Unavailable(e.to_string()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
