//! Approving a device's request (OAuth device grant) from a device that is
//! signed in with an unrestricted key: look at the pending request of a
//! user code, then approve it (narrowing its scopes, with the second factor
//! when on) or deny it. The hosted page `/device` does the same after a
//! password sign-in (`crate::console::device`).

use super::openapi::{Detail, FieldErrors as FieldErrorsSchema, Restricted};
use crate::domain::principal::Principal;
use crate::domain::{FieldErrors, Scopes, Timestamp};
use crate::http::auth::AccountHolder;
use crate::http::body::Fields;
use crate::http::ApiError;
use crate::service::sign_in::device_grant::{decide, pending, Approver, Decision};
use crate::service::Services;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{IntoParams, IntoResponses, ToSchema};

fn approver(principal: &Principal) -> Approver {
    Approver {
        user_id: principal.user_id,
        username: principal.username.clone(),
        two_factor: principal.two_factor,
    }
}

/// The path of the three operations.
// Documentation only: the handlers read the code as a `web::Path<String>`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct UserCodePath {
    /// As the device shows it, `XXXX-XXXX`
    user_code: String,
}

/// What the three operations answer once the user code has been wrong too
/// often: each wrong code counts as a failed sign-in.
#[derive(IntoResponses)]
#[response(
    status = 429,
    description = "Too many failed sign-ins (`LOGIN_THROTTLE`, `Retry-After`)"
)]
#[allow(dead_code)]
pub struct SignInsThrottled(Detail);

/// A pending request, for the person to check before approving it.
#[derive(Serialize, ToSchema)]
pub struct PendingRequest {
    /// The client name the new device will have.
    pub client: String,
    /// The scopes it asked for; `[]` for an unrestricted key.
    pub scopes: Vec<String>,
    /// The address the request came from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// The pending device request of a user code (without regard to case, the
/// dash optional). A code that matches none counts as a failed sign-in.
#[utoipa::path(get, operation_id = "show_device_grant", path = "/oauth/device/{user_code}", security(("Token" = [])),
    params(UserCodePath),
    responses(
        (status = 200, description = "The pending request", body = PendingRequest),
        Restricted,
        (status = 404, description = "No pending request has this code (unknown, expired, approved or denied)", body = Detail),
        SignInsThrottled,
    ))]
pub async fn show(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    user_code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let grant = pending(&services, &approver(&principal), &user_code, &source).await?;
    Ok(HttpResponse::Ok().json(PendingRequest {
        client: grant.client,
        scopes: grant.scopes.into_vec(),
        ip: grant.ip,
        user_agent: grant.user_agent,
        created_at: grant.created_at,
        expires_at: grant.expires_at,
    }))
}

/// `POST /oauth/device/{user_code}/approve`.
// Documentation only: the handler reads `Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApproveBody {
    /// Optional: fewer scopes than the device asked for (never more).
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Vec<String>>,
    /// Required when the approver has two-factor on, as at `/login`.
    pub otp: Option<String>,
}

/// What was approved.
#[derive(Serialize, ToSchema)]
pub struct Approved {
    pub client: String,
    /// `[]` for an unrestricted key.
    pub scopes: Vec<String>,
}

/// Approve a device's request: the device's next poll gets its key.
#[utoipa::path(post, operation_id = "approve_device_grant", path = "/oauth/device/{user_code}/approve", security(("Token" = [])),
    params(UserCodePath),
    request_body = ApproveBody,
    responses(
        (status = 200, description = "Approved", body = Approved),
        (status = 400, description = "Scopes wider than requested (`scopes`), a missing or wrong two-factor code (`otp`)", body = FieldErrorsSchema),
        (status = 403, description = "The key is restricted, or approving would exceed `MAX_CLIENTS_PER_USER` (the request is then denied)", body = Detail),
        (status = 404, description = "No pending request has this code", body = Detail),
        SignInsThrottled,
    ))]
pub async fn approve(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    user_code: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let scopes = fields
        .has("scopes")
        .then(|| fields.scopes("scopes", &mut errors));
    let otp = fields.optional("otp", &mut errors);
    errors.into_result()?;
    let decision = Decision::Approve {
        scopes: scopes.filter(Scopes::is_restricted),
        otp,
    };
    let approver = approver(&principal);
    let (client, scopes) = decide(&services, &approver, &user_code, decision, &source).await?;
    Ok(HttpResponse::Ok().json(Approved {
        client,
        scopes: scopes.into_vec(),
    }))
}

/// The answer of a denial: `{}`.
#[derive(Serialize, ToSchema)]
pub struct Denied {}

/// Deny a device's request: its next poll gets `access_denied`.
#[utoipa::path(post, operation_id = "deny_device_grant", path = "/oauth/device/{user_code}/deny", security(("Token" = [])),
    params(UserCodePath),
    responses(
        (status = 200, description = "Denied", body = Denied),
        Restricted,
        (status = 404, description = "No pending request has this code", body = Detail),
        SignInsThrottled,
    ))]
pub async fn deny(
    services: web::Data<Services>,
    AccountHolder { principal, source }: AccountHolder,
    user_code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let approver = approver(&principal);
    decide(&services, &approver, &user_code, Decision::Deny, &source).await?;
    Ok(HttpResponse::Ok().json(Denied {}))
}
