//! Security events: one's own (`/events`), and everyone's for admins
//! (`/admin/events`), newest first, a page at a time as the admin user list.

use super::openapi::{FieldErrors as FieldErrorsSchema, InvalidPage, NotAdmin};

use crate::domain::event::EventKind;
use crate::domain::page::{Page, PageRequest};
use crate::http::auth::{Admin, Authenticated};
use crate::http::request::QueryParams;
use crate::http::ApiError;
use crate::service::shared::events::{self, EventPage, EventView, Filter};
use crate::service::{Error, Services};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::messages::{NOT_A_USER_ID, UNKNOWN_TYPE};

/// A page of events, as Django REST Framework's `PageNumberPagination` gives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub count: i64,
    /// The absolute URL of the next page, if any.
    pub next: Option<String>,
    /// The absolute URL of the previous page, if any.
    pub previous: Option<String>,
    pub results: Vec<EventView>,
}

/// The caller's own events, newest first.
#[utoipa::path(get, operation_id = "list_own_events", path = "/events", security(("Token" = [])),
    params(("page" = Option<String>, Query, description = "Page number from 1, or `last`")),
    responses(
        (status = 200, description = "A page of the caller's events", body = EventList),
        InvalidPage,
    ))]
pub async fn own_events(
    services: web::Data<Services>,
    Authenticated(principal): Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::parse(request.query_string())?;
    let filter = Filter {
        user_id: Some(principal.user_id),
        ..Filter::default()
    };
    listed(&services, &request, query, filter).await
}

/// Everyone's events, newest first, by user and by type.
#[utoipa::path(get, operation_id = "admin_list_events", path = "/admin/events", security(("Token" = []), ("ConsoleSession" = [])),
    params(
        ("user" = Option<i64>, Query, description = "Only this user's (their id)"),
        ("type" = Option<String>, Query, description = "Only events of this type (`login`, `revoked`, ...)"),
        ("page" = Option<String>, Query, description = "Page number from 1, or `last`"),
    ),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "A `user` that is not an id, or an unknown `type`", body = FieldErrorsSchema),
        NotAdmin,
        InvalidPage,
    ))]
pub async fn all_events(
    services: web::Data<Services>,
    _admin: Admin,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::parse(request.query_string())?;
    let user_id = match query.get("user").filter(|user| !user.is_empty()) {
        None => None,
        Some(user) => Some(
            user.trim()
                .parse::<i64>()
                .map_err(|_| Error::field("user", NOT_A_USER_ID))?,
        ),
    };
    let kind = match query.get("type").filter(|kind| !kind.is_empty()) {
        None => None,
        Some(kind) => {
            Some(EventKind::parse(kind).ok_or_else(|| Error::field("type", UNKNOWN_TYPE))?)
        }
    };
    let filter = Filter {
        user_id,
        kind,
        ..Filter::default()
    };
    listed(&services, &request, query, filter).await
}

async fn listed(
    services: &Services,
    request: &HttpRequest,
    query: QueryParams,
    filter: Filter,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::parse(query.get("page"))?;
    let found: EventPage = services
        .db(move |conn| events::list(conn, filter, page))
        .await?;
    let (next, previous) = page_links(services, request, &query, &found);
    Ok(HttpResponse::Ok().json(EventList {
        count: found.count,
        next,
        previous,
        results: found.items,
    }))
}

/// The absolute links to the next and the previous page of a listing
/// (`/events`, `/admin/events`, `/admin/users`), where they exist: the
/// request's URL with another `page`.
pub(super) fn page_links<T>(
    services: &Services,
    request: &HttpRequest,
    query: &QueryParams,
    page: &Page<T>,
) -> (Option<String>, Option<String>) {
    let trusted = &services.settings.server.trusted_proxies;
    let link = |page: Option<i64>| query.url_with_page(request, trusted, page);
    let number = page.number;
    let next = page.has_next.then(|| link(Some(number + 1)));
    // Like DRF, the link to page 1 has no `page` parameter.
    let previous = page
        .has_previous
        .then(|| link(Some(number - 1).filter(|&n| n > 1)));
    (next, previous)
}
