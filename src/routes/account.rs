//! The authenticated user's own account and devices.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::service::devices;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn whoami(Authenticated(session): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": session.user_id,
        "username": session.username,
        "email": session.email,
        "is_admin": session.is_admin,
        "client": session.client,
    }))
}

pub async fn list_devices(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let devices = state
        .db(move |conn| devices::list(conn, session.user_id, Some(session.token_id)))
        .await?;
    Ok(HttpResponse::Ok().json(devices))
}

pub async fn revoke_device(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
    client: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = client.into_inner();
    state
        .db(move |conn| devices::revoke(conn, session.user_id, &client))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
