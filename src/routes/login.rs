//! Logging in and out.

use super::openapi::{Detail, Restricted};
use crate::domain::event::EventSource;
use crate::domain::principal::Principal;
use crate::domain::{ClientName, FieldErrors, Password, Scopes, Timestamp};
use crate::http::auth::{basic_credentials, AccountHolder, Authenticated};
use crate::http::body::{complete, Fields, ParseFields};
use crate::http::device_proof;
use crate::http::dpop::sign_in_binding;
use crate::http::request::{request_source, Source};
use crate::http::ApiError;
use crate::metrics::RevocationCause;
use crate::service::sign_in::device_key::SignInDevice;
use crate::service::sign_in::login::{login as log_in, LoginRequest};
use crate::service::tokens::{revoke_counted, IssuedToken, Revocation};
use crate::service::{Error, Services};
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// `POST /login` (JSON or form; the credentials may come as Basic instead).
// The body's schema in the OpenAPI document, never built: the body is read
// as the use case's `LoginRequest` (see `read_login`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginBody {
    #[schema(required = true, min_length = 1, value_type = String)]
    pub username: Option<String>,
    #[schema(required = true, min_length = 1, value_type = String)]
    pub password: Option<Password>,
    /// 1-64 ASCII letters, digits, `.`, `_` or `-`.
    #[schema(required = true, pattern = "^[A-Za-z0-9._-]{1,64}$", value_type = String)]
    pub client: Option<ClientName>,
    /// Optional: what the token may do. A list of 1-64 ASCII letters, digits,
    /// `:`, `.`, `_` or `-` each (at most 32), or one space-separated string
    /// (the only form in a form body). None, or an empty list: unrestricted.
    #[schema(required = false, value_type = Option<Vec<String>>)]
    pub scopes: Scopes,
    /// Required when the user has two-factor on: the app's current 6-digit
    /// code, or an unused recovery code.
    pub otp: Option<String>,
    /// Optional: the `device_proof` of an earlier sign-in of this device
    /// (browsers send the `mt_device_proof` cookie instead). A valid proof of
    /// this user has its failures counted against itself, not against the
    /// username, so failures others cause on the username do not refuse it.
    pub device_proof: Option<String>,
}

impl ParseFields for LoginRequest {
    fn parse_fields(fields: &Fields) -> Result<Self, FieldErrors> {
        read_login(fields, None)
    }
}

/// A login from the body; with its username and password from the Basic
/// credentials, when they came that way.
fn read_login(
    fields: &Fields,
    basic: Option<(String, Password)>,
) -> Result<LoginRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let credentials = match basic {
        Some(credentials) => Some(credentials),
        None => {
            let username = fields.required("username", &mut errors);
            let password = fields.required("password", &mut errors).map(Password::new);
            username.zip(password)
        }
    };
    let client = read_client(fields, &mut errors);
    let scopes = fields.scopes("scopes", &mut errors);
    let otp = fields.optional("otp", &mut errors);
    let device_proofs: Vec<String> = fields
        .optional(device_proof::FIELD, &mut errors)
        .filter(|proof| !proof.is_empty())
        .into_iter()
        .collect();
    let request = credentials
        .zip(client)
        .map(|((username, password), client)| LoginRequest {
            username,
            password,
            device: SignInDevice::unbound(client, scopes, otp, device_proofs),
        });
    complete(request, errors)
}

pub(super) fn read_client(fields: &Fields, errors: &mut FieldErrors) -> Option<ClientName> {
    fields
        .required("client", errors)
        .and_then(|client| match ClientName::parse(&client) {
            Ok(client) => Some(client),
            Err(message) => {
                errors.add("client", message);
                None
            }
        })
}

/// A new token; its key exists nowhere else.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Token <key>`.
    pub auth_token: String,
    pub client: String,
    /// The token's scopes; `[]` when it is unrestricted.
    pub scopes: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// This device's proof that it signed in as this user (also set as the
    /// cookie `mt_device_proof`): no secret, valid for `DEVICE_PROOF_TTL`.
    /// Send it with later sign-ins so that failures others cause on the
    /// username do not lock this device out.
    pub device_proof: String,
    /// `DPoP` when the key is bound to the key of the request's DPoP proof:
    /// send it as `Authorization: DPoP <key>` with a proof each time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// A logout that revoked several tokens.
#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    pub detail: &'static str,
    #[schema(value_type = u64)]
    pub revoked: usize,
}

/// `Authorization: Basic` credentials that do not sign in (`/login`,
/// `/token`).
// The response sets are documentation only, never built.
#[derive(IntoResponses)]
#[response(status = 401, description = "Bad `Authorization: Basic` credentials")]
#[allow(dead_code)]
pub struct BadBasicCredentials(Detail);

/// The limits every sign-in answers (`/login`, `/token`,
/// `/login/oidc/{provider}`).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum SignInLimits {
    #[response(
        status = 403,
        description = "Maximum number of clients per user exceeded"
    )]
    TooManyClients(Detail),
    #[response(status = 429, description = "Too many failed logins (`Retry-After`)")]
    Throttled(Detail),
}

