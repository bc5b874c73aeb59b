//! The OpenAPI 3 description served at `/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations listed in `routes::endpoints!`.
//!
//! This module holds what the annotations share: the shapes of bodies that
//! handlers read through [`crate::body::Fields`] or write with `json!`, the
//! error shapes, and [`Conventions`], which adds the `Token` security scheme
//! and the `401` every authenticated operation can answer.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Components, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, PartialSchema, ToSchema};

/// The names of the security schemes in the document.
pub const TOKEN_SCHEME: &str = "Token";
pub const CONSOLE_SESSION_SCHEME: &str = "ConsoleSession";

/// A request-level error or message: `{"detail": "..."}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "Not found."}))]
pub struct Detail {
    pub detail: String,
}

/// Field validation errors: each field with its messages; errors not tied
/// to one field are under `non_field_errors`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"password": ["This password is too short. It must contain at least 8 characters."]}))]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

/// `POST /login` (JSON or form; the credentials may come as Basic instead).
#[derive(Serialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
    /// 1-64 ASCII letters, digits, `.`, `_` or `-`.
    pub client: String,
}

/// A new token; its key exists nowhere else.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Token <key>`.
    pub auth_token: String,
    pub client: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    /// The client of the token making the request.
    pub client: String,
}

/// A logout that revoked several tokens.
#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    pub detail: String,
    pub revoked: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: String,
}

/// `POST /register`.
#[derive(Serialize, ToSchema)]
pub struct RegisterBody {
    /// 1-150 letters, digits and `@.+-_`; unique without regard to case.
    pub username: String,
    pub password: String,
    #[schema(required = false)]
    pub email: Option<String>,
    /// When given, the new user is also logged in on this client.
    #[schema(required = false)]
    pub client: Option<String>,
}

/// The new user, with a token when `client` was given.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[schema(required = false)]
    pub auth_token: Option<String>,
}

/// `POST /password/change`.
#[derive(Serialize, ToSchema)]
pub struct PasswordChangeBody {
    pub old_password: String,
    pub new_password: String,
}

/// `POST /password/reset`.
#[derive(Serialize, ToSchema)]
pub struct PasswordResetBody {
    pub email: String,
}

/// `POST /password/reset/confirm`, with the `uid` and `token` of the mail.
#[derive(Serialize, ToSchema)]
pub struct PasswordResetConfirmBody {
    pub uid: String,
    pub token: String,
    pub new_password: String,
}

/// `POST /admin/users`.
#[derive(Serialize, ToSchema)]
pub struct CreateUserBody {
    pub username: String,
    pub password: String,
    #[schema(required = false)]
    pub email: Option<String>,
    #[schema(required = false, default = false)]
    pub is_admin: Option<bool>,
}

/// `PATCH /admin/users/{id}`: only the fields given change. Deactivating,
/// or a new password, revokes every token of the user.
#[derive(Serialize, ToSchema)]
pub struct UpdateUserBody {
    #[schema(required = false)]
    pub email: Option<String>,
    #[schema(required = false)]
    pub is_active: Option<bool>,
    #[schema(required = false)]
    pub is_admin: Option<bool>,
    #[schema(required = false)]
    pub password: Option<String>,
}

/// Adds what every operation shares: the `Token` scheme, the error
/// schemas, and a `401` on each operation that needs a token.
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>` (the keyword in any case), or `Bearer <key>`.",
            ))),
        );
        components.add_security_scheme(
            CONSOLE_SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::console::COOKIE_NAME,
                "An admin's console session (sign in at /console/). Unsafe methods must also \
                 send the session's CSRF token (the console pages' `<meta name=\"csrf-token\">`) \
                 in `X-CSRF-Token`.",
            ))),
        );
        components
            .schemas
            .insert(<Detail as ToSchema>::name().into_owned(), Detail::schema());
        components.schemas.insert(
            <FieldErrors as ToSchema>::name().into_owned(),
            FieldErrors::schema(),
        );
        let unauthorized: RefOr<Response> = ResponseBuilder::new()
            .description(
                "No valid token (see the contract's table of messages); \
                 `WWW-Authenticate: Token`.",
            )
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Detail")))
                    .build(),
            )
            .build()
            .into();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                if secured {
                    operation
                        .responses
                        .responses
                        .entry("401".into())
                        .or_insert_with(|| unauthorized.clone());
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
