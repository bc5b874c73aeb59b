//! The admin API: other users' accounts and devices, for users with
//! `is_admin` only (the [`Admin`] extractor). The use cases are in
//! `service::admin`, shared with the console.

use crate::auth::Admin;
use crate::body::Fields;
use crate::domain::email::{is_valid_email, INVALID_EMAIL};
use crate::domain::{Password, Username};
use crate::error::{ApiError, FieldErrors};
use crate::service::admin::{self, NewUser, PageRequest, UserChanges, UserPage, UserView};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;

pub const BLANK: &str = "This field may not be blank.";

/// A page of users, as Django REST Framework's `PageNumberPagination` gives it.
#[derive(Debug, Serialize)]
pub struct UserList {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<UserView>,
}

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
fn check_new_password(password: &Password, field: &str, errors: &mut FieldErrors) {
    for problem in password.problems_as_new_password() {
        errors.add(field, problem);
    }
}

fn check_email(email: &str, errors: &mut FieldErrors) {
    if !email.is_empty() && !is_valid_email(email) {
        errors.add("email", INVALID_EMAIL);
    }
}

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
    if let Some(password) = &password {
        check_new_password(password, "password", &mut errors);
    }
    let email = fields.optional("email", &mut errors).unwrap_or_default();
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

pub async fn read_user(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = state.db(move |conn| admin::user_detail(conn, id)).await?;
    Ok(HttpResponse::Ok().json(user))
}

pub async fn update_user(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let email = fields.optional("email", &mut errors);
    if let Some(email) = &email {
        check_email(email, &mut errors);
    }
    let password = fields.optional("password", &mut errors).map(Password::new);
    match &password {
        Some(password) if password.expose().is_empty() => errors.add("password", BLANK),
        Some(password) => check_new_password(password, "password", &mut errors),
        None => {}
    }
    let changes = UserChanges {
        email,
        is_active: fields.boolean("is_active", &mut errors),
        is_admin: fields.boolean("is_admin", &mut errors),
        password,
    };
    errors.into_result()?;
    let (user, _revoked) = admin::update_user(&state, id.into_inner(), changes).await?;
    Ok(HttpResponse::Ok().json(user))
}

pub async fn list_devices(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let devices = state.db(move |conn| admin::user_devices(conn, id)).await?;
    Ok(HttpResponse::Ok().json(devices))
}

pub async fn revoke_device(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, client) = path.into_inner();
    state
        .db(move |conn| admin::revoke_device(conn, id, &client))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn revoke_all_devices(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let revoked = state
        .db(move |conn| admin::revoke_all_devices(conn, id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}
