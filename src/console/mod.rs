//! The ops console at `/console/`: server-rendered pages (maud) where an
//! admin signs in with a password, finds a user, and revokes one device or
//! all of them. No business rules live here: every action calls the same
//! `service::admin` use cases as the admin API.
//!
//! Sessions are actix-session cookies (`CookieSessionStore`: the state is in
//! the cookie, encrypted and signed with [`console_session_key`]), marked
//! `HttpOnly`, `SameSite=Strict`, and `Secure` when `COOKIE_SECURE` is set.
//! Every state-changing form carries the session's CSRF token, checked
//! before anything else (missing or wrong: a 403 page). Signing in renews
//! the session, so a session fixed before sign-in is worth nothing after.

mod handlers;
mod pages;
pub mod session;

use crate::config::Settings;
use crate::domain::secret::SecretKey;
use crate::error::ApiError;
use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::http::header::{self, HeaderValue, LOCATION};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse, ResponseError};

pub const COOKIE_NAME: &str = "multitoken_console";

/// The key that encrypts and signs console sessions.
///
/// Derived from `SECRET_KEY`, so sessions survive restarts and work across
/// instances that share the key.
pub fn console_session_key(secret: &SecretKey) -> Result<Key, String> {
    // The cookie key is 64 bytes: one derived half signs, the other encrypts.
    let mut bytes = [0_u8; 64];
    bytes[..32].copy_from_slice(&secret.derive_key("console session signing"));
    bytes[32..].copy_from_slice(&secret.derive_key("console session encryption"));
    Key::try_from(&bytes[..]).map_err(|e| format!("cannot make the console session key: {e}"))
}

/// The session middleware, for the whole app so that the admin API can
/// accept a console session too. It sets a cookie only once a session
/// holds something, which happens on the console's pages alone.
pub fn session_middleware(settings: &Settings, key: Key) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(COOKIE_NAME.to_owned())
        .cookie_path("/".to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Strict)
        .cookie_secure(settings.cookie_secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .build()
}

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

/// What can go wrong on a console page, each shown as an HTML page (or a
/// redirect to the sign-in page).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("not signed in")]
    SignIn,
    #[error("CSRF token missing or incorrect")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<actix_session::SessionInsertError> for ConsoleError {
    fn from(error: actix_session::SessionInsertError) -> Self {
        ConsoleError::Api(ApiError::internal(error))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Api(ApiError::NotFound) => StatusCode::NOT_FOUND,
            ConsoleError::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            ConsoleError::SignIn => {
                return HttpResponse::SeeOther()
                    .insert_header((LOCATION, HeaderValue::from_static("/console/login")))
                    .finish();
            }
            ConsoleError::Csrf => (
                "Forbidden",
                "The form was not accepted: its security token is missing or out of date. \
                 Go back, reload the page and try again.",
            ),
            ConsoleError::NotFound | ConsoleError::Api(ApiError::NotFound) => {
                ("Not found", "There is nothing here.")
            }
            ConsoleError::Api(error @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => {
                // Logs the cause the way the API does.
                let _ = error.error_response();
                (
                    "Something went wrong",
                    "The request could not be completed. Try again in a moment.",
                )
            }
            ConsoleError::Api(_) => ("Refused", "The request was refused."),
        };
        pages::html(self.status_code(), pages::error_page(title, message))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Cli;
    use clap::Parser;

    fn cookie_secure(args: &[&str]) -> Result<bool, String> {
        Cli::try_parse_from(std::iter::once("multitoken").chain(args.iter().copied()))
            .map(|cli| cli.settings.cookie_secure)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn cookie_secure_is_off_unless_set() {
        assert_eq!(cookie_secure(&[]), Ok(false));
        assert_eq!(cookie_secure(&["--cookie-secure", "true"]), Ok(true));
        assert_eq!(cookie_secure(&["--cookie-secure", "0"]), Ok(false));
        assert!(cookie_secure(&["--cookie-secure", "maybe"])
            .is_err_and(|e| e.contains("COOKIE_SECURE")));
    }
}
