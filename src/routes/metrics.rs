//! Metrics for Prometheus.

use crate::http::ApiError;
use crate::service::{tokens, Error, Services};
use actix_web::{web, HttpResponse};

/// Counters and histograms in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4"),
))]
pub async fn metrics(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let active = services.db(tokens::count_active).await?;
    let body = services
        .metrics
        .render(active)
        .map_err(|e| Error::Internal(Box::new(e)))?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body))
}
