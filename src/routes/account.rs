//! The authenticated user's own account and devices.

use super::openapi::Detail;
use crate::http::auth::Authenticated;
use crate::http::request::Source;
use crate::http::ApiError;
use crate::metrics::RevocationCause;
use crate::service::tokens::{self, revoke_counted, DeviceView, Revocation};
use crate::service::{Error, Services};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// Who is asking.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// Whether the user proved `email` is theirs (`POST /register/verify-email`).
    pub email_verified: bool,
    pub is_admin: bool,
    /// The client of the token making the request.
    pub client: String,
    /// The presented token's scopes; `[]` when it is unrestricted.
    pub scopes: Vec<String>,
    /// Two-factor authentication (TOTP) is on.
    pub two_factor: bool,
}

/// The user and client of the presented token.
#[utoipa::path(get, path = "/whoami", security(("Token" = [])), responses(
    (status = 200, description = "Who is asking", body = WhoAmI),
))]
pub async fn whoami(Authenticated(principal): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI {
        id: principal.user_id,
        username: principal.username,
        email: principal.email,
        email_verified: principal.email_verified,
        is_admin: principal.is_admin,
        client: principal.client,
        scopes: principal.scopes.into_vec(),
        two_factor: principal.two_factor,
    })
}

/// The user's devices, most recently used first.
#[utoipa::path(get, path = "/tokens", security(("Token" = [])), responses(
    (status = 200, description = "Devices; `current` marks the requesting one", body = Vec<DeviceView>),
))]
pub async fn list_devices(
    services: web::Data<Services>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let devices = services
        .db(move |conn| tokens::list(conn, principal.user_id, Some(principal.token_id)))
        .await?;
    Ok(HttpResponse::Ok().json(devices))
}

/// Revoke one of the user's own devices; a restricted token may revoke
/// only its own client.
#[utoipa::path(delete, path = "/tokens/{client}", security(("Token" = [])),
    params(("client" = String, Path, description = "The client name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "A restricted token (one with scopes) may revoke only its own client", body = Detail),
        (status = 404, description = "No such client", body = Detail),
    ))]
pub async fn revoke_device(
    services: web::Data<Services>,
    Authenticated(principal): Authenticated,
    Source(source): Source,
    client: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = client.into_inner();
    if principal.is_restricted() && client != principal.client {
        return Err(Error::PermissionDenied.into());
    }
    let revocation = Revocation::Device {
        user_id: principal.user_id,
        client,
    };
    revoke_counted(&services, revocation, RevocationCause::Device, &source).await?;
    Ok(HttpResponse::NoContent().finish())
}
