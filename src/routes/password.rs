//! Changing a password, and resetting a forgotten one by mail.

use super::openapi::{Detail, FieldErrors as FieldErrorsSchema, MalformedAddress, Restricted};
use crate::domain::email::Email;
use crate::domain::messages::{PASSWORD_CHANGED, RESET_DONE, RESET_SENT};
use crate::domain::{FieldErrors, NewPassword, Password};
use crate::http::auth::AccountHolder;
use crate::http::body::{complete, Fields, FromFields, ParseFields};
use crate::http::request::{client_ip, Source};
use crate::http::ApiError;
use crate::service::accounts::password_change::{self, PasswordChange};
use crate::service::accounts::password_reset::{
    confirm_reset as confirm, request_reset, ConfirmRequest,
};
use crate::service::Services;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

/// `POST /password/change`.
#[derive(ToSchema)]
pub struct PasswordChangeBody {
    #[schema(required = true, min_length = 1, value_type = String)]
    pub old_password: Option<Password>,
    #[schema(required = true, min_length = 8, pattern = "[^0-9]", value_type = String)]
    pub new_password: Option<Password>,
}

impl FromFields for PasswordChangeBody {
    fn from_fields(fields: &Fields, errors: &mut FieldErrors) -> Self {
        PasswordChangeBody {
            old_password: fields.required("old_password", errors).map(Password::new),
            new_password: fields.required("new_password", errors).map(Password::new),
        }
    }
}

/// Change the password; every other token of the user is revoked.
#[utoipa::path(post, operation_id = "change_password", path = "/password/change", security(("Token" = [])),
    request_body = PasswordChangeBody,
    responses(
        (status = 200, description = "Saved", body = Detail),
        (status = 400, description = "Wrong old password or weak new one", body = FieldErrorsSchema),
        Restricted,
        (status = 429, description = "Too many wrong old passwords or failed logins for this user (`Retry-After`)", body = Detail),
    ))]
pub async fn change(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let (body, mut errors) = fields.read::<PasswordChangeBody>();
    let similar_to = (principal.username.as_str(), principal.email.as_str());
    let new_password = body.new_password.and_then(|password| {
        NewPassword::parse_into(password, similar_to, "new_password", &mut errors)
    });
    // The old password is checked even when the new one failed: both
    // fields' problems are reported at once.
    let old_password = match body.old_password {
        Some(old) => {
            password_change::check_old_password(&services, &principal, old, &source, &mut errors)
                .await?
        }
        None => None,
    };
    let request = old_password
        .zip(new_password)
        .map(|(old_password, new_password)| PasswordChange {
            old_password,
            new_password,
        });
    password_change::change_password(&services, &principal, complete(request, errors)?, &source)
        .await?;
    Ok(HttpResponse::Ok().json(Detail::new(PASSWORD_CHANGED)))
}

/// `POST /password/reset`.
// The body's schema in the OpenAPI document, never built: the address is
// read by `read_address`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordResetBody {
    #[schema(required = true, value_type = String)]
    pub email: Option<String>,
}

/// The body's required, well-formed `email` (`/password/reset`,
/// `/register/resend-email`), or its problems.
pub(super) fn read_address(fields: &Fields) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::new();
    let email = fields.required("email", &mut errors);
    if let Some(Err(message)) = email.as_deref().map(Email::parse) {
        errors.add("email", message);
    }
    complete(email, errors)
}

/// Answers at once and alike for every well-formed address, over
/// `PASSWORD_RESET_THROTTLE` or not; the mail, if any, is sent in the
/// background.
#[utoipa::path(post, operation_id = "request_password_reset", path = "/password/reset",
    request_body = PasswordResetBody,
    responses(
        (status = 200, description = "The same answer whether or not the address is known", body = Detail),
        MalformedAddress,
    ))]
pub async fn reset(
    services: web::Data<Services>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let email = read_address(&fields)?;
    let address = client_ip(&request, &services.settings.server.trusted_proxies);
    request_reset(&services, email, address).await?;
    Ok(HttpResponse::Ok().json(Detail::new(RESET_SENT)))
}

/// `POST /password/reset/confirm`, with the `uid` and `token` of the mail.
// The body's schema in the OpenAPI document, never built: the body is read
// as the use case's `ConfirmRequest`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordResetConfirmBody {
    #[schema(required = true, min_length = 1, value_type = String)]
    pub uid: Option<String>,
    #[schema(required = true, min_length = 1, value_type = String)]
    pub token: Option<String>,
    #[schema(required = true, min_length = 8, pattern = "[^0-9]", value_type = String)]
    pub new_password: Option<Password>,
}

impl ParseFields for ConfirmRequest {
    fn parse_fields(fields: &Fields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let uid = fields.required("uid", &mut errors);
        let token = fields.required("token", &mut errors);
        let new_password = fields
            .required("new_password", &mut errors)
            .map(Password::new);
        let request = uid
            .zip(token)
            .zip(new_password)
            .map(|((uid, token), new_password)| ConfirmRequest {
                uid,
                token,
                new_password,
            });
        complete(request, errors)
    }
}

/// Set a new password with the `uid` and `token` of a reset mail; every
/// token of the user is revoked.
#[utoipa::path(post, operation_id = "confirm_password_reset", path = "/password/reset/confirm",
    request_body = PasswordResetConfirmBody,
    responses(
        (status = 200, description = "Password reset", body = Detail),
        (status = 400, description = "Bad, used or expired token, or a weak password", body = FieldErrorsSchema),
    ))]
pub async fn confirm_reset(
    services: web::Data<Services>,
    Source(source): Source,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let request = fields.parse::<ConfirmRequest>()?;
    confirm(&services, request, &source).await?;
    Ok(HttpResponse::Ok().json(Detail::new(RESET_DONE)))
}
