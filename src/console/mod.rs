//! The ops console at `/console/`: server-rendered pages (maud) where an
//! admin signs in with a password, finds a user, and revokes one device or
//! all of them. No business rules live here: signing in goes through the
//! same credential check and throttle as `POST /login` (`service::sign_in::login`),
//! and every action calls the same `service::accounts::admin` use cases as the admin
//! API.
//!
//! The session cookie and its CSRF token are `http::session`'s, shared with
//! the admin API. Every state-changing form carries the session's CSRF
//! token, checked before anything else (missing or wrong: a 403 page).

mod error;
mod handlers;
mod pages;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web;

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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(security_headers())
            .route("", web::get().to(handlers::home))
            .route("/login", web::get().to(handlers::sign_in_page))
            .route("/login", web::post().to(handlers::sign_in))
            .route("/logout", web::post().to(handlers::sign_out))
            .route("/users", web::get().to(handlers::users))
            .route("/users/{id}", web::get().to(handlers::user))
            .route("/users/{id}/revoke", web::post().to(handlers::revoke))
            .route(
                "/users/{id}/revoke-all",
                web::post().to(handlers::revoke_all),
            )
            .route("/console.css", web::get().to(handlers::stylesheet))
            .default_service(web::to(handlers::not_found)),
    );
}
