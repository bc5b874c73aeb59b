//! JWT access tokens with Simple JWT's endpoints: `/token` (sign in),
//! `/token/refresh`, `/token/verify`, `/token/blacklist`, and the JWKS that
//! other services verify access tokens with. The refresh token is the
//! device's ordinary key.

use super::login::{
    issue_proof, log_out_device, sign_in, BadBasicCredentials, LoginBody, SignInLimits,
};
use super::openapi::{FieldErrors as FieldErrorsSchema, NoTokenField};
use crate::domain::event::EventSource;
use crate::domain::jwt::{looks_like_jwt, Jwk};
use crate::domain::principal::Principal;
use crate::http::body::Fields;
use crate::http::device_proof;
use crate::http::dpop::own_request;
use crate::http::request::Source;
use crate::http::ApiError;
use crate::service::tokens::jwt::AccessTokens;
use crate::service::tokens::rotation::rotate_counted;
use crate::service::{Error, Services};
use actix_web::http::header::{CacheControl, CacheDirective, WWW_AUTHENTICATE};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::net::IpAddr;
use utoipa::{IntoResponses, ToSchema};

/// `POST /token`'s answer.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// The device's key: send it to `/token/refresh` (or as `Authorization: Token <key>`).
    pub refresh: String,
    /// An access JWT: send it as `Authorization: Bearer <jwt>`.
    pub access: String,
    /// The device's proof, as `/login` answers it (and sets its cookie).
    pub device_proof: String,
    /// `DPoP` when the device's key is bound to the key of the request's
    /// DPoP proof: both then go as `Authorization: DPoP …` with a proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// `POST /token/refresh`'s answer.
#[derive(Serialize, ToSchema)]
pub struct AccessToken {
    pub access: String,
    /// With `ROTATE_REFRESH_TOKENS` only: the device's new key, which
    /// replaces the one sent (that one keeps working for `ROTATION_GRACE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
}

/// `{}`.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// Simple JWT's refusal: `401`, with `WWW-Authenticate: Bearer realm="api"`.
#[derive(Serialize, ToSchema)]
pub struct TokenNotValid {
    #[schema(example = "Token is invalid or expired")]
    pub detail: &'static str,
    #[schema(example = "token_not_valid")]
    pub code: &'static str,
}

/// The public keys that verify access tokens.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

// The two bodies' schemas in the OpenAPI document, never built: each is one
// required field, read with `Fields::only_required`.

/// A body with one required field.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshBody {
    /// The device's key.
    #[schema(required = true, min_length = 1, value_type = String)]
    pub refresh: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VerifyBody {
    /// An access JWT.
    #[schema(required = true, min_length = 1, value_type = String)]
    pub token: Option<String>,
}

fn token_not_valid() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((WWW_AUTHENTICATE, r#"Bearer realm="api""#))
        .json(TokenNotValid {
            detail: "Token is invalid or expired",
            code: "token_not_valid",
        })
}

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// What [`presented_device`] refuses (`/token/refresh`, `/token/blacklist`).
// Documentation only, never built.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum DeviceKeyRefusals {
    #[response(status = 400, description = "No `refresh` field")]
    NoRefresh(FieldErrorsSchema),
    #[response(status = 401, description = "Not a live device key")]
    NotLive(TokenNotValid),
}

/// The live device a presented token (a device key or an access JWT)
/// stands for; `None` for anything else, which Simple JWT refuses.
async fn live_device(
    services: &Services,
    token: &str,
    from: Option<IpAddr>,
) -> Result<Option<Principal>, ApiError> {
    match services.tokens.verify_presented(Ok(token), from).await {
        Ok(principal) => Ok(Some(principal)),
        Err(Error::Unauthenticated(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The live device whose key (the refresh token) the body's `refresh`
/// field presents, if any.
async fn presented_device(
    services: &Services,
    fields: &Fields,
    source: &EventSource,
) -> Result<Option<Principal>, ApiError> {
    let refresh = fields.only_required("refresh")?;
    if looks_like_jwt(&refresh) {
        return Ok(None);
    }
    live_device(services, &refresh, source.ip).await
}

/// Sign in as `/login` does (same fields, checks and failures); the refresh
/// token is the client's new device key.
#[utoipa::path(post, operation_id = "obtain_jwt", path = "/token",
    request_body = LoginBody,
    responses(
        (status = 200, description = "The device key as `refresh` and an access JWT (`Cache-Control: no-store`)", body = TokenPair),
        (status = 400, description = "Missing or invalid fields, or bad credentials (`non_field_errors`)", body = FieldErrorsSchema),
        BadBasicCredentials,
        SignInLimits,
    ))]
pub async fn obtain(
    services: web::Data<Services>,
    access_tokens: web::Data<AccessTokens>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let issued = sign_in(&services, &request, &fields).await?;
    // Just issued: its use needs no recording.
    let principal = services
        .tokens
        .verify(Ok(Some(issued.key.digest())), None)
        .await?;
    let access = access_tokens.issue(&principal).await?;
    let proof = issue_proof(&services, &issued);
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .cookie(device_proof::cookie(&services, proof.clone()))
        .json(TokenPair {
            token_type: issued.dpop_bound.then_some("DPoP"),
            refresh: issued.key.expose().to_owned(),
            access,
            device_proof: proof,
        }))
}

/// A new access JWT for a live device key; counts as a use of the key.
/// With `ROTATE_REFRESH_TOKENS`, the key is also rotated as
/// `/tokens/rotate` does, and the new one is the answer's `refresh`.
#[utoipa::path(post, operation_id = "refresh_jwt", path = "/token/refresh",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new access JWT, and with `ROTATE_REFRESH_TOKENS` the device's new key as `refresh` (`Cache-Control: no-store`)", body = AccessToken),
        DeviceKeyRefusals,
    ))]
