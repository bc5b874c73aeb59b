//! The console's HTML, written with maud: markup checked at compile time,
//! every interpolated value escaped.

use crate::domain::Timestamp;
use crate::http::session::CSRF_FIELD;
use crate::service::accounts::admin::{UserPage, UserView};
use crate::service::shared::events::EventView;
use crate::service::sign_in::oidc::LinkedIdentity;
use crate::service::tokens::DeviceView;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

pub const STYLESHEET: &str = include_str!("console.css");

pub fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// Who is signed in, for the page header.
pub struct Chrome<'a> {
    pub username: &'a str,
    pub csrf: &'a str,
}

fn layout(title: &str, chrome: Option<&Chrome<'_>>, flash: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(chrome) = chrome {
                    // For scripts that call the admin API with this session.
                    meta name="csrf-token" content=(chrome.csrf);
                }
                title { (title) " · multitoken console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                header {
                    a.brand href="/console/" { "multitoken console" }
                    @if let Some(chrome) = chrome {
                        nav {
                            a href="/console/users" { "Users" }
                            span.who { "Signed in as " strong { (chrome.username) } }
                            form.inline method="post" action="/console/logout" {
                                input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                                button type="submit" id="sign-out" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    @if let Some(flash) = flash {
                        p.flash role="status" { (flash) }
                    }
                    (body)
                }
            }
        }
    }
}

fn time(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    // 2026-11-27T08:10:13.123Z -> 2026-11-27 08:10:13 UTC
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => text,
    }
}

pub fn sign_in(csrf: &str, error: Option<&str>, username: &str) -> Markup {
    layout(
        "Sign in",
        None,
        None,
        html! {
            h1 { "Sign in" }
            p.hint { "For administrators of this multitoken service." }
            @if let Some(error) = error {
                p.error role="alert" id="error" { (error) }
            }
            form.card method="post" action="/console/login" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                label for="username" { "Username" }
                input type="text" id="username" name="username" value=(username)
                    autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input type="password" id="password" name="password"
                    autocomplete="current-password" required;
                label for="otp" { "Two-factor code" }
                input type="text" id="otp" name="otp" inputmode="numeric"
                    autocomplete="one-time-code" aria-describedby="otp-hint";
                p.hint id="otp-hint" {
                    "The code from your authenticator app, or a recovery code; "
                    "leave it empty if you have no two-factor authentication."
                }
                button type="submit" id="sign-in" { "Sign in" }
            }
        },
    )
}

pub fn users(chrome: &Chrome<'_>, search: &str, page: &UserPage, flash: Option<&str>) -> Markup {
    let link = |number: i64| {
        let query =
            serde_urlencoded::to_string([("search", search), ("page", &number.to_string())])
                .unwrap_or_default();
        format!("/console/users?{query}")
    };
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
                            (user_row(user))
                        }
                    }
                }
            }
            nav.pages {
                @if page.has_previous { a rel="prev" href=(link(page.number - 1)) { "← Previous" } }
                @if page.has_next { a rel="next" href=(link(page.number + 1)) { "Next →" } }
            }
        },
    )
}

fn user_row(user: &UserView) -> Markup {
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
            td { @match user.last_login_at { Some(at) => (time(at)), None => "never" } }
        }
    }
}

/// What a user's page shows.
pub struct UserOverview<'a> {
    pub user: &'a UserView,
    pub devices: &'a [DeviceView],
    pub identities: &'a [LinkedIdentity],
    /// The user's newest security events.
    pub events: &'a [EventView],
}

pub fn user(chrome: &Chrome<'_>, page: &UserOverview<'_>, flash: Option<&str>) -> Markup {
    let UserOverview {
        user,
        devices,
        identities,
        events,
    } = *page;
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
                dt { "Created" } dd { (time(user.created_at)) }
                dt { "Last login" } dd { @match user.last_login_at { Some(at) => (time(at)), None => "never" } }
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
                                td { (time(device.created_at)) }
                                td { (time(device.last_used_at)) }
                                td { (time(device.expires_at)) }
                                td.agent { @match &device.user_agent { Some(agent) => (agent), None => "—" } }
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
                            tr { td.provider { (identity.provider) } td.subject { code { (identity.subject) } } td { (time(identity.linked_at)) } }
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
                                td { (time(event.at)) }
                                td.type { (event.kind) }
                                td.client { @match &event.client { Some(client) => code { (client) }, None => "—" } }
                                td.actor { (event.actor) }
                                td.ip { @match &event.ip { Some(ip) => (ip), None => "—" } }
                                td.agent { @match &event.user_agent { Some(agent) => (agent), None => "—" } }
                                td.detail { @match &event.detail { Some(detail) => (detail), None => "—" } }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn error_page(title: &str, message: &str) -> Markup {
    layout(
        title,
        None,
        None,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { a href="/console/" { "Back to the console" } }
        },
    )
}
