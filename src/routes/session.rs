//! Logging in and out.

use crate::auth::{basic_credentials, client_ip, Authenticated};
use crate::body::Fields;
use crate::domain::{ClientName, Password};
use crate::error::{ApiError, FieldErrors};
use crate::metrics::RevocationCause;
use crate::service::devices;
use crate::service::login::{LoginError, LoginRequest};
use crate::service::throttle::throttled_login;
use crate::state::AppState;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// Log in: a new token for this client, replacing the one it had.
#[utoipa::path(post, path = "/login",
    request_body(content((crate::openapi::LoginBody = "application/json"), (crate::openapi::LoginBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "A new token (`Cache-Control: no-store`)", body = crate::openapi::TokenResponse),
        (status = 400, description = "Missing or invalid fields, or bad credentials (`non_field_errors`)", body = crate::openapi::FieldErrors),
        (status = 401, description = "Bad `Authorization: Basic` credentials", body = crate::openapi::Detail),
        (status = 403, description = "Maximum number of clients per user exceeded", body = crate::openapi::Detail),
        (status = 429, description = "Too many failed logins (`Retry-After`)", body = crate::openapi::Detail),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let basic = basic_credentials(request.headers()).transpose()?;
    let mut errors = FieldErrors::new();
    let (username, password) = match basic {
        Some((username, password)) => (Some(username), Some(password)),
        None => {
            let username = fields.required("username", &mut errors);
            let password = fields.required("password", &mut errors).map(Password::new);
            (username, password)
        }
    };
    let client = fields
        .required("client", &mut errors)
        .and_then(|client| match ClientName::parse(&client) {
            Ok(client) => Some(client),
            Err(message) => {
                errors.add("client", message);
                None
            }
        });
    errors.into_result()?;
    let (Some(username), Some(password), Some(client)) = (username, password, client) else {
        return Err(ApiError::internal("validated login fields missing"));
    };
    let user_agent = super::user_agent(&request);
    let address = client_ip(&request, &state.settings.trusted_proxies);
    let issued = throttled_login(
        &state,
        LoginRequest {
            username,
            password,
            client,
            user_agent,
        },
        address,
    )
    .await;
    match issued {
        Ok(token) => Ok(HttpResponse::Ok()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .json(json!({
                "auth_token": token.key.expose(),
                "client": token.client.as_str(),
                "expires_at": token.expires_at,
            }))),
        Err(LoginError::BadCredentials) if basic_was_used(&request) => {
            Err(ApiError::BadBasicCredentials)
        }
        Err(LoginError::BadCredentials) => {
            Err(ApiError::field("non_field_errors", BAD_CREDENTIALS))
        }
        Err(LoginError::Other(error)) => Err(error),
    }
}

fn basic_was_used(request: &HttpRequest) -> bool {
    basic_credentials(request.headers()).is_some()
}

/// Revoke the presented token only.
#[utoipa::path(post, path = "/logout", security(("Token" = [])), responses(
    (status = 200, description = "Logged out", body = crate::openapi::Detail),
))]
pub async fn logout(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, ApiError> {
    state
        .db(move |conn| devices::revoke_token(conn, session.token_id))
        .await?;
    state.metrics.revoked(RevocationCause::Logout, 1);
    Ok(HttpResponse::Ok().json(json!({"detail": "Successfully logged out."})))
}

/// Revoke every token of the user.
#[utoipa::path(post, path = "/logout/all", security(("Token" = [])), responses(
    (status = 200, description = "Logged out everywhere", body = crate::openapi::LoggedOut),
))]
pub async fn logout_all(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .db(move |conn| devices::revoke_all(conn, session.user_id))
        .await?;
    state.metrics.revoked(RevocationCause::LogoutAll, revoked);
    Ok(HttpResponse::Ok().json(json!({"detail": "Successfully logged out.", "revoked": revoked})))
}

/// Revoke every token of the user but the presented one.
#[utoipa::path(post, path = "/logout/others", security(("Token" = [])), responses(
    (status = 200, description = "Other devices logged out", body = crate::openapi::LoggedOut),
))]
pub async fn logout_others(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .db(move |conn| devices::revoke_others(conn, session.user_id, session.token_id))
        .await?;
    state
        .metrics
        .revoked(RevocationCause::LogoutOthers, revoked);
    Ok(HttpResponse::Ok().json(json!({"detail": "Other devices logged out.", "revoked": revoked})))
}
