//! The OAuth device grant (RFC 8628) as devices and OAuth libraries speak
//! it: codes at `/oauth/device_authorization`, keys at `/oauth/token` (and
//! the `refresh_token` grant, for those libraries), the RFC 8414 metadata
//! they discover it from. These answer errors in the OAuth shape
//! (`{"error", "error_description"}`, RFC 6749 §5.2), not the DRF one.
//! The approval by a signed-in device is in [`super::device_approval`].

use super::jwt::refresh_device;
use crate::domain::dpop::DPOP_ALGS;
use crate::domain::event::EventSource;
use crate::domain::jwt::looks_like_jwt;
use crate::domain::{ClientName, Scopes, Timestamp};
use crate::http::body::Fields;
use crate::http::dpop::sign_in_binding;
use crate::http::request::request_source;
use crate::http::ApiError;
use crate::service::sign_in::device_grant::{authorize, redeem, PollRefusal};
use crate::service::tokens;
use crate::service::tokens::jwt::AccessTokens;
use crate::service::tokens::IssuedToken;
use crate::service::{Error, Services};
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The grant type of RFC 8628.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An error of an OAuth endpoint: a `400` in the OAuth shape, or any other
/// failure (`429`, `503`, `500`) as the rest of the API answers it.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    Refused(&'static str, Option<String>),
    #[error(transparent)]
    Other(ApiError),
}

/// RFC 6749 §5.2's error body.
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_scope`, `invalid_grant`,
    /// `unsupported_grant_type`, `authorization_pending`, `slow_down`,
    /// `access_denied` or `expired_token`.
    pub error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl OAuthError {
    fn new(code: &'static str) -> Self {
        OAuthError::Refused(code, None)
    }

    fn described(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError::Refused(code, Some(description.into()))
    }
}

impl From<ApiError> for OAuthError {
    fn from(error: ApiError) -> Self {
        match error {
            // A body that cannot be read is a malformed request.
            ApiError::BadRequest(message) => OAuthError::described("invalid_request", message),
            ApiError::Service(Error::Invalid(errors)) => {
                OAuthError::described("invalid_request", errors.to_json().to_string())
            }
            other => OAuthError::Other(other),
        }
    }
}

impl From<Error> for OAuthError {
    fn from(error: Error) -> Self {
        ApiError::Service(error).into()
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::Refused(..) => StatusCode::BAD_REQUEST,
            OAuthError::Other(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            OAuthError::Refused(error, description) => HttpResponse::BadRequest()
                .insert_header(no_store())
                .json(OAuthErrorBody {
                    error,
                    error_description: description.clone(),
                }),
            OAuthError::Other(error) => error.error_response(),
        }
    }
}

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// A required text field, or `invalid_request` naming it.
fn required(fields: &Fields, name: &str) -> Result<String, OAuthError> {
    match fields.text(name) {
        Ok(Some(value)) if !value.is_empty() => Ok(value.to_owned()),
        Ok(_) => Err(OAuthError::described(
            "invalid_request",
            format!("The {name} parameter is required."),
        )),
        Err(message) => Err(OAuthError::described(
            "invalid_request",
            format!("{name}: {message}"),
        )),
    }
}

/// `POST /oauth/device_authorization` (form or JSON).
// Documentation only: the handler reads `Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeviceAuthorizationBody {
    /// The client name the new device will have (1-64 ASCII letters, digits, `.`, `_` or `-`).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub client_id: String,
    /// Optional: space-separated scopes; none for an unrestricted key.
    pub scope: Option<String>,
}

/// The codes a device shows and polls with (RFC 8628 §3.2).
#[derive(Serialize, ToSchema)]
pub struct DeviceAuthorization {
    /// Polled with at `/oauth/token`; secret.
    pub device_code: String,
    /// What the person types: `XXXX-XXXX` of `BCDFGHJKLMNPQRSTVWXZ`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    /// Seconds until the codes expire (`DEVICE_CODE_TTL`).
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

/// Ask for a device grant: codes for a device that will get a key once a
/// signed-in person approves it.
#[utoipa::path(post, path = "/oauth/device_authorization",
    request_body(content = DeviceAuthorizationBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes (`Cache-Control: no-store`)", body = DeviceAuthorization),
        (status = 400, description = "`invalid_request` (no or a bad `client_id`) or `invalid_scope`", body = OAuthErrorBody),
        (status = 429, description = "Too many requests from this address (`DEVICE_CODE_THROTTLE`, `Retry-After`)", body = super::openapi::Detail),
    ))]
