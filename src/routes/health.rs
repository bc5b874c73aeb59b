//! Liveness and readiness for load balancers and orchestrators.

use super::openapi::{Detail, Status};
use crate::http::ApiError;
use crate::service::{database_answers, Services};
use actix_web::{web, HttpResponse};

/// Liveness: the process runs; says nothing of the database.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "Alive", body = Status),
))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready", body = Status),
    (status = 503, description = "The database does not answer", body = Detail),
))]
pub async fn readyz(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    services.db(database_answers).await?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}
