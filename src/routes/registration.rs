//! Signing up.

use crate::body::Fields;
use crate::config::Registration;
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::service::registration::{register as sign_up, RegisterRequest, REGISTRATION_CLOSED};
use crate::state::AppState;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// Sign up; with `client`, also log in on it.
#[utoipa::path(post, path = "/register",
    request_body(content((crate::openapi::RegisterBody = "application/json"), (crate::openapi::RegisterBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "The new user (`Cache-Control: no-store`)", body = crate::openapi::Registered),
        (status = 400, description = "Invalid or taken username, weak password, invalid e-mail or client", body = crate::openapi::FieldErrors),
        (status = 403, description = "Registration is closed", body = crate::openapi::Detail),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    if state.settings.registration == Registration::Closed {
        return Err(ApiError::Forbidden(REGISTRATION_CLOSED));
    }
    let mut errors = FieldErrors::new();
    let register_request = RegisterRequest {
        username: fields.required("username", &mut errors),
        password: fields.required("password", &mut errors).map(Password::new),
        email: fields.optional("email", &mut errors).unwrap_or_default(),
        client: fields
            .optional("client", &mut errors)
            .filter(|client| !client.is_empty()),
        user_agent: super::user_agent(&request),
    };
    let registered = sign_up(&state, register_request, errors).await?;
    let mut body = json!({
        "id": registered.user.id,
        "username": registered.user.username,
        "email": registered.user.email,
    });
    if let Some(token) = &registered.token {
        body["auth_token"] = json!(token.key.expose());
    }
    Ok(HttpResponse::Created()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body))
}
