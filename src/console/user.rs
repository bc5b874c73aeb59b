//! One user's page (details, devices, linked identities, events) and what
//! an admin does to that user.

use super::error::ConsoleError;
use super::layout::{exact, layout, shortened, when, when_or, Chrome};
use super::request::{admin_page, check_csrf, form_text, require_admin, see_other, user_id};
use crate::domain::event::{Actor, EventSource};
use crate::domain::ClientName;
use crate::domain::Timestamp;
use crate::http::body::Fields;
use crate::http::request::request_source;
use crate::http::session::{self as console_session, CSRF_FIELD};
use crate::service::accounts::admin::{self, UserView};
use crate::service::shared::events::{self, EventView};
use crate::service::sign_in::oidc::{self, LinkedIdentity};
use crate::service::tokens::DeviceView;
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

/// How many of a user's newest events their page lists.
const EVENTS_SHOWN: i64 = 50;

pub async fn user(
    services: web::Data<Services>,
    session: Session,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (admin, csrf) = require_admin(&services, &session).await?;
    let id = user_id(&id)?;
    let (detail, identities, events) = services
        .db(move |conn| {
            let filter = events::Filter {
                user_id: Some(id),
                ..events::Filter::default()
            };
            Ok((
                admin::user_detail(conn, id)?,
                oidc::identities_of(conn, id)?,
                events::newest(conn, filter, EVENTS_SHOWN)?,
            ))
        })
        .await?;
    let overview = UserOverview {
        user: &detail.user,
        devices: &detail.tokens,
        identities: &identities,
        events: &events,
    };
    Ok(admin_page(&admin, &csrf, &session, |chrome, flash| {
        user_page(chrome, &overview, flash)
    }))
}

/// The user a form post acts on, and who acts (for the events it records).
struct UserAction {
    source: EventSource,
    id: i64,
    username: String,
}

/// What every post about one user checks first, in this order: its CSRF
/// token, that the session is an admin's, that the user exists.
async fn user_action(
    services: &Services,
    session: &Session,
    request: &HttpRequest,
    raw_id: &str,
    fields: &Fields,
) -> Result<UserAction, ConsoleError> {
    check_csrf(session, fields)?;
    let (admin, _) = require_admin(services, session).await?;
    let source = request_source(request).by(Actor::Admin(admin.user_id));
    let id = user_id(raw_id)?;
    let user = services.db(move |conn| admin::user(conn, id)).await?;
    Ok(UserAction {
        source,
        id,
        username: user.username,
    })
}

pub async fn revoke(
    services: web::Data<Services>,
    session: Session,
    request: HttpRequest,
    id: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let target = user_action(&services, &session, &request, &id, &fields).await?;
    let client = form_text(&fields, "client");
    // A name no device can have is no device of this user's, as for
    // `DELETE /tokens/{client}`; it is not repeated in the flash message,
    // which a long one would push past the cookie's size.
    if ClientName::parse(&client).is_err() {
        return Err(ConsoleError::NotFound);
    }
    let (id, username) = (target.id, &target.username);
    let message = match admin::revoke_device(&services, &target.source, id, client.clone()).await {
        Ok(()) => format!("Revoked the {client} device of {username}."),
        Err(Error::NotFound) => format!("{username} has no device {client}."),
        Err(other) => return Err(other.into()),
    };
    console_session::set_flash(&session, &message)?;
    Ok(see_other(&format!("/console/users/{id}")))
}

pub async fn revoke_all(
    services: web::Data<Services>,
    session: Session,
    request: HttpRequest,
    id: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let target = user_action(&services, &session, &request, &id, &fields).await?;
    let id = target.id;
    let revoked = admin::revoke_all_devices(&services, &target.source, id).await?;
    let devices = if revoked == 1 { "device" } else { "devices" };
    console_session::set_flash(
        &session,
        &format!("Revoked {revoked} {devices} of {}.", target.username),
    )?;
    Ok(see_other(&format!("/console/users/{id}")))
}

