//! Two-factor authentication (TOTP): set up, confirm, turn off. Signing in
//! with a code is `/login`'s field `otp`.

use super::openapi::{Detail, FieldErrors as FieldErrorsSchema, Restricted};
use crate::domain::messages::DISABLED;
use crate::domain::{FieldErrors, Password};
use crate::http::auth::AccountHolder;
use crate::http::body::{complete, Fields};
use crate::http::ApiError;
use crate::service::sign_in::two_factor::{self, TotpSetup};
use crate::service::Services;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

// The three bodies' schemas in the OpenAPI document, never built: each
// handler reads its fields itself.

/// `POST /2fa/totp/setup`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SetupBody {
    #[schema(required = true, min_length = 1, value_type = String)]
    pub password: Option<Password>,
}

/// `POST /2fa/totp/confirm`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConfirmBody {
    /// The 6-digit code the app shows.
    #[schema(required = true, min_length = 1, value_type = String)]
    pub code: Option<String>,
}

/// `POST /2fa/disable`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DisableBody {
    #[schema(required = true, min_length = 1, value_type = String)]
    pub password: Option<Password>,
    /// A current code from the app, or an unused recovery code.
    #[schema(required = true, min_length = 1, value_type = String)]
    pub code: Option<String>,
}

/// The recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each signs in once in place of a code from the app.
    pub recovery_codes: Vec<String>,
}

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// Start setting up two-factor: a new secret for an authenticator app.
/// Nothing is enabled until a code from the app is confirmed.
#[utoipa::path(post, operation_id = "set_up_totp", path = "/2fa/totp/setup", security(("Token" = [])),
    request_body = SetupBody,
    responses(
        (status = 200, description = "The secret, its `otpauth://` URI and a QR code (`Cache-Control: no-store`)", body = TotpSetup),
        (status = 400, description = "Wrong password (`password`), or two-factor is on already", body = FieldErrorsSchema),
        Restricted,
        (status = 429, description = "Too many wrong passwords or failed logins for this user (`Retry-After`)", body = Detail),
    ))]
pub async fn set_up(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let password = fields.only_required("password").map(Password::new)?;
    let setup = two_factor::set_up(&services, &principal, password, &source).await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(setup))
}

/// Confirm the set-up with a code from the app: two-factor is on from now.
#[utoipa::path(post, operation_id = "confirm_totp", path = "/2fa/totp/confirm", security(("Token" = [])),
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "On; ten recovery codes, shown this once (`Cache-Control: no-store`)", body = RecoveryCodes),
        (status = 400, description = "Wrong code (`code`), no set-up begun, or on already", body = FieldErrorsSchema),
        Restricted,
        (status = 429, description = "Too many wrong codes or failed logins for this user (`Retry-After`)", body = Detail),
    ))]
pub async fn confirm(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let code = fields.only_required("code")?;
    let recovery_codes = two_factor::confirm(&services, &principal, &code, &source).await?;
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(RecoveryCodes { recovery_codes }))
}

/// Turn two-factor off: the password, then a code from the app or a
/// recovery code.
#[utoipa::path(post, operation_id = "disable_two_factor", path = "/2fa/disable", security(("Token" = [])),
    request_body = DisableBody,
    responses(
        (status = 200, description = "Off; the secret and the recovery codes are forgotten", body = Detail),
        (status = 400, description = "Wrong password (`password`), wrong code (`code`), or two-factor is off", body = FieldErrorsSchema),
        Restricted,
        (status = 429, description = "Too many wrong passwords or codes for this user (`Retry-After`)", body = Detail),
    ))]
pub async fn disable(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let password = fields.required("password", &mut errors).map(Password::new);
    let code = fields.required("code", &mut errors);
    let (password, code) = complete(password.zip(code), errors)?;
    two_factor::disable(&services, &principal, password, &code, &source).await?;
    Ok(HttpResponse::Ok().json(Detail::new(DISABLED)))
}
