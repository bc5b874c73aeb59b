//! Metrics for Prometheus.

use crate::db::tokens;
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// Counters and histograms in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4"),
))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let active = state
        .db(|conn| Ok(tokens::count_all_live(conn, Timestamp::now().millis())?))
        .await?;
    let body = state.metrics.render(active)?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body))
}