/// What a user's page shows.
struct UserOverview<'a> {
    user: &'a UserView,
    devices: &'a [DeviceView],
    identities: &'a [LinkedIdentity],
    /// The user's newest security events.
    events: &'a [EventView],
}

fn user_page(chrome: &Chrome<'_>, page: &UserOverview<'_>, flash: Option<&str>) -> Markup {
    let UserOverview {
        user,
        devices,
        identities,
        events,
    } = *page;
    let now = Timestamp::now();
    let revoke_action = format!("/console/users/{}/revoke", user.id);
    let revoke_all_action = format!("/console/users/{}/revoke-all", user.id);
    layout(
        &user.username,
        Some(chrome),
        flash,
        html! {
            p.back { a href="/console/users" { "← All users" } }
            h1 { (user.username) }
            dl.facts {
                dt { "E-mail" } dd { @if user.email.is_empty() { "—" } @else { (user.email) } }
                dt { "E-mail verified" } dd #email-verified { @if user.email_verified { "yes" } @else if user.email.is_empty() { "—" } @else { "no" } }
                dt { "Status" } dd { @if user.is_active { "active" } @else { "inactive" } @if user.is_admin { ", admin" } @if user.is_service { ", service" } }
                dt { "Created" } dd { (when(user.created_at, now)) }
                dt { "Last login" } dd { (when_or(user.last_login_at, now, "never")) }
            }
            h2 { "Devices" }
            @if devices.is_empty() {
                p.empty { "No devices: this user holds no live token." }
            } @else {
                table.devices {
                    thead { tr {
                        th { "Client" } th { "Created" } th { "Last used" } th { "Expires" } th { "User agent" } th { "Last address" } th { "Scopes" } th { "Signed in via" } th {}
                    } }
                    tbody {
                        @for device in devices {
                            tr data-client=(device.client) {
                                td.client { code { (device.client) } }
                                td { (when(device.created_at, now)) }
                                td { (when(device.last_used_at, now)) }
                                td { (when(device.expires_at, now)) }
                                td.agent { (shortened(device.user_agent.as_deref())) }
                                td.ip { @match &device.last_ip { Some(ip) => (ip), None => "—" } }
                                td.scopes { @if device.scopes.is_empty() { "unrestricted" } @else { @for scope in &device.scopes { code { (scope) } " " } } }
                                td.via { (device.via) }
                                td {
                                    form.inline method="post" action=(revoke_action) {
                                        input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                                        input type="hidden" name="client" value=(device.client);
                                        button.danger type="submit" id=(format!("revoke-{}", device.client)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
                form method="post" action=(revoke_all_action) {
                    input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                    button.danger type="submit" id="revoke-all" { "Revoke all devices" }
                }
            }
            h2 { "Linked identities" }
            @if identities.is_empty() {
                p.empty { "No linked identities: this user has not signed in with a provider." }
            } @else {
                table.identities {
                    thead { tr { th { "Provider" } th { "Subject" } th { "Linked at" } } }
                    tbody {
                        @for identity in identities {
                            tr { td.provider { (identity.provider) } td.subject { code { (identity.subject) } } td { (when(identity.linked_at, now)) } }
                        }
                    }
                }
            }
            h2 { "Security events" }
            @if events.is_empty() {
                p.empty { "No events recorded for this user." }
            } @else {
                table.events {
                    thead { tr { th { "At" } th { "Event" } th { "Client" } th { "By" } th { "Address" } th { "User agent" } th { "How" } } }
                    tbody {
                        @for event in events {
                            tr data-type=(event.kind) {
                                td title=(exact(event.at)) { (when(event.at, now)) }
                                td.type { (event.kind) }
                                td.client { @match &event.client { Some(client) => code { (client) }, None => "—" } }
                                td.actor { (event.actor) }
                                td.ip { @match &event.ip { Some(ip) => (ip), None => "—" } }
                                td.agent { (shortened(event.user_agent.as_deref())) }
                                td.detail { @match &event.detail { Some(detail) => (detail), None => "—" } }
                            }
                        }
                    }
                }
            }
        },
    )
}
