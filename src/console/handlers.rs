//! The console's pages and form posts. Every post checks its CSRF token
//! first, then that the session is an admin's, then calls `service::accounts::admin`.

use super::error::ConsoleError;
use super::pages::{self, Chrome};
use crate::domain::event::{Actor, EventSource};
use crate::domain::messages::{EMAIL_NOT_VERIFIED, INVALID_CODE};
use crate::domain::page::PageRequest;
use crate::domain::throttle::throttled_detail;
use crate::domain::ClientName;
use crate::domain::Password;
use crate::http::body::Fields;
use crate::http::request::{request_source, QueryParams};
use crate::http::session::{self as console_session, SignedIn, CSRF_FIELD};
use crate::service::accounts::admin;
use crate::service::shared::events;
use crate::service::sign_in::login::console_sign_in;
use crate::service::sign_in::oidc;
use crate::service::{Error, Services};
use actix_session::Session;
use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

pub const BAD_CREDENTIALS: &str = "Unable to sign in with this username and password.";
pub const NOT_AN_ADMIN: &str = "This console is for administrators only.";
pub const MISSING_CREDENTIALS: &str = "Enter a username and a password.";
pub const CODE_NEEDED: &str = "Enter the code from your authenticator app (or a recovery code).";

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// The signed-in admin and the session's CSRF token, or a redirect to the
/// sign-in page.
async fn require_admin(
    services: &Services,
    session: &Session,
) -> Result<(SignedIn, String), ConsoleError> {
    let admin = console_session::signed_in(services, session)
        .await?
        .ok_or(ConsoleError::SignIn)?;
    let csrf = console_session::csrf_token(session)?;
    Ok((admin, csrf))
}

/// A form field's text; a field that is absent or not text (not UTF-8, or
/// with a NUL) reads as left blank.
fn form_text(fields: &Fields, name: &str) -> String {
    fields.text(name).ok().flatten().unwrap_or("").to_owned()
}

/// A page of the signed-in admin's, `render`ed with its chrome (who is
/// signed in, the CSRF token of its forms) and the session's flash
/// message, which is taken: it shows once.
fn admin_page(
    admin: &SignedIn,
    csrf: &str,
    session: &Session,
    render: impl FnOnce(&Chrome<'_>, Option<&str>) -> Markup,
) -> HttpResponse {
    let chrome = Chrome {
        username: &admin.username,
        csrf,
    };
    let flash = console_session::take_flash(session);
    pages::html(StatusCode::OK, render(&chrome, flash.as_deref()))
}

/// Refuses a form whose CSRF token is missing or not this session's.
fn check_csrf(session: &Session, fields: &Fields) -> Result<(), ConsoleError> {
    let presented = fields.text(CSRF_FIELD).ok().flatten();
    if console_session::csrf_matches(session, presented) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
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

fn user_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse().map_err(|_| ConsoleError::NotFound)
}

pub async fn home(
    services: web::Data<Services>,
    session: Session,
) -> Result<HttpResponse, ConsoleError> {
    match console_session::signed_in(&services, &session).await? {
        Some(_) => Ok(see_other("/console/users")),
        None => Ok(see_other("/console/login")),
    }
}

pub async fn sign_in_page(
    services: web::Data<Services>,
    session: Session,
) -> Result<HttpResponse, ConsoleError> {
    if console_session::signed_in(&services, &session)
        .await?
        .is_some()
    {
        return Ok(see_other("/console/users"));
    }
    let csrf = console_session::csrf_token(&session)?;
    Ok(pages::html(StatusCode::OK, pages::sign_in(&csrf, None, "")))
}

/// Signs an admin in with the same password check as `POST /login`. A
/// wrong password or a non-admin gets the form again with a message, and
/// the session stays signed out.
pub async fn sign_in(
    services: web::Data<Services>,
    request: HttpRequest,
    session: Session,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    check_csrf(&session, &fields)?;
    let username = form_text(&fields, "username");
    let password = form_text(&fields, "password");
    let refuse = |status: StatusCode, message: &str| -> Result<HttpResponse, ConsoleError> {
        let csrf = console_session::csrf_token(&session)?;
        Ok(pages::html(
            status,
            pages::sign_in(&csrf, Some(message), &username),
        ))
    };
    let otp = fields
        .text("otp")
        .ok()
        .flatten()
        .map(str::trim)
        .filter(|otp| !otp.is_empty())
        .map(str::to_owned);
    if username.is_empty() || password.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, MISSING_CREDENTIALS);
    }
    // The same check, throttle and counts as `POST /login`.
    let source = request_source(&request);
    let signed_in =
        console_sign_in(&services, &username, Password::new(password), otp, &source).await;
    let admin = match signed_in {
        Ok(admin) => admin,
        Err(Error::BadCredentials) => return refuse(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS),
        Err(Error::PermissionDenied) => return refuse(StatusCode::FORBIDDEN, NOT_AN_ADMIN),
        Err(Error::Forbidden(message)) => return refuse(StatusCode::FORBIDDEN, message),
        Err(Error::WrongCode { .. }) => {
            return refuse(StatusCode::UNAUTHORIZED, INVALID_CODE);
        }
        Err(Error::Invalid(errors)) if errors.contains("otp") => {
            return refuse(StatusCode::UNAUTHORIZED, CODE_NEEDED);
        }
        // EMAIL_VERIFICATION=mandatory, after the password was checked.
        Err(Error::Invalid(_)) => return refuse(StatusCode::BAD_REQUEST, EMAIL_NOT_VERIFIED),
        Err(Error::Throttled(seconds)) => {
            return refuse(StatusCode::TOO_MANY_REQUESTS, &throttled_detail(seconds));
        }
        Err(error) => return Err(error.into()),
    };
    console_session::sign_in(&services, &session, admin.user_id).await?;
    Ok(see_other("/console/users"))
}

pub async fn sign_out(
    services: web::Data<Services>,
    session: Session,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    check_csrf(&session, &fields)?;
    console_session::sign_out(&services, &session).await?;
    Ok(see_other("/console/login"))
}

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
        pages::users(chrome, &search, &found, flash)
    }))
}

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
                kind: None,
            };
            Ok((
                admin::user_detail(conn, id)?,
                oidc::identities_of(conn, id)?,
                events::newest(conn, filter, EVENTS_SHOWN)?,
            ))
        })
        .await?;
    let overview = pages::UserOverview {
        user: &detail.user,
        devices: &detail.tokens,
        identities: &identities,
        events: &events,
    };
    Ok(admin_page(&admin, &csrf, &session, |chrome, flash| {
        pages::user(chrome, &overview, flash)
    }))
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

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(pages::STYLESHEET)
}

pub async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound)
}
