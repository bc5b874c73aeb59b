//! The list of users (search and pages) and creating a user.

use super::error::ConsoleError;
use super::layout::{self, layout, pager, when_or, Chrome};
use super::request::{require_admin, see_other, AdminPage, PostedForm};
use crate::domain::event::Actor;
use crate::domain::page::PageRequest;
use crate::domain::{FieldErrors, Timestamp};
use crate::http::request::{request_source, QueryParams};
use crate::http::session::{self as console_session, SignedIn, CSRF_FIELD};
use crate::service::accounts::admin::{self, NewUser, UserPage, UserView};
use crate::service::tokens;
use crate::service::{Error, Services};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use std::collections::HashMap;

pub async fn users(
    services: web::Data<Services>,
    signed_in: AdminPage,
    request: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let query = QueryParams::parse(request.query_string()).map_err(|_| ConsoleError::NotFound)?;
    let search = query.get("search").unwrap_or("").trim().to_owned();
    let page = PageRequest::parse(query.get("page")).map_err(|_| ConsoleError::NotFound)?;
    let needle = search.clone();
    let (found, devices) = services
        .db(move |conn| {
            let found = admin::search_users(conn, &needle, page)?;
            let ids: Vec<i64> = found.items.iter().map(|user| user.id).collect();
            let devices = tokens::live_by_user(conn, &ids)?;
            Ok((found, devices))
        })
        .await?;
    Ok(signed_in.render(|chrome, flash| users_page(chrome, &search, &found, &devices, flash)))
}

fn users_page(
    chrome: &Chrome<'_>,
    search: &str,
    page: &UserPage,
    devices: &HashMap<i64, i64>,
    flash: Option<&str>,
) -> Markup {
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
            div.heading {
                h1 { "Users" }
                a.button #new-user href="/console/users/new" { "Create a user" }
            }
            form.search method="get" action="/console/users" role="search" {
                label for="search" { "Username or e-mail contains" }
                input type="search" id="search" name="search" value=(search);
                button type="submit" id="search-button" { "Search" }
            }
            p.count { (page.count) " user" @if page.count != 1 { "s" } }
            @if !page.items.is_empty() {
                table.users.reflow {
                    thead { tr {
                        th { "Username" } th { "E-mail" } th { "Status" } th { "Role" }
                        th { "Two-factor" } th { "Devices" } th { "Last sign-in" }
                    } }
                    tbody {
                        @for user in &page.items {
                            (user_row(user, devices.get(&user.id).copied().unwrap_or(0), now))
                        }
                    }
                }
            }
            (pager(page.number, page.has_previous, page.has_next, link))
        },
    )
}

/// "admin", "service", both, or a dash: what the user may do besides
/// managing their own devices.
fn role(user: &UserView) -> &'static str {
    match (user.is_admin, user.is_service) {
        (true, true) => "admin, service",
        (true, false) => "admin",
        (false, true) => "service",
        (false, false) => "—",
    }
}

fn user_row(user: &UserView, devices: i64, now: Timestamp) -> Markup {
    html! {
        tr data-user=(user.id) {
            td.username data-label="Username" { a href=(format!("/console/users/{}", user.id)) { (user.username) } }
            td.email data-label="E-mail" { @if user.email.is_empty() { "—" } @else { span.short title=(user.email) { (user.email) } } }
            td.status data-label="Status" {
                @if user.is_active { "active" } @else { span.badge.off { "inactive" } }
            }
            td.role data-label="Role" {
                @if user.is_admin || user.is_service { span.badge { (role(user)) } } @else { (role(user)) }
            }
            td.two-factor data-label="Two-factor" { @if user.two_factor { "on" } @else { "off" } }
            td.devices data-label="Devices" { (devices) }
            td.last-sign-in data-label="Last sign-in" { (when_or(user.last_login_at, now, "never")) }
        }
    }
}

/// What the create form shows again after a refusal: what was typed (never
/// the password) and each field's problems.
#[derive(Default)]
struct CreateForm {
    username: String,
    email: String,
    is_admin: bool,
    is_service: bool,
    errors: FieldErrors,
}