pub async fn refresh(
    services: web::Data<Services>,
    access_tokens: web::Data<AccessTokens>,
    request: HttpRequest,
    Source(source): Source,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let Some(principal) = presented_device(&services, &fields, &source).await? else {
        return Ok(token_not_valid());
    };
    // The key was read and accepted by `presented_device` just now.
    let refresh = fields.only_required("refresh")?;
    let Some(refreshed) = refresh_device(
        &services,
        &access_tokens,
        &request,
        &refresh,
        principal,
        &source,
    )
    .await?
    else {
        return Ok(token_not_valid());
    };
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(AccessToken {
            access: refreshed.access,
            refresh: refreshed.refresh,
        }))
}

/// An access JWT for a device key, and with `ROTATE_REFRESH_TOKENS` the
/// device's new key.
pub(super) struct Refreshed {
    pub access: String,
    pub refresh: Option<String>,
}

/// Mints an access JWT for the live device key `key`, already accepted as
/// `principal`, as `/token/refresh` and the OAuth `refresh_token` grant do:
/// a bound key needs a proof of its own key (`ath` of it); with
/// `ROTATE_REFRESH_TOKENS` the key is rotated as `/tokens/rotate` does and
/// the JWT belongs to the new one. `None`: the key is no longer valid, which
/// each endpoint answers in its own words.
pub(super) async fn refresh_device(
    services: &Services,
    access_tokens: &AccessTokens,
    request: &HttpRequest,
    key: &str,
    principal: Principal,
    source: &EventSource,
) -> Result<Option<Refreshed>, ApiError> {
    if principal.dpop_jkt.is_some() {
        let dpop = own_request(request, &services.tokens, true);
        services
            .tokens
            .dpop()
            .check_use(principal.dpop_jkt.as_deref(), &dpop, key)
            .await?;
    }
    if !services.settings.tokens.rotate_refresh_tokens {
        let access = access_tokens.issue(&principal).await?;
        return Ok(Some(Refreshed {
            access,
            refresh: None,
        }));
    }
    let Some(presented) = services.tokens.digest_of(key) else {
        return Ok(None);
    };
    let rotated = match rotate_counted(services, presented, source).await {
        Ok(rotated) => rotated,
        Err(Error::Unauthenticated(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let principal = Principal {
        digest: rotated.key.digest(),
        expires_at: rotated.expires_at,
        ..principal
    };
    let access = access_tokens.issue(&principal).await?;
    Ok(Some(Refreshed {
        access,
        refresh: Some(rotated.key.expose().to_owned()),
    }))
}

/// `{}` when the access JWT's signature and claims hold and its device is live.
#[utoipa::path(post, operation_id = "verify_jwt", path = "/token/verify",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "The access JWT holds", body = Empty),
        NoTokenField,
        (status = 401, description = "Invalid, expired, or of a revoked device", body = TokenNotValid),
    ))]
pub async fn verify(
    services: web::Data<Services>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let token = fields.only_required("token")?;
    // Whoever verifies a JWT here is not necessarily its holder: the use
    // is recorded without an address.
    if looks_like_jwt(&token) && live_device(&services, &token, None).await?.is_some() {
        Ok(HttpResponse::Ok().json(Empty {}))
    } else {
        Ok(token_not_valid())
    }
}

/// Revokes the device of a live device key (its access JWTs stop working
/// here at once).
#[utoipa::path(post, operation_id = "blacklist_jwt", path = "/token/blacklist",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "The device is revoked", body = Empty),
        DeviceKeyRefusals,
    ))]
pub async fn blacklist(
    services: web::Data<Services>,
    Source(source): Source,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let Some(principal) = presented_device(&services, &fields, &source).await? else {
        return Ok(token_not_valid());
    };
    log_out_device(&services, &principal, &source).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// Every public key that may still verify an unexpired access token.
#[utoipa::path(get, path = "/.well-known/jwks.json", responses(
    (status = 200, description = "The JWKS (`Cache-Control: public, max-age=300`)", body = Jwks),
))]
pub async fn jwks(access_tokens: web::Data<AccessTokens>) -> Result<HttpResponse, ApiError> {
    let keys = access_tokens.jwks().await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(300),
        ]))
        .json(Jwks { keys }))
}
