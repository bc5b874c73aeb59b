//! The admin API: other users' accounts and devices, for users with
//! `is_admin` only (the [`Admin`] extractor). The use cases are in
//! `service::accounts::admin`, shared with the console.

use super::events::page_links;
use super::openapi::{Detail, FieldErrors as FieldErrorsSchema, InvalidPage, NotAdmin};
use crate::domain::account::{AccountFields, AccountInput};
use crate::domain::email::Email;
use crate::domain::page::PageRequest;
use crate::domain::{FieldErrors, Password, Username};
use crate::http::auth::Admin;
use crate::http::body::{complete, Fields, ParseFields};
use crate::http::request::QueryParams;
use crate::http::ApiError;
use crate::service::accounts::admin::{self, NewUser, UserChanges, UserDetail, UserPage, UserView};
use crate::service::tokens::DeviceView;
use crate::service::Services;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::{try_join, LocalBoxFuture};
use futures_util::TryFutureExt;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoResponses, ToSchema};

use crate::domain::messages::BLANK;

/// A page of users, as Django REST Framework's `PageNumberPagination` gives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub count: i64,
    /// The absolute URL of the next page, if any.
    pub next: Option<String>,
    /// The absolute URL of the previous page, if any.
    pub previous: Option<String>,
    pub results: Vec<UserView>,
}

/// How many tokens were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    #[schema(value_type = u64)]
    pub revoked: usize,
}

/// Users whose username or e-mail contains `search`, a page at a time.
#[utoipa::path(get, operation_id = "admin_list_users", path = "/admin/users", security(("Token" = []), ("ConsoleSession" = [])),
    params(
        ("search" = Option<String>, Query, description = "Part of a username or e-mail, any case"),
        ("page" = Option<String>, Query, description = "Page number from 1, or `last`"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "A NUL character, or bytes that are not UTF-8, in a query value (`{\"search\": [\"Null characters are not allowed.\"]}`)", body = FieldErrorsSchema),
        NotAdmin,
        InvalidPage,
    ))]
pub async fn list_users(
    services: web::Data<Services>,
    _admin: Admin,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::parse(request.query_string())?;
    let search = query.get("search").unwrap_or("").trim().to_owned();
    let page = PageRequest::parse(query.get("page"))?;
    let found: UserPage = services
        .db(move |conn| admin::search_users(conn, &search, page))
        .await?;
    let (next, previous) = page_links(&services, &request, &query, &found);
    Ok(HttpResponse::Ok().json(UserList {
        count: found.count,
        next,
        previous,
        results: found.items,
    }))
}

/// Every rule the new password breaks, recorded under `field`.
fn check_new_password(
    password: &Password,
    username: &str,
    email: &str,
    field: &str,
    errors: &mut FieldErrors,
) {
    for problem in password.problems_as_new_password(username, email) {
        errors.add(field, problem);
    }
}

fn check_email(email: &str, errors: &mut FieldErrors) {
    if !email.is_empty() {
        if let Err(message) = Email::parse(email) {
            errors.add("email", message);
        }
    }
}

/// The answer of the operations on one user (`/admin/users/{id}...`) to an
/// id that is no user's.
// Documentation only, never built.
#[derive(IntoResponses)]
#[response(status = 404, description = "No such user")]
#[allow(dead_code)]
pub struct NoSuchUser(Detail);

/// What every operation on one user ([`OnUser`]) refuses: a caller who is
/// not an admin, and an id that is no user's.
// Joined from the two sets, so that their words stay written once; never
// built either.
#[allow(dead_code)]
pub struct OnUserRefusals;

impl IntoResponses for OnUserRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = NotAdmin::responses();
        responses.extend(NoSuchUser::responses());
        responses
    }
}

/// An admin's request about one user (`/admin/users/{id}...`): the admin,
/// as the [`Admin`] extractor checks them, and the user's id in the path.
pub struct OnUser {
    pub admin: Admin,
    pub id: i64,
}

impl FromRequest for OnUser {
    // `Admin` refuses with an `ApiError`, the path with actix's own.
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Both at once, the first refusal winning, as for two arguments.
        let admin = Admin::from_request(request, payload).map_err(actix_web::Error::from);
        let id = web::Path::<i64>::from_request(request, payload);
        Box::pin(async move {
            let (admin, id) = try_join(admin, id).await?;
            Ok(OnUser {
                admin,
                id: id.into_inner(),
            })
        })
    }
}

/// `POST /admin/users`.
// The body's schema in the OpenAPI document, never built: the body is read
// as the use case's `NewUser`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreateUserBody {
    #[schema(required = true, min_length = 1, max_length = 150, value_type = String)]
    pub username: Option<Username>,
    #[schema(required = true, min_length = 8, pattern = "[^0-9]", value_type = String)]
    pub password: Option<Password>,
    #[schema(required = false, value_type = Option<String>)]
    pub email: String,
    #[schema(required = false, default = false, value_type = Option<bool>)]
    pub is_admin: bool,
    /// May introspect other users' keys (`POST /introspect`).
    #[schema(required = false, default = false, value_type = Option<bool>)]
    pub is_service: bool,
}

