//! Metrics for Prometheus.

use crate::http::ApiError;
use crate::service::{self, Error, Services};
use actix_web::{web, HttpResponse};

/// Counters, gauges and histograms in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4"),
))]
pub async fn metrics(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let scraped = service::scrape(&services).await?;
    let body = services
        .metrics
        .render(&scraped)
        .map_err(|e| Error::Internal(Box::new(e)))?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body))
}
