//! The admin API: other users' accounts and devices, for users with
//! `is_admin` only (the [`Admin`] extractor). The use cases are in
//! `service::admin`, shared with the console.

use crate::auth::Admin;
use crate::body::Fields;
use crate::domain::email::{is_valid_email, INVALID_EMAIL};
use crate::domain::{Password, Username};
use crate::error::{ApiError, FieldErrors};
use crate::metrics::RevocationCause;
use crate::service::admin::{self, NewUser, PageRequest, UserChanges, UserPage, UserView};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;

pub const BLANK: &str = "This field may not be blank.";

/// A page of users, as Django REST Framework's `PageNumberPagination` gives it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub count: i64,
    /// The absolute URL of the next page, if any.
    pub next: Option<String>,
    /// The absolute URL of the previous page, if any.
    pub previous: Option<String>,
    pub results: Vec<UserView>,
}

/// Users whose username or e-mail contains `search`, a page at a time.
#[utoipa::path(get, operation_id = "admin_list_users", path = "/admin/users", security(("Token" = []), ("ConsoleSession" = [])),
    params(
        ("search" = Option<String>, Query, description = "Part of a username or e-mail, any case"),
        ("page" = Option<String>, Query, description = "Page number from 1, or `last`"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
        (status = 404, description = "Invalid page", body = crate::openapi::Detail),
    ))]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: Admin,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(request.query_string())
        .map_err(|e| ApiError::BadRequest(format!("Query string parse error - {e}")))?;
    let param = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let search = param("search").unwrap_or("").trim().to_owned();
    let page = PageRequest::parse(param("page"))?;
    let found: UserPage = state
        .db(move |conn| admin::search_users(conn, &search, page))
        .await?;
    let link = |page: Option<i64>| page_link(&request, &query, page);
    Ok(HttpResponse::Ok().json(UserList {
        count: found.count,
        next: found.has_next.then(|| link(Some(found.number + 1))),
        // Like DRF, the link to page 1 has no `page` parameter.
        previous: found
            .has_previous
            .then(|| link(Some(found.number - 1).filter(|&n| n > 1))),
        results: found.users,
    }))
}

/// This request's absolute URL with `page` set (or removed), other
/// parameters kept.
fn page_link(request: &HttpRequest, query: &[(String, String)], page: Option<i64>) -> String {
    let info = request.connection_info();
    let mut pairs: Vec<(&str, String)> = query
        .iter()
        .filter(|(key, _)| key != "page")
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect();
    if let Some(page) = page {
        pairs.push(("page", page.to_string()));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let base = format!("{}://{}{}", info.scheme(), info.host(), request.path());
    if query.is_empty() {
        base
    } else {
        format!("{base}?{query}")
    }
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
    if !email.is_empty() && !is_valid_email(email) {
        errors.add("email", INVALID_EMAIL);
    }
}

/// Create a user.
#[utoipa::path(post, operation_id = "admin_create_user", path = "/admin/users", security(("Token" = []), ("ConsoleSession" = [])),
    request_body(content((crate::openapi::CreateUserBody = "application/json"), (crate::openapi::CreateUserBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Invalid fields, or a taken username", body = crate::openapi::FieldErrors),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
    ))]
pub async fn create_user(
    state: web::Data<AppState>,
    _admin: Admin,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let username = fields
        .required("username", &mut errors)
        .and_then(|name| match Username::parse(&name) {
            Ok(username) => Some(username),
            Err(message) => {
                errors.add("username", message);
                None
            }
        });
    let password = fields.required("password", &mut errors).map(Password::new);
    let email = fields.optional("email", &mut errors).unwrap_or_default();
    if let Some(password) = &password {
        let name = username.as_ref().map(Username::as_str).unwrap_or_default();
        check_new_password(password, name, &email, "password", &mut errors);
    }
    check_email(&email, &mut errors);
    let is_admin = fields.boolean("is_admin", &mut errors).unwrap_or(false);
    errors.into_result()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::internal("validated user fields missing"));
    };
    let user = admin::create_user(
        &state,
        NewUser {
            username,
            password,
            email,
            is_admin,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(user))
}

