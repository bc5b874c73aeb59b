//! How device proofs travel (see `service::sign_in::device_proof`): the
//! `device_proof` field of a sign-in answer and request, and for browsers
//! the cookie `mt_device_proof` (`HttpOnly`, `SameSite=Strict`, `Path=/`,
//! `Secure` per `COOKIE_SECURE`), kept as long as the proof is valid.

use crate::service::Services;
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;

pub const COOKIE_NAME: &str = "mt_device_proof";

/// The field a sign-in presents its proof in (and its answer carries it in).
pub const FIELD: &str = "device_proof";

/// The cookie that carries `proof` for a browser.
pub fn cookie(services: &Services, proof: String) -> Cookie<'static> {
    let ttl = services.settings.throttles.device_proof_ttl;
    let max_age = time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
    Cookie::build(COOKIE_NAME, proof)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(services.settings.console.cookie_secure)
        .max_age(max_age)
        .finish()
}

/// The proof the request's cookie holds, if it has one.
pub fn from_cookie(request: &HttpRequest) -> Option<String> {
    request
        .cookie(COOKIE_NAME)
        .map(|cookie| cookie.value().to_owned())
        .filter(|proof| !proof.is_empty())
}

/// The proofs a sign-in presents, as sent: its field's first, then its
/// cookie's (either may be stale or another user's: each is checked).
pub fn presented(request: &HttpRequest, field: Option<String>) -> Vec<String> {
    field
        .filter(|proof| !proof.is_empty())
        .into_iter()
        .chain(from_cookie(request))
        .collect()
}
