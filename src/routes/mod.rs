//! The URL map, on one screen. Handlers are thin: they read the request,
//! call a use case in `service`, and shape the response.

mod account;
mod admin;
mod health;
mod session;

use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse, Resource};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/login").route(web::post().to(session::login)))
        .service(resource("/logout").route(web::post().to(session::logout)))
        .service(resource("/logout/all").route(web::post().to(session::logout_all)))
        .service(resource("/logout/others").route(web::post().to(session::logout_others)))
        .service(resource("/whoami").route(web::get().to(account::whoami)))
        .service(resource("/tokens").route(web::get().to(account::list_devices)))
        .service(resource("/tokens/{client}").route(web::delete().to(account::revoke_device)))
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(
            resource("/admin/users")
                .route(web::get().to(admin::list_users))
                .route(web::post().to(admin::create_user)),
        )
        .service(
            resource("/admin/users/{id}")
                .route(web::get().to(admin::read_user))
                .route(web::patch().to(admin::update_user)),
        )
        .service(
            resource("/admin/users/{id}/tokens")
                .route(web::get().to(admin::list_devices))
                .route(web::delete().to(admin::revoke_all_devices)),
        )
        .service(
            resource("/admin/users/{id}/tokens/{client}")
                .route(web::delete().to(admin::revoke_device)),
        );
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
    Err(ApiError::NotFound)
}
