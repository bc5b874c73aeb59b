//! `POST /tokens/rotate`: a device swaps its key for a new one (see
//! `service::tokens::rotation` for the grace window and reuse detection).

use crate::domain::jwt::looks_like_jwt;
use crate::domain::Timestamp;
use crate::http::auth::{key_and_scheme, Authenticated};
use crate::http::request::Source;
use crate::http::ApiError;
use crate::service::tokens::rotation::rotate_counted;
use crate::service::{AuthFailure, Error, Services};
use actix_web::http::header::{CacheControl, CacheDirective, AUTHORIZATION};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// The device's new key; it exists nowhere else.
#[derive(Serialize, ToSchema)]
pub struct RotatedKey {
    /// Send as `Authorization: Token <key>` from now on.
    pub auth_token: String,
    pub client: String,
    /// The device's scopes, unchanged; `[]` when it is unrestricted.
    pub scopes: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// `DPoP` when the device is bound: the new key is bound to the same
    /// key and goes as `Authorization: DPoP …` with a proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// Give the presented key's device a new key (any key, restricted ones
/// included, rotates itself; an access JWT does not). The device keeps its
/// client, scopes and sign-in time. The old key keeps working for
/// `ROTATION_GRACE`; rotating it again within that window issues another
/// new key and ends the previous one; any use of it afterwards revokes
/// the device.
#[utoipa::path(post, operation_id = "rotate_key", path = "/tokens/rotate", security(("Token" = [])), responses(
    (status = 200, description = "The new key (`Cache-Control: no-store`)", body = RotatedKey),
))]
pub async fn rotate(
    services: web::Data<Services>,
    Authenticated(principal): Authenticated,
    Source(source): Source,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    // The extractor accepted this header: a key, or an access JWT, which
    // stands for its device's key but is not it. A bound key came with
    // its proof, which the extractor checked.
    let presented = key_and_scheme(header)
        .ok()
        .map(|(key, _)| key)
        .filter(|key| !looks_like_jwt(key))
        .and_then(|key| services.tokens.digest_of(key))
        .ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
    let rotated = rotate_counted(&services, presented, &source).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(RotatedKey {
            auth_token: rotated.key.expose().to_owned(),
            client: rotated.client,
            scopes: rotated.scopes.into_vec(),
            expires_at: rotated.expires_at,
            token_type: principal.dpop_jkt.is_some().then_some("DPoP"),
        }))
}
