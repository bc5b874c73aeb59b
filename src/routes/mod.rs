//! The URL map, on one screen. Handlers are thin: they read the request,
//! call a use case in `service`, and shape the response.
//!
//! Every endpoint is one line of `endpoints!` below, which both registers
//! it with actix-web and lists it in the OpenAPI document. To add one:
//!
//! 1. write the handler with a `#[utoipa::path(method, path = "...", ...)]`
//!    annotation giving its responses (and `security(("Token" = []))` when
//!    it needs a token);
//! 2. add `METHOD "/path" => module::handler,` to the list (`GET | POST "/path"`
//!    for a handler that answers several methods).
//!
//! The test `openapi::every_served_route_is_documented_and_nothing_else` checks that the
//! annotation and the line agree. Only the console (HTML, not part of the
//! JSON API) is registered elsewhere.

mod account;
mod admin;
mod device_approval;
mod device_grant;
mod docs;
mod email_verification;
mod events;
mod forward_auth;
mod health;
mod jwt;
mod login;
mod metrics;
mod oauth;
mod oidc;
mod openapi;
mod password;
mod registration;
mod rotation;
mod secret_scanning;
mod two_factor;

use crate::http::ApiError;
use crate::service::Error;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse, Resource, Route};
use openapi::Conventions;

/// One endpoint: how it is served and where it is documented.
pub struct Endpoint {
    pub method: Method,
    /// The path pattern, as actix-web and OpenAPI both write it (`/tokens/{client}`).
    pub path: &'static str,
    pub route: Route,
}

macro_rules! endpoints {
    ($($($method:ident)|+ $path:literal => $module:ident :: $handler:ident,)*) => {
        /// Every endpoint of the JSON API (matched fixed paths first, see
        /// [`configure`]).
        pub fn endpoints() -> Vec<Endpoint> {
            vec![$($(Endpoint {
                method: Method::$method,
                path: $path,
                route: web::route().method(Method::$method).to($module::$handler),
            },)+)*]
        }

        /// The OpenAPI document of every endpoint, from the handlers' annotations.
        #[derive(utoipa::OpenApi)]
        #[openapi(
            info(title = "multitoken", description = "Per-client API tokens: one token per device, revocable one at a time."),
            paths($($module::$handler,)*),
            modifiers(&Conventions),
        )]
        pub struct ApiDoc;
    };
}

endpoints! {
    POST "/login" => login::login,
    POST "/login/oidc/{provider}" => oidc::login_with_provider,
    POST "/logout" => login::logout,
    POST "/logout/all" => login::logout_all,
    POST "/logout/others" => login::logout_others,
    GET "/whoami" => account::whoami,
    GET "/tokens" => account::list_devices,
    POST "/tokens/rotate" => rotation::rotate,
    DELETE "/tokens/{client}" => account::revoke_device,
    GET "/events" => events::own_events,
    GET "/healthz" => health::healthz,
    GET "/readyz" => health::readyz,
    GET "/openapi.json" => docs::openapi_json,
    GET "/metrics" => metrics::metrics,
    GET "/admin/users" => admin::list_users,
    POST "/admin/users" => admin::create_user,
    GET "/admin/users/{id}" => admin::read_user,
    PATCH "/admin/users/{id}" => admin::update_user,
    GET "/admin/users/{id}/tokens" => admin::list_devices,
    DELETE "/admin/users/{id}/tokens" => admin::revoke_all_devices,
    DELETE "/admin/users/{id}/tokens/{client}" => admin::revoke_device,
    GET "/admin/events" => events::all_events,
    POST "/register" => registration::register,
    POST "/register/verify-email" => email_verification::verify_email,
    POST "/register/resend-email" => email_verification::resend_email,
    POST "/password/change" => password::change,
    POST "/password/reset" => password::reset,
    POST "/password/reset/confirm" => password::confirm_reset,
    POST "/2fa/totp/setup" => two_factor::set_up,
    POST "/2fa/totp/confirm" => two_factor::confirm,
    POST "/2fa/disable" => two_factor::disable,
    GET | HEAD | POST | PUT | PATCH | DELETE | OPTIONS "/auth/verify" => forward_auth::verify,
    POST "/introspect" => oauth::introspect,
    POST "/revoke" => oauth::revoke,
    POST "/secret-scanning/github" => secret_scanning::github,
    POST "/token" => jwt::obtain,
    POST "/token/refresh" => jwt::refresh,
    POST "/token/verify" => jwt::verify,
    POST "/token/blacklist" => jwt::blacklist,
    GET "/.well-known/jwks.json" => jwt::jwks,
    POST "/oauth/device_authorization" => device_grant::device_authorization,
    POST "/oauth/token" => device_grant::token,
    GET "/oauth/device/{user_code}" => device_approval::show,
    POST "/oauth/device/{user_code}/approve" => device_approval::approve,
    POST "/oauth/device/{user_code}/deny" => device_approval::deny,
    GET "/.well-known/oauth-authorization-server" => device_grant::metadata,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // One resource per path, with its methods, in the order of the list.
    let mut resources: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for endpoint in endpoints() {
        match resources
            .iter_mut()
            .find(|(path, _)| *path == endpoint.path)
        {
            Some((_, routes)) => routes.push(endpoint.route),
            None => resources.push((endpoint.path, vec![endpoint.route])),
        }
    }
    // Fixed paths first: actix-web tries resources in order, a fixed path
    // by comparing text and a `{…}` pattern by running a regex. Listed
    // after five patterns, `/auth/verify` spent a fifth of its time in
    // them. A fixed path also always wins over a pattern that matches it
    // (`/tokens/rotate` over `/tokens/{client}`).
    resources.sort_by_key(|(path, _)| path.contains('{'));
    for (path, routes) in resources {
        cfg.service(routes.into_iter().fold(resource(path), Resource::route));
    }
}

/// A resource whose wrong methods get the contract's JSON 405.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(request.method().to_string()))
}

/// Everything outside the map.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(Error::NotFound.into())
}