pub async fn new_user_page(signed_in: AdminPage) -> HttpResponse {
    signed_in.render(|chrome, flash| create_page(chrome, &CreateForm::default(), flash))
}

/// Creates the user through the admin API's use case, the form read as the
/// API reads its body (`NewUser`), with the same `user_created` event.
pub async fn create_user(
    services: web::Data<Services>,
    request: HttpRequest,
    posted: PostedForm,
) -> Result<HttpResponse, ConsoleError> {
    let (admin, csrf) = require_admin(&services, &posted.session).await?;
    // An unticked checkbox is not sent at all; a bad value is in the errors.
    let ticked = |name: &str| {
        posted
            .fields
            .boolean(name, &mut FieldErrors::new())
            .unwrap_or(false)
    };
    let mut form = CreateForm {
        username: posted.text("username"),
        email: posted.text("email"),
        is_admin: ticked("is_admin"),
        is_service: ticked("is_service"),
        errors: FieldErrors::new(),
    };
    let source = request_source(&request).by(Actor::Admin(admin.user_id));
    // Read as `POST /admin/users` reads its body.
    let created = match posted.fields.parse::<NewUser>() {
        Ok(new) => admin::create_user(&services, new, &source).await,
        Err(errors) => Err(Error::Invalid(errors)),
    };
    match created {
        Ok(user) => {
            console_session::set_flash(
                &posted.session,
                &format!("Created user {}.", user.username),
            )?;
            Ok(see_other(&format!("/console/users/{}", user.id)))
        }
        Err(Error::Invalid(errors)) => {
            form.errors = errors;
            Ok(refused_page(&admin, &csrf, &form))
        }
        Err(other) => Err(other.into()),
    }
}

fn refused_page(admin: &SignedIn, csrf: &str, form: &CreateForm) -> HttpResponse {
    let chrome = Chrome::of(admin, csrf);
    layout::html(StatusCode::BAD_REQUEST, create_page(&chrome, form, None))
}

/// A field's problems, each in its own paragraph tied to the field.
fn field_errors(errors: &FieldErrors, field: &str) -> Markup {
    html! {
        @for message in errors.messages(field) {
            p.field-error id=(format!("{field}-error")) { (message) }
        }
    }
}

fn create_page(chrome: &Chrome<'_>, form: &CreateForm, flash: Option<&str>) -> Markup {
    let errors = &form.errors;
    let described =
        |field: &str| (!errors.messages(field).is_empty()).then(|| format!("{field}-error"));
    layout(
        "Create a user",
        Some(chrome),
        flash,
        html! {
            p.back { a href="/console/users" { "← All users" } }
            h1 { "Create a user" }
            @if !errors.is_empty() {
                p.error role="alert" { "The user was not created: see below." }
            }
            // The server's messages are the contract's: no browser check first.
            form.card.create method="post" action="/console/users/new" novalidate {
                input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                label for="username" { "Username" }
                input type="text" id="username" name="username" value=(form.username)
                    required autocomplete="off" aria-describedby=[described("username")];
                (field_errors(errors, "username"))
                label for="email" { "E-mail (optional)" }
                input type="email" id="email" name="email" value=(form.email)
                    autocomplete="off" aria-describedby=[described("email")];
                (field_errors(errors, "email"))
                label for="password" { "Password" }
                input type="password" id="password" name="password" required
                    autocomplete="new-password" aria-describedby=[described("password")];
                (field_errors(errors, "password"))
                div.check {
                    input type="checkbox" id="is_admin" name="is_admin" value="true" checked[form.is_admin];
                    label for="is_admin" { "Admin: may use this console and the admin API" }
                }
                (field_errors(errors, "is_admin"))
                div.check {
                    input type="checkbox" id="is_service" name="is_service" value="true" checked[form.is_service];
                    label for="is_service" { "Service: may introspect other users' keys" }
                }
                (field_errors(errors, "is_service"))
                button type="submit" id="create" { "Confirm: create user" }
            }
        },
    )
}
