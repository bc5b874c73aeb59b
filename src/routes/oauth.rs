//! The OAuth 2.0 endpoints that resource servers and secret scanners speak:
//! token introspection (RFC 7662) and token revocation (RFC 7009).

use super::openapi::{Detail, FieldErrors as FieldErrorsSchema, NoTokenField};
use crate::domain::messages::REQUIRED;
use crate::domain::principal::Principal;
use crate::domain::FieldErrors;
use crate::http::auth::Introspector;
use crate::http::body::{Fields, FromFields};
use crate::http::request::Source;
use crate::http::ApiError;
use crate::service::sign_in::throttle::admit_revocation;
use crate::service::tokens::other_services::{
    introspect as introspect_key, presented_digests, revoke_digests, MAX_KEYS_PER_REVOCATION,
};
use crate::service::Services;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// `POST /introspect` and `POST /revoke`: the key in question. A
/// `token_type_hint`, which the RFCs let clients send, is ignored.
#[derive(ToSchema)]
pub struct TokenBody {
    /// A key; anything that is not a live key is simply not one.
    #[schema(required = true, min_length = 1, value_type = String)]
    pub token: Option<String>,
}

impl FromFields for TokenBody {
    /// Required, but anything in it is a token to ask about (a NUL or a
    /// number included: not a key, so inactive or nothing to revoke,
    /// rather than an error that would tell more than the RFCs allow).
    fn from_fields(fields: &Fields, errors: &mut FieldErrors) -> Self {
        let token = match fields.text("token") {
            Ok(Some(token)) if !token.is_empty() => Some(token.to_owned()),
            Ok(_) => {
                errors.add("token", REQUIRED);
                None
            }
            Err(_) => Some(String::new()),
        };
        TokenBody { token }
    }
}

/// The checked `token` field.
fn token_field(fields: &Fields) -> Result<String, ApiError> {
    let (body, errors) = fields.read::<TokenBody>();
    errors.into_result()?;
    Ok(body.token.unwrap_or_default())
}

/// What RFC 7662 answers; only `active` when the key is not live.
// The default is that answer: inactive, every other field left out (a
// `None` is never written).
#[serde_with::skip_serializing_none]
#[derive(Default, Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// `Token`, or `DPoP` for a key bound to a device's key.
    pub token_type: Option<&'static str>,
    /// The token's client.
    pub client_id: Option<String>,
    pub username: Option<String>,
    /// The user's id, as a string.
    pub sub: Option<String>,
    pub is_admin: Option<bool>,
    /// When the token expires, in seconds since the epoch.
    pub exp: Option<i64>,
    /// When the token was issued, in seconds since the epoch.
    pub iat: Option<i64>,
    /// The token's scopes, space-separated; only for a restricted token.
    pub scope: Option<String>,
    /// For a bound key (RFC 9449 section 6.2): the thumbprint of its key.
    pub cnf: Option<Confirmation>,
}

/// The key a bound key is confirmed by.
#[derive(Serialize, ToSchema)]
pub struct Confirmation {
    /// The RFC 7638 thumbprint (base64url SHA-256) of the device's public key.
    pub jkt: String,
}

impl Introspection {
    fn active(principal: Principal) -> Self {
        Introspection {
            active: true,
            token_type: Some(match principal.dpop_jkt {
                Some(_) => "DPoP",
                None => "Token",
            }),
            scope: principal
                .is_restricted()
                .then(|| principal.scopes.to_stored()),
            client_id: Some(principal.client),
            username: Some(principal.username),
            sub: Some(principal.user_id.to_string()),
            is_admin: Some(principal.is_admin),
            exp: Some(principal.expires_at.unix_seconds()),
            iat: Some(principal.created_at.unix_seconds()),
            cnf: principal.dpop_jkt.map(|jkt| Confirmation { jkt }),
        }
    }
}

/// Tell a resource server whether a key is live, and whose it is
/// (RFC 7662). The caller authenticates with an unrestricted key of a
/// service user or an admin. It counts as a use of the introspected key.
#[utoipa::path(post, operation_id = "introspect_token", path = "/introspect", security(("Token" = [])),
    request_body = TokenBody,
    responses(
        (status = 200, description = "`{\"active\": false}` for anything but a live key", body = Introspection),
        NoTokenField,
        (status = 403, description = "The caller is neither a service user nor an admin, its key is restricted, or it is an admin without two-factor under `REQUIRE_2FA_FOR_ADMINS`", body = Detail),
    ))]
pub async fn introspect(
    services: web::Data<Services>,
    _caller: Introspector,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let token = token_field(&fields)?;
    let answer = match introspect_key(&services.tokens, &token).await? {
        Some(principal) => Introspection::active(principal),
        None => Introspection::default(),
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// The answer of `/revoke`: an empty object, always.
#[derive(Serialize, ToSchema)]
pub struct Revoked {}

/// `POST /revoke` with a list: the keys to end at once.
// Documentation only: the handler reads the list with `Fields::strings`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokensBody {
    /// Keys; anything that is not a live key is simply not one.
    #[schema(min_items = 1, max_items = 1000)]
    pub tokens: Vec<String>,
}

/// The two bodies `/revoke` takes.
// Documentation only, never built.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RevokeBody {
    One(TokenBody),
    Many(TokensBody),
}

/// End the token whose key this is (RFC 7009), or every live key of a list
/// of up to 1000 (a leak found by a scanner). No authentication: holding
/// the key is enough. The answer is the same whether or not any was one.
#[utoipa::path(post, operation_id = "revoke_token", path = "/revoke",
    request_body = RevokeBody,
    responses(
        (status = 200, description = "Revoked if it was a live key: `{}` either way", body = Revoked),
        (status = 400, description = "No `token` field, or a `tokens` list that is empty, longer than 1000 or holds a non-string", body = FieldErrorsSchema),
        (status = 429, description = "Too many requests from this address (`REVOKE_THROTTLE`, `Retry-After`)", body = Detail),
    ))]
pub async fn revoke(
    services: web::Data<Services>,
    Source(source): Source,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let keys = if fields.has("tokens") {
        let mut errors = FieldErrors::new();
        let keys = fields.strings("tokens", MAX_KEYS_PER_REVOCATION, &mut errors);
        errors.into_result()?;
        keys.unwrap_or_default()
    } else {
        vec![token_field(&fields)?]
    };
    // Keys that cannot be live (bad checksum, no shape of ours) need no
    // database: not even the throttle's count, which lives there.
    let digests = presented_digests(&services, &keys);
    if !digests.is_empty() {
        admit_revocation(&services, &source).await?;
        revoke_digests(&services, digests, &source).await?;
    }
    Ok(HttpResponse::Ok().json(Revoked {}))
}
