//! Signing up.

use super::login::issue_proof;
use super::openapi::{Detail, FieldErrors as FieldErrorsSchema};
use crate::domain::account::{AccountFields, AccountInput};
use crate::domain::{ClientName, FieldErrors, Password, Scopes};
use crate::http::body::{complete, Fields, FromFields};
use crate::http::device_proof;
use crate::http::dpop::sign_in_binding;
use crate::http::request::request_source;
use crate::http::ApiError;
use crate::service::accounts::registration::{self, RegisterRequest};
use crate::service::Services;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// `POST /register`.
#[derive(ToSchema)]
pub struct RegisterBody {
    /// 1-150 letters, digits and `@.+-_`; unique without regard to case.
    #[schema(required = true, min_length = 1, max_length = 150, value_type = String)]
    pub username: Option<String>,
    /// At least 8 characters, not entirely numeric, not a common password.
    #[schema(required = true, min_length = 8, pattern = "[^0-9]", value_type = String)]
    pub password: Option<Password>,
    /// Required when `EMAIL_VERIFICATION=mandatory`; unless that is `none`,
    /// a verification mail goes to it.
    #[schema(required = false, value_type = Option<String>)]
    pub email: String,
    /// When given, the new user is also logged in on this client (not with
    /// `EMAIL_VERIFICATION=mandatory`: then only once verified).
    #[schema(required = false, pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub client: Option<String>,
    /// With `client`: the token's scopes, as `POST /login` takes them.
    #[schema(required = false, value_type = Option<Vec<String>>)]
    pub scopes: Scopes,
}

impl FromFields for RegisterBody {
    fn from_fields(fields: &Fields, errors: &mut FieldErrors) -> Self {
        RegisterBody {
            username: fields.required("username", errors),
            password: fields.required("password", errors).map(Password::new),
            email: fields.optional("email", errors).unwrap_or_default(),
            client: fields
                .optional("client", errors)
                .filter(|client| !client.is_empty()),
            scopes: fields.scopes("scopes", errors),
        }
    }
}

/// The new user, with a token when `client` was given.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// With the token: the device's proof, as `/login` answers it (and sets
    /// its cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_proof: Option<String>,
    /// `DPoP` when the key is bound to the key of the request's DPoP proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// Sign up; with `client`, also log in on it.
#[utoipa::path(post, path = "/register",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The new user (`Cache-Control: no-store`)", body = Registered),
        (status = 400, description = "Invalid or taken username, weak password, invalid e-mail or client", body = FieldErrorsSchema),
        (status = 403, description = "Registration is closed", body = Detail),
        (status = 429, description = "Too many registrations from this address (`REGISTER_THROTTLE`, `Retry-After`)", body = Detail),
    ))]
pub async fn register(
    services: web::Data<Services>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let source = request_source(&request);
    registration::admit(&services, &source).await?;
    let (body, mut errors) = fields.read::<RegisterBody>();
    let account = AccountFields::parse(
        AccountInput {
            username: body.username.as_deref(),
            password: body.password,
            email: &body.email,
            email_required: registration::email_required(&services),
        },
        &mut errors,
    );
    // `Some(None)`: no client named; `None`: a client that is not a name.
    let client = match body.client {
        None => Some(None),
        Some(name) => ClientName::parse(&name)
            .map_err(|message| errors.add("client", message))
            .ok()
            .map(Some),
    };
    registration::check(
        &services,
        account.username.as_ref(),
        &body.scopes,
        &mut errors,
    )
    .await?;
    let scopes = body.scopes;
    // Checked once the fields are: a bad proof is the answer then.
    let dpop_jkt = match errors.is_empty() {
        true => sign_in_binding(&request).await?,
        false => None,
    };
    let register_request = account
        .account()
        .zip(client)
        .map(|(account, client)| RegisterRequest {
            account,
            client,
            scopes,
            source,
            dpop_jkt,
        });
    let registered = registration::register(&services, complete(register_request, errors)?).await?;
    let proof = registered
        .token
        .as_ref()
        .map(|token| issue_proof(&services, token));
    let mut answer = HttpResponse::Created();
    answer.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    if let Some(proof) = &proof {
        answer.cookie(device_proof::cookie(&services, proof.clone()));
    }
    let token_type = registered
        .token
        .as_ref()
        .and_then(|token| token.dpop_bound.then_some("DPoP"));
    Ok(answer.json(Registered {
        id: registered.user.id,
        username: registered.user.username,
        email: registered.user.email,
        auth_token: registered.token.map(|token| token.key.expose().to_owned()),
        device_proof: proof,
        token_type,
    }))
}