/// One user, with their devices.
#[utoipa::path(get, operation_id = "admin_read_user", path = "/admin/users/{id}", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = crate::service::admin::UserDetail),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
        (status = 404, description = "No such user", body = crate::openapi::Detail),
    ))]
pub async fn read_user(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = state.db(move |conn| admin::user_detail(conn, id)).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Change a user; deactivating or a new password revokes all their tokens.
#[utoipa::path(patch, operation_id = "admin_update_user", path = "/admin/users/{id}", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    request_body(content((crate::openapi::UpdateUserBody = "application/json"), (crate::openapi::UpdateUserBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The user as changed", body = UserView),
        (status = 400, description = "Invalid fields", body = crate::openapi::FieldErrors),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
        (status = 404, description = "No such user", body = crate::openapi::Detail),
    ))]
pub async fn update_user(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // The password rules compare with the user's name and address.
    let current = state
        .db(move |conn| crate::db::users::by_id(conn, id)?.ok_or(ApiError::NotFound))
        .await?;
    let mut errors = FieldErrors::new();
    let email = fields.optional("email", &mut errors);
    if let Some(email) = &email {
        check_email(email, &mut errors);
    }
    let password = fields.optional("password", &mut errors).map(Password::new);
    match &password {
        Some(password) if password.expose().is_empty() => errors.add("password", BLANK),
        Some(password) => {
            let email = email.as_deref().unwrap_or(&current.email);
            check_new_password(password, &current.username, email, "password", &mut errors);
        }
        None => {}
    }
    let changes = UserChanges {
        email,
        is_active: fields.boolean("is_active", &mut errors),
        is_admin: fields.boolean("is_admin", &mut errors),
        password,
    };
    errors.into_result()?;
    let (user, revoked) = admin::update_user(&state, id, changes).await?;
    state.metrics.revoked(RevocationCause::Admin, revoked);
    Ok(HttpResponse::Ok().json(user))
}

/// A user's devices, most recently used first.
#[utoipa::path(get, operation_id = "admin_list_devices", path = "/admin/users/{id}/tokens", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Devices", body = Vec<crate::service::devices::DeviceView>),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
        (status = 404, description = "No such user", body = crate::openapi::Detail),
    ))]
pub async fn list_devices(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let devices = state.db(move |conn| admin::user_devices(conn, id)).await?;
    Ok(HttpResponse::Ok().json(devices))
}

/// Revoke one device of a user.
#[utoipa::path(delete, operation_id = "admin_revoke_device", path = "/admin/users/{id}/tokens/{client}", security(("Token" = []), ("ConsoleSession" = [])),
    params(("id" = i64, Path, description = "The user's id"), ("client" = String, Path, description = "The client name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
        (status = 404, description = "No such user or client", body = crate::openapi::Detail),
    ))]
pub async fn revoke_device(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, client) = path.into_inner();
    state
        .db(move |conn| admin::revoke_device(conn, id, &client))
        .await?;
    state.metrics.revoked(RevocationCause::Admin, 1);
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke every device of a user.
#[utoipa::path(delete, operation_id = "admin_revoke_all_devices", path = "/admin/users/{id}/tokens", security(("Token" = []), ("ConsoleSession" = [])), params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "How many were revoked", body = crate::openapi::Revoked),
        (status = 403, description = "Not an admin", body = crate::openapi::Detail),
        (status = 404, description = "No such user", body = crate::openapi::Detail),
    ))]
pub async fn revoke_all_devices(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let revoked = state
        .db(move |conn| admin::revoke_all_devices(conn, id))
        .await?;
    state.metrics.revoked(RevocationCause::Admin, revoked);
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}
