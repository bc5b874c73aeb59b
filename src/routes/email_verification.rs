//! E-mail verification: confirming an address with the key of its mail,
//! and asking for the mail again.

use super::openapi::{Detail, FieldErrors as FieldErrorsSchema, MalformedAddress};
use super::password::read_address;
use crate::domain::messages::OK;
use crate::http::body::Fields;
use crate::http::request::Source;
use crate::http::ApiError;
use crate::service::accounts::email_verification::{resend, verify};
use crate::service::Services;
use actix_web::{web, HttpResponse};
use utoipa::ToSchema;

/// `POST /register/verify-email`.
// The body's schema in the OpenAPI document, never built: the handler
// reads its one field itself.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VerifyEmailBody {
    /// The key of the verification mail's link.
    #[schema(required = true, min_length = 1, value_type = String)]
    pub key: Option<String>,
}

/// Confirm an e-mail address with the key of its verification mail; a key
/// works once, until `EMAIL_VERIFICATION_TIMEOUT` after it was sent, and
/// only while the address is still the user's.
#[utoipa::path(post, path = "/register/verify-email",
    request_body = VerifyEmailBody,
    responses(
        (status = 200, description = "The address is verified", body = Detail),
        (status = 400, description = "Missing, bad, used or expired key (`{\"key\": [\"Invalid value\"]}`)", body = FieldErrorsSchema),
    ))]
pub async fn verify_email(
    services: web::Data<Services>,
    Source(source): Source,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let key = fields.only_required("key")?;
    verify(&services, &key, &source).await?;
    Ok(HttpResponse::Ok().json(Detail::new(OK)))
}

/// `POST /register/resend-email`.
// The body's schema in the OpenAPI document, never built: the handler
// reads the address as `/password/reset` does.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ResendEmailBody {
    #[schema(required = true, value_type = String)]
    pub email: Option<String>,
}

/// Ask for the verification mail again. Answers at once and alike for every
/// well-formed address, known or not, verified or not, over
/// `EMAIL_VERIFICATION_RESEND_THROTTLE` or not; the mail, if any, is sent
/// in the background.
#[utoipa::path(post, operation_id = "resend_verification_email", path = "/register/resend-email",
    request_body = ResendEmailBody,
    responses(
        (status = 200, description = "The same answer whether or not a mail is sent", body = Detail),
        MalformedAddress,
    ))]
pub async fn resend_email(
    services: web::Data<Services>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let email = read_address(&fields)?;
    resend(&services, email).await?;
    Ok(HttpResponse::Ok().json(Detail::new(OK)))
}
