//! The ops console at `/console/`: server-rendered pages (maud) where an
//! admin signs in with a password, sees what is happening, runs the users
//! and revokes their devices. No business rules live here: signing in goes
//! through the same credential check and throttle as `POST /login`
//! (`service::sign_in::login`), and every action calls the same service use
//! cases as the admin API.
//!
//! One file per page family: `sign_in`, `dashboard`, `users` (the list and
//! creating one), `user` (one user's page) and `user_actions` (every action
//! on them, each confirmed first), `events` and `events_csv`.
//! `device` is the OAuth device grant's page at `/device`, for any user.
//! `hosted` holds the pages of the mails' default links, `/reset` and `/verify-email`.
//! `layout` holds what pages share (frame, times, pager, the confirmation
//! step), `request` what handlers do first (admin check, CSRF check).
//!
//! The session cookie and its CSRF token are `http::session`'s, shared with
//! the admin API. Every state-changing form carries the session's CSRF
//! token, checked before anything else (missing or wrong: a 403 page).

mod dashboard;
mod device;
mod error;
mod events;
mod events_csv;
mod hosted;
mod layout;
mod request;
mod sign_in;
mod user;
mod user_actions;
mod users;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder};

/// Headers on every console page: no framing, no sniffing, no referrer,
/// nothing loaded but our own stylesheet, no caching of what admins see.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// A page outside `/console`, for any visitor: a GET that shows it and a
/// POST that acts on it, with the console's headers like every console page.
fn page_outside_console<Show, ShowArgs, Act, ActArgs>(
    path: &'static str,
    show: Show,
    act: Act,
) -> impl HttpServiceFactory
where
    Show: Handler<ShowArgs>,
    ShowArgs: FromRequest + 'static,
    Show::Output: Responder + 'static,
    Act: Handler<ActArgs>,
    ActArgs: FromRequest + 'static,
    Act::Output: Responder + 'static,
{
    web::resource(path)
        .wrap(security_headers())
        .route(web::get().to(show))
        .route(web::post().to(act))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The device grant's hosted page.
    cfg.service(page_outside_console(
        "/device",
        device::page,
        device::decide_on_page,
    ));
    // The pages of the default links in reset and verification mails.
    cfg.service(page_outside_console(
        "/reset",
        hosted::reset::page,
        hosted::reset::set_password,
    ));
    cfg.service(page_outside_console(
        "/verify-email",
        hosted::verify_email::page,
        hosted::verify_email::confirm,
    ));
    cfg.service(
        web::scope("/console")
            .wrap(security_headers())
            .route("", web::get().to(sign_in::home))
            .route("/login", web::get().to(sign_in::sign_in_page))
            .route("/login", web::post().to(sign_in::sign_in))
            .route("/logout", web::post().to(sign_in::sign_out))
            // users
            .route("/users", web::get().to(users::users))
            .route("/users/new", web::get().to(users::new_user_page))
            .route("/users/new", web::post().to(users::create_user))
            // user
            .route("/users/{id}", web::get().to(user::user))
            .route("/users/{id}/{action}", web::get().to(user_actions::confirm))
            .route("/users/{id}/{action}", web::post().to(user_actions::act))
            // events
            .route("/events", web::get().to(events::events_page))
            .route("/events.csv", web::get().to(events_csv::events_csv))
            // dashboard
            .route("/", web::get().to(dashboard::dashboard))
            .route("/console.css", web::get().to(stylesheet))
            .default_service(web::to(not_found)),
    );
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(layout::STYLESHEET)
}

async fn not_found() -> Result<HttpResponse, error::ConsoleError> {
    Err(error::ConsoleError::NotFound)
}