pub async fn device_authorization(
    services: web::Data<Services>,
    request: HttpRequest,
    fields: Result<Fields, ApiError>,
) -> Result<HttpResponse, OAuthError> {
    let fields = fields?;
    let client = ClientName::parse(&required(&fields, "client_id")?)
        .map_err(|message| OAuthError::described("invalid_request", message))?;
    let scopes = match fields.text("scope") {
        Ok(None) => Scopes::unrestricted(),
        Ok(Some(text)) => Scopes::parse(text)
            .map_err(|message| OAuthError::described("invalid_scope", message))?,
        Err(message) => return Err(OAuthError::described("invalid_scope", message)),
    };
    let source = request_source(&request);
    let codes = match authorize(&services, client, scopes, &source).await {
        Ok(codes) => codes,
        Err(Error::Invalid(errors)) => {
            let description = errors.to_json().to_string();
            return Err(OAuthError::described("invalid_scope", description));
        }
        Err(other) => return Err(other.into()),
    };
    let settings = &services.settings;
    let verification_uri = settings
        .device_grant
        .verification_uri(&settings.server.public_url());
    let user_code = codes.user_code.display();
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(DeviceAuthorization {
            device_code: codes.device_code.expose().to_owned(),
            verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
            user_code,
            verification_uri,
            expires_in: codes.expires_in,
            interval: codes.interval,
        }))
}

/// `POST /oauth/token` (form, or JSON).
// Documentation only: the handler reads `Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequestBody {
    /// `urn:ietf:params:oauth:grant-type:device_code` or `refresh_token`.
    pub grant_type: String,
    /// With the device code grant.
    pub device_code: Option<String>,
    /// With the device code grant: the `client_id` the codes were asked for.
    pub client_id: Option<String>,
    /// With `refresh_token`: a device key.
    pub refresh_token: Option<String>,
}

/// The device key of an approved grant.
#[serde_with::skip_serializing_none]
#[derive(Serialize, ToSchema)]
pub struct DeviceToken {
    /// The device key: send as `Authorization: Bearer <key>` (or `Token`).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until `expires_at`.
    pub expires_in: i64,
    pub client: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Space-separated scopes; only for a restricted key.
    pub scope: Option<String>,
}

/// An access JWT for a device key (the `refresh_token` grant).
#[derive(Serialize, ToSchema)]
pub struct RefreshedToken {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access JWT expires (`ACCESS_TOKEN_LIFETIME`).
    pub expires_in: u64,
    /// With `ROTATE_REFRESH_TOKENS`: the device's new key, the one sent
    /// rotated as `POST /tokens/rotate` does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The token endpoint: the device grant's poll, and access JWTs for device
/// keys (`refresh_token`).
#[utoipa::path(post, operation_id = "oauth_token", path = "/oauth/token",
    request_body(content = TokenRequestBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The device key (device grant) or an access JWT (`refresh_token`), `Cache-Control: no-store`", body = DeviceToken),
        (status = 400, description = "`authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant`, `invalid_request` or `unsupported_grant_type`", body = OAuthErrorBody),
    ))]
pub async fn token(
    services: web::Data<Services>,
    access_tokens: web::Data<AccessTokens>,
    // The request itself: a DPoP proof (RFC 9449) is read from its headers
    // and checked against its method and URL.
    request: HttpRequest,
    fields: Result<Fields, ApiError>,
) -> Result<HttpResponse, OAuthError> {
    let fields = fields?;
    let source = request_source(&request);
    match required(&fields, "grant_type")?.as_str() {
        DEVICE_CODE_GRANT => device_code_grant(&services, &request, &fields, &source).await,
        "refresh_token" => {
            refresh_token_grant(&services, &access_tokens, &request, &fields, &source).await
        }
        _ => Err(OAuthError::new("unsupported_grant_type")),
    }
}

