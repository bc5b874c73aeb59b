//! The list of users: search and pages.

use super::error::ConsoleError;
use super::layout::{layout, pager, when_or, Chrome};
use super::request::{admin_page, require_admin};
use crate::domain::page::PageRequest;
use crate::domain::Timestamp;
use crate::http::request::QueryParams;
use crate::service::accounts::admin::{self, UserPage, UserView};
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

pub async fn users(
    services: web::Data<Services>,
    session: Session,
    request: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let (admin, csrf) = require_admin(&services, &session).await?;
    let query = QueryParams::parse(request.query_string()).map_err(|_| ConsoleError::NotFound)?;
    let search = query.get("search").unwrap_or("").trim().to_owned();
    let page = PageRequest::parse(query.get("page")).map_err(|_| ConsoleError::NotFound)?;
    let needle = search.clone();
    let found = services
        .db(move |conn| admin::search_users(conn, &needle, page))
        .await
        .map_err(|error| match error {
            Error::InvalidPage => ConsoleError::NotFound,
            other => other.into(),
        })?;
    Ok(admin_page(&admin, &csrf, &session, |chrome, flash| {
        users_page(chrome, &search, &found, flash)
    }))
}

fn users_page(chrome: &Chrome<'_>, search: &str, page: &UserPage, flash: Option<&str>) -> Markup {
    let link = |number: i64| {
        let query =
            serde_urlencoded::to_string([("search", search), ("page", &number.to_string())])
                .unwrap_or_default();
        format!("/console/users?{query}")
    };
    let now = Timestamp::now();
    layout(
        "Users",
        Some(chrome),
        flash,
        html! {
            h1 { "Users" }
            form.search method="get" action="/console/users" role="search" {
                label for="search" { "Username or e-mail contains" }
                input type="search" id="search" name="search" value=(search);
                button type="submit" id="search-button" { "Search" }
            }
            p.count { (page.count) " user" @if page.count != 1 { "s" } }
            @if !page.items.is_empty() {
                table {
                    thead { tr { th { "Username" } th { "E-mail" } th { "Status" } th { "Last login" } } }
                    tbody {
                        @for user in &page.items {
                            (user_row(user, now))
                        }
                    }
                }
            }
            (pager(page.number, page.has_previous, page.has_next, link))
        },
    )
}

fn user_row(user: &UserView, now: Timestamp) -> Markup {
    html! {
        tr {
            td { a href=(format!("/console/users/{}", user.id)) { (user.username) } }
            td { (user.email) }
            td {
                @if !user.is_active { span.badge.off { "inactive" } }
                @else if user.is_admin { span.badge { "admin" } }
                @else if user.is_service { span.badge { "service" } }
                @else { "active" }
            }
            td { (when_or(user.last_login_at, now, "never")) }
        }
    }
}
