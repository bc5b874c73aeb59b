//! Changing a password, and resetting a forgotten one by mail.

use crate::auth::Authenticated;
use crate::body::Fields;
use crate::domain::email::{is_valid_email, INVALID_EMAIL};
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::service::password_change::{change_password, PASSWORD_CHANGED};
use crate::service::password_reset::{
    confirm_reset as confirm, ConfirmRequest, RESET_DONE, RESET_SENT,
};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

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
    change_password(&state, &session, old_password, new_password, errors).await?;
    Ok(HttpResponse::Ok().json(json!({"detail": PASSWORD_CHANGED})))
}

/// Answers at once and alike for every well-formed address; the mail, if
/// any, is sent in the background.
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
    confirm(&state, request, errors).await?;
    Ok(HttpResponse::Ok().json(json!({"detail": RESET_DONE})))
}