async fn device_code_grant(
    services: &Services,
    request: &HttpRequest,
    fields: &Fields,
    source: &EventSource,
) -> Result<HttpResponse, OAuthError> {
    let device_code = required(fields, "device_code")?;
    let client_id = required(fields, "client_id")?;
    // A proof binds the device's key as at any sign-in (RFC 9449 section 5).
    let dpop_jkt = sign_in_binding(request).await?;
    if let Ok(client) = ClientName::parse(&client_id) {
        tokens::check_dpop_required(&services.settings, &client, dpop_jkt.is_some())?;
    }
    match redeem(services, &device_code, &client_id, dpop_jkt, source).await {
        Ok(issued) => Ok(device_token(issued)),
        Err(PollRefusal::Pending) => Err(OAuthError::new("authorization_pending")),
        Err(PollRefusal::SlowDown) => Err(OAuthError::new("slow_down")),
        Err(PollRefusal::Denied) => Err(OAuthError::new("access_denied")),
        Err(PollRefusal::Expired) => Err(OAuthError::new("expired_token")),
        Err(PollRefusal::InvalidGrant) => Err(OAuthError::new("invalid_grant")),
        Err(PollRefusal::Failed(error)) => Err(error.into()),
    }
}

fn device_token(issued: IssuedToken) -> HttpResponse {
    let expires_in = (issued.expires_at.millis() - Timestamp::now().millis()).max(0) / 1000;
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(DeviceToken {
            access_token: issued.key.expose().to_owned(),
            token_type: if issued.dpop_bound { "DPoP" } else { "Bearer" },
            expires_in,
            client: issued.client.as_str().to_owned(),
            expires_at: issued.expires_at,
            scope: issued
                .scopes
                .is_restricted()
                .then(|| issued.scopes.to_stored()),
        })
}

/// An access JWT for a live device key, as `/token/refresh` mints one.
async fn refresh_token_grant(
    services: &Services,
    access_tokens: &AccessTokens,
    request: &HttpRequest,
    fields: &Fields,
    source: &EventSource,
) -> Result<HttpResponse, OAuthError> {
    let key = required(fields, "refresh_token")?;
    if looks_like_jwt(&key) {
        return Err(OAuthError::new("invalid_grant"));
    }
    let principal = match services.tokens.verify_presented(Ok(&key), source.ip).await {
        Ok(principal) => principal,
        Err(Error::Unauthenticated(_)) => return Err(OAuthError::new("invalid_grant")),
        Err(error) => return Err(error.into()),
    };
    let bound = principal.dpop_jkt.is_some();
    let Some(refreshed) =
        refresh_device(services, access_tokens, request, &key, principal, source).await?
    else {
        return Err(OAuthError::new("invalid_grant"));
    };
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(RefreshedToken {
            access_token: refreshed.access,
            token_type: if bound { "DPoP" } else { "Bearer" },
            expires_in: services.settings.jwt.access_token_lifetime.as_secs(),
            refresh_token: refreshed.refresh,
        }))
}

/// RFC 8414's authorization server metadata.
#[serde_with::skip_serializing_none]
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    /// `PUBLIC_URL`.
    pub issuer: String,
    pub token_endpoint: String,
    pub device_authorization_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub jwks_uri: String,
    pub grant_types_supported: Vec<&'static str>,
    /// `[]`: no authorization endpoint.
    pub response_types_supported: Vec<&'static str>,
    /// `["none"]`: public clients.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    /// `ALLOWED_SCOPES`, when set.
    pub scopes_supported: Option<Vec<String>>,
}

/// Where OAuth clients discover the endpoints (RFC 8414).
#[utoipa::path(get, operation_id = "authorization_server_metadata", path = "/.well-known/oauth-authorization-server", responses(
    (status = 200, description = "The metadata", body = ServerMetadata),
))]
pub async fn metadata(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let settings = &services.settings;
    let base = settings.server.public_url();
    Ok(HttpResponse::Ok().json(ServerMetadata {
        issuer: base.as_str().to_owned(),
        token_endpoint: base.join("/oauth/token"),
        device_authorization_endpoint: base.join("/oauth/device_authorization"),
        introspection_endpoint: base.join("/introspect"),
        revocation_endpoint: base.join("/revoke"),
        jwks_uri: base.join("/.well-known/jwks.json"),
        grant_types_supported: vec![DEVICE_CODE_GRANT, "refresh_token"],
        response_types_supported: Vec::new(),
        token_endpoint_auth_methods_supported: vec!["none"],
        dpop_signing_alg_values_supported: DPOP_ALGS.to_vec(),
        scopes_supported: settings.tokens.allowed_scopes.listed(),
    }))
}