/// Log in: a new token for this client, replacing the one it had.
#[utoipa::path(post, path = "/login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A new token (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "Missing or invalid fields, bad credentials (`non_field_errors`), or a missing or wrong two-factor code (`otp`)", body = super::openapi::FieldErrors),
        BadBasicCredentials,
        SignInLimits,
    ))]
pub async fn login(
    services: web::Data<Services>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let token = sign_in(&services, &request, &fields).await?;
    Ok(token_answer(&services, token))
}

/// A sign-in's answer (`/login`, `/login/oidc/{provider}`): the new token
/// and the device's proof, never to be cached.
pub(super) fn token_answer(services: &Services, token: IssuedToken) -> HttpResponse {
    let proof = issue_proof(services, &token);
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .cookie(device_proof::cookie(services, proof.clone()))
        .json(TokenResponse {
            auth_token: token.key.expose().to_owned(),
            client: token.client.as_str().to_owned(),
            scopes: token.scopes.into_vec(),
            expires_at: token.expires_at,
            device_proof: proof,
            token_type: token.dpop_bound.then_some("DPoP"),
        })
}

/// The device proof of a sign-in that issued `token`.
pub(super) fn issue_proof(services: &Services, token: &IssuedToken) -> String {
    crate::service::sign_in::device_proof::issue(services, token.user_id, &token.client)
}

/// What `/login` (and `/token`, which answers alike) does before shaping
/// its answer: the fields or Basic credentials, then the login use case.
pub(super) async fn sign_in(
    services: &Services,
    request: &HttpRequest,
    fields: &Fields,
) -> Result<IssuedToken, ApiError> {
    let basic = basic_credentials(request.headers()).transpose()?;
    let basic_was_used = basic.is_some();
    let mut login_request = match basic {
        Some(credentials) => read_login(fields, Some(credentials))?,
        None => fields.parse::<LoginRequest>()?,
    };
    login_request
        .device
        .device_proofs
        .extend(device_proof::from_cookie(request));
    login_request.device.key.dpop_jkt = sign_in_binding(request).await?;
    let source = request_source(request);
    match log_in(services, login_request, &source).await {
        Ok(token) => Ok(token),
        Err(Error::BadCredentials) if basic_was_used => Err(ApiError::BadBasicCredentials),
        Err(error) => Err(error.into()),
    }
}

/// Revoke the presented token only.
#[utoipa::path(post, path = "/logout", security(("Token" = [])), responses(
    (status = 200, description = "Logged out", body = Detail),
))]
pub async fn logout(
    services: web::Data<Services>,
    Authenticated(principal): Authenticated,
    Source(source): Source,
) -> Result<HttpResponse, ApiError> {
    log_out_device(&services, &principal, &source).await?;
    Ok(HttpResponse::Ok().json(Detail::new("Successfully logged out.")))
}

/// Revokes the device of the presented token, as a logout (`/logout`, and
/// `/token/blacklist` with the device's key).
pub(super) async fn log_out_device(
    services: &Services,
    principal: &Principal,
    source: &EventSource,
) -> Result<(), ApiError> {
    let digest = principal.digest;
    revoke_counted(
        services,
        Revocation::Token { digest },
        RevocationCause::Logout,
        source,
    )
    .await?;
    Ok(())
}

/// Revoke every token of the user.
#[utoipa::path(post, path = "/logout/all", security(("Token" = [])), responses(
    (status = 200, description = "Logged out everywhere", body = LoggedOut),
    Restricted,
))]
pub async fn logout_all(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
) -> Result<HttpResponse, ApiError> {
    let revocation = Revocation::All {
        user_id: principal.user_id,
    };
    let cause = RevocationCause::LogoutAll;
    log_out_devices(
        &services,
        revocation,
        cause,
        &source,
        "Successfully logged out.",
    )
    .await
}

/// Revoke every token of the user but the presented one.
#[utoipa::path(post, path = "/logout/others", security(("Token" = [])), responses(
    (status = 200, description = "Other devices logged out", body = LoggedOut),
    Restricted,
))]
pub async fn logout_others(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
) -> Result<HttpResponse, ApiError> {
    let revocation = Revocation::AllBut {
        user_id: principal.user_id,
        keep_token_id: principal.token_id,
    };
    let cause = RevocationCause::LogoutOthers;
    log_out_devices(
        &services,
        revocation,
        cause,
        &source,
        "Other devices logged out.",
    )
    .await
}

/// Revokes several of the user's devices and answers how many.
async fn log_out_devices(
    services: &Services,
    revocation: Revocation,
    cause: RevocationCause,
    source: &EventSource,
    detail: &'static str,
) -> Result<HttpResponse, ApiError> {
    let revoked = revoke_counted(services, revocation, cause, source).await?;
    Ok(HttpResponse::Ok().json(LoggedOut { detail, revoked }))
}