impl ParseFields for NewUser {
    fn parse_fields(fields: &Fields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let username = fields.required("username", &mut errors);
        let password = fields.required("password", &mut errors).map(Password::new);
        let email = fields.optional("email", &mut errors).unwrap_or_default();
        let account = AccountFields::parse(
            AccountInput {
                username: username.as_deref(),
                password,
                email: &email,
                email_required: false,
            },
            &mut errors,
        );
        let is_admin = fields.boolean("is_admin", &mut errors).unwrap_or(false);
        let is_service = fields.boolean("is_service", &mut errors).unwrap_or(false);
        let user = account.account().map(|account| NewUser {
            account,
            is_admin,
            is_service,
        });
        complete(user, errors)
    }
}

/// Create a user.
#[utoipa::path(post, operation_id = "admin_create_user", path = "/admin/users", security(("Token" = []), ("ConsoleSession" = [])),
    request_body = CreateUserBody,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Invalid fields, or a taken username", body = FieldErrorsSchema),
        NotAdmin,
    ))]
pub async fn create_user(
    services: web::Data<Services>,
    admin: Admin,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let new_user = fields.parse::<NewUser>()?;
    let user = admin::create_user(&services, new_user, &admin.source).await?;
    Ok(HttpResponse::Created().json(user))
}

/// One user, with their devices.
#[utoipa::path(get, operation_id = "admin_read_user", path = "/admin/users/{id}", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserDetail),
        OnUserRefusals,
    ))]
pub async fn read_user(
    services: web::Data<Services>,
    OnUser { id, .. }: OnUser,
) -> Result<HttpResponse, ApiError> {
    let user = services
        .db(move |conn| admin::user_detail(conn, id))
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

/// `PATCH /admin/users/{id}`: only the fields given change. Deactivating,
/// or a new password, revokes every token of the user.
#[derive(ToSchema)]
pub struct UpdateUserBody {
    pub email: Option<String>,
    pub is_active: Option<bool>,
    pub is_admin: Option<bool>,
    pub is_service: Option<bool>,
    #[schema(required = false, min_length = 8, pattern = "[^0-9]", value_type = Option<String>)]
    pub password: Option<Password>,
}

impl UpdateUserBody {
    /// The changes, checked against the user as they are: the password
    /// rules compare with the user's name and (new or current) address.
    fn read(fields: &Fields, current: &UserView, errors: &mut FieldErrors) -> Self {
        let email = fields.optional("email", errors);
        if let Some(email) = &email {
            check_email(email, errors);
        }
        let password = fields.optional("password", errors).map(Password::new);
        match &password {
            Some(password) if password.expose().is_empty() => errors.add("password", BLANK),
            Some(password) => {
                let email = email.as_deref().unwrap_or(&current.email);
                check_new_password(password, &current.username, email, "password", errors);
            }
            None => {}
        }
        UpdateUserBody {
            email,
            is_active: fields.boolean("is_active", errors),
            is_admin: fields.boolean("is_admin", errors),
            is_service: fields.boolean("is_service", errors),
            password,
        }
    }
}

/// Change a user; deactivating or a new password revokes all their tokens.
#[utoipa::path(patch, operation_id = "admin_update_user", path = "/admin/users/{id}", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    request_body = UpdateUserBody,
    responses(
        (status = 200, description = "The user as changed", body = UserView),
        (status = 400, description = "Invalid fields, or a change that would deactivate or demote the admin making it, or the last active admin", body = FieldErrorsSchema),
        OnUserRefusals,
    ))]
pub async fn update_user(
    services: web::Data<Services>,
    OnUser { admin: acting, id }: OnUser,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let current: UserView = services.db(move |conn| admin::user(conn, id)).await?.into();
    let mut errors = FieldErrors::new();
    let body = UpdateUserBody::read(&fields, &current, &mut errors);
    errors.into_result()?;
    let changes = UserChanges {
        email: body.email,
        is_active: body.is_active,
        is_admin: body.is_admin,
        is_service: body.is_service,
        password: body.password,
    };
    let (user, _revoked) = admin::update_user(&services, &acting.source, id, changes).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// A user's devices, most recently used first.
#[utoipa::path(get, operation_id = "admin_list_devices", path = "/admin/users/{id}/tokens", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Devices", body = Vec<DeviceView>),
        OnUserRefusals,
    ))]
pub async fn list_devices(
    services: web::Data<Services>,
    OnUser { id, .. }: OnUser,
) -> Result<HttpResponse, ApiError> {
    let devices = services
        .db(move |conn| admin::user_devices(conn, id))
        .await?;
    Ok(HttpResponse::Ok().json(devices))
}

/// Revoke one device of a user.
#[utoipa::path(delete, operation_id = "admin_revoke_device", path = "/admin/users/{id}/tokens/{client}", security(("Token" = []), ("ConsoleSession" = [])),
    params(("id" = i64, Path, description = "The user's id"), ("client" = String, Path, description = "The client name")),
    responses(
        (status = 204, description = "Revoked"),
        NotAdmin,
        (status = 404, description = "No such user or client", body = Detail),
    ))]
pub async fn revoke_device(
    services: web::Data<Services>,
    acting: Admin,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, client) = path.into_inner();
    admin::revoke_device(&services, &acting.source, id, client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke every device of a user.
#[utoipa::path(delete, operation_id = "admin_revoke_all_devices", path = "/admin/users/{id}/tokens", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "How many were revoked", body = Revoked),
        OnUserRefusals,
    ))]
pub async fn revoke_all_devices(
    services: web::Data<Services>,
    OnUser { admin: acting, id }: OnUser,
) -> Result<HttpResponse, ApiError> {
    let revoked = admin::revoke_all_devices(&services, &acting.source, id).await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}
