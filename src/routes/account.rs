//! The authenticated user's own account and devices.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::metrics::RevocationCause;
use crate::service::devices;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// The user and client of the presented token.
#[utoipa::path(get, path = "/whoami", security(("Token" = [])), responses(
    (status = 200, description = "Who is asking", body = crate::openapi::WhoAmI),
))]
pub async fn whoami(Authenticated(session): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": session.user_id,
        "username": session.username,
        "email": session.email,
        "is_admin": session.is_admin,
        "client": session.client,
    }))
}

/// The user's devices, most recently used first.
#[utoipa::path(get, path = "/tokens", security(("Token" = [])), responses(
    (status = 200, description = "Devices; `current` marks the requesting one", body = Vec<crate::service::devices::DeviceView>),
))]
pub async fn list_devices(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let devices = state
        .db(move |conn| devices::list(conn, session.user_id, Some(session.token_id)))
        .await?;
    Ok(HttpResponse::Ok().json(devices))
}

/// Revoke one of the user's own devices.
#[utoipa::path(delete, path = "/tokens/{client}", security(("Token" = [])),
    params(("client" = String, Path, description = "The client name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such client", body = crate::openapi::Detail),
    ))]
pub async fn revoke_device(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
    client: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = client.into_inner();
    state
        .db(move |conn| devices::revoke(conn, session.user_id, &client))
        .await?;
    state.metrics.revoked(RevocationCause::Device, 1);
    Ok(HttpResponse::NoContent().finish())
}
