//! Changing a password, and resetting a forgotten one by mail.

use crate::auth::Authenticated;
use crate::body::Fields;
use crate::domain::email::{is_valid_email, INVALID_EMAIL};
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::metrics::RevocationCause;
use crate::service::password_change::{change_password, PASSWORD_CHANGED};
use crate::service::password_reset::{
    confirm_reset as confirm, ConfirmRequest, RESET_DONE, RESET_SENT,
};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Change the password; every other token of the user is revoked.
#[utoipa::path(post, path = "/password/change", security(("Token" = [])),
    request_body(content((crate::openapi::PasswordChangeBody = "application/json"), (crate::openapi::PasswordChangeBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Saved", body = crate::openapi::Detail),
        (status = 400, description = "Wrong old password or weak new one", body = crate::openapi::FieldErrors),
    ))]
pub async fn change(
    state: web::Data<AppState>,
    Authenticated(session): Authenticated,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let old_password = fields
        .required("old_password", &mut errors)
        .map(Password::new);
    let new_password = fields
        .required("new_password", &mut errors)
        .map(Password::new);
    let revoked = change_password(&state, &session, old_password, new_password, errors).await?;
    state.metrics.revoked(RevocationCause::Password, revoked);
    Ok(HttpResponse::Ok().json(json!({"detail": PASSWORD_CHANGED})))
}

/// Answers at once and alike for every well-formed address; the mail, if
/// any, is sent in the background.
#[utoipa::path(post, path = "/password/reset",
    request_body(content((crate::openapi::PasswordResetBody = "application/json"), (crate::openapi::PasswordResetBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The same answer whether or not the address is known", body = crate::openapi::Detail),
        (status = 400, description = "Missing or malformed address", body = crate::openapi::FieldErrors),
    ))]
pub async fn reset(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let email = fields.required("email", &mut errors);
    if let Some(email) = &email {
        if !is_valid_email(email) {
            errors.add("email", INVALID_EMAIL);
        }
    }
    errors.into_result()?;
    if let Some(email) = email {
        state.reset_mails.request(email);
    }
    Ok(HttpResponse::Ok().json(json!({"detail": RESET_SENT})))
}

/// Set a new password with the `uid` and `token` of a reset mail; every
/// token of the user is revoked.
#[utoipa::path(post, path = "/password/reset/confirm",
    request_body(content((crate::openapi::PasswordResetConfirmBody = "application/json"), (crate::openapi::PasswordResetConfirmBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Password reset", body = crate::openapi::Detail),
        (status = 400, description = "Bad, used or expired token, or a weak password", body = crate::openapi::FieldErrors),
    ))]
pub async fn confirm_reset(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let request = ConfirmRequest {
        uid: fields.required("uid", &mut errors),
        token: fields.required("token", &mut errors),
        new_password: fields
            .required("new_password", &mut errors)
            .map(Password::new),
    };
    let revoked = confirm(&state, request, errors).await?;
    state.metrics.revoked(RevocationCause::Password, revoked);
    Ok(HttpResponse::Ok().json(json!({"detail": RESET_DONE})))
}
