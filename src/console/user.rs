//! One user's page: details, devices, linked identities, events, and the
//! links to what an admin can do to them (`user_actions`).

use super::error::ConsoleError;
use super::layout::{layout, shortened, when, when_or, Chrome};
use super::request::{user_id, AdminPage};
use crate::domain::Timestamp;
use crate::service::accounts::admin::{self, UserView};
use crate::service::shared::events::{self, EventView};
use crate::service::sign_in::oidc::{self, LinkedIdentity};
use crate::service::tokens::DeviceView;
use crate::service::Services;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

/// How many of a user's newest events their page lists.
const EVENTS_SHOWN: i64 = 50;

pub async fn user(
    services: web::Data<Services>,
    signed_in: AdminPage,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
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
    Ok(signed_in.render(|chrome, flash| user_page(chrome, &overview, flash)))
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
    let action = |name: &str| format!("/console/users/{}/{name}", user.id);
    let revoke_link = |client: &str| {
        let query = serde_urlencoded::to_string([("client", client)]).unwrap_or_default();
        format!("{}?{query}", action("revoke"))
    };
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
                dt { "Status" } dd #status { @if user.is_active { "active" } @else { "inactive" } @if user.is_admin { ", admin" } @if user.is_service { ", service" } }
                dt { "Two-factor" } dd #two-factor { @if user.two_factor { "on" } @else { "off" } }
                dt { "Created" } dd { (when(user.created_at, now)) }
                dt { "Last sign-in" } dd { (when_or(user.last_login_at, now, "never")) }
            }
            section #actions aria-labelledby="actions-heading" {
                h2 #actions-heading { "Actions" }
                p.hint { "Each asks for confirmation first." }
                div.actions {
                    @if user.is_active {
                        a.button.danger #deactivate href=(action("deactivate")) { "Deactivate" }
                    } @else {
                        a.button #reactivate href=(action("reactivate")) { "Reactivate" }
                    }
                    @if user.is_admin {
                        a.button.danger #remove-admin href=(action("remove-admin")) { "Remove admin rights" }
                    } @else {
                        a.button #make-admin href=(action("make-admin")) { "Make admin" }
                    }
                    @if !user.email.is_empty() {
                        a.button #send-reset href=(action("send-reset")) { "Send a password-reset mail" }
                    }
                    @if user.two_factor && user.username != chrome.username {
                        a.button.danger #disable-2fa href=(action("disable-2fa")) { "Turn two-factor off" }
                    }
                    @if !devices.is_empty() {
                        a.button.danger #revoke-all href=(action("revoke-all")) { "Revoke all devices" }
                    }
                }
            }
            h2 { "Devices" }
            @if devices.is_empty() {
                p.empty { "No devices: this user holds no live token." }
            } @else {
                table.devices.reflow {
                    thead { tr {
                        th { "Client" } th { "Created" } th { "Last used" } th { "Expires" } th { "User agent" } th { "Last address" } th { "Scopes" } th { "Signed in via" } th { span.visually-hidden { "Action" } }
                    } }
                    tbody {
                        @for device in devices {
                            tr data-client=(device.client) {
                                td.client data-label="Client" { code { (device.client) } }
                                td data-label="Created" { (when(device.created_at, now)) }
                                td data-label="Last used" { (when(device.last_used_at, now)) }
                                td data-label="Expires" { (when(device.expires_at, now)) }
                                td.agent data-label="User agent" { (shortened(device.user_agent.as_deref())) }
                                td.ip data-label="Last address" { @match &device.last_ip { Some(ip) => (ip), None => "—" } }
                                td.scopes data-label="Scopes" { @if device.scopes.is_empty() { "unrestricted" } @else { @for scope in &device.scopes { code { (scope) } " " } } }
                                td.via data-label="Signed in via" { (device.via) }
                                td.revoke {
                                    a.button.danger id=(format!("revoke-{}", device.client)) href=(revoke_link(&device.client)) { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Linked identities" }
            @if identities.is_empty() {
                p.empty { "No linked identities: this user has not signed in with a provider." }
            } @else {
                table.identities.reflow {
                    thead { tr { th { "Provider" } th { "Subject" } th { "Linked at" } } }
                    tbody {
                        @for identity in identities {
                            tr {
                                td.provider data-label="Provider" { (identity.provider) }
                                td.subject data-label="Subject" { code { (identity.subject) } }
                                td data-label="Linked at" { (when(identity.linked_at, now)) }
                            }
                        }
                    }
                }
            }
            h2 { "Security events" }
            @if events.is_empty() {
                p.empty { "No events recorded for this user." }
            } @else {
                table.events.reflow {
                    thead { tr { th { "At" } th { "Event" } th { "Client" } th { "By" } th { "Address" } th { "User agent" } th { "How" } } }
                    tbody {
                        @for event in events {
                            tr data-type=(event.kind) {
                                td data-label="At" { (when(event.at, now)) }
                                td.type data-label="Event" { (event.kind) }
                                td.client data-label="Client" { @match &event.client { Some(client) => code { (client) }, None => "—" } }
                                td.actor data-label="By" { (event.actor) }
                                td.ip data-label="Address" { @match &event.ip { Some(ip) => (ip), None => "—" } }
                                td.agent data-label="User agent" { (shortened(event.user_agent.as_deref())) }
                                td.detail data-label="How" { @match &event.detail { Some(detail) => (detail), None => "—" } }
                            }
                        }
                    }
                }
            }
        },
    )
}
