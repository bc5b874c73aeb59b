//! `/auth/verify`: forward auth for reverse proxies (nginx `auth_request`,
//! Traefik ForwardAuth, Caddy `forward_auth`, Envoy `ext_authz`) in front
//! of the company's other services.
//!
//! A proxy turns anything but 2xx, 401 and 403 into an error page of its
//! own, so every answer here is one of those (or a 503 when the database is
//! down): the body is never read, a query that cannot be understood asks
//! for a scope no token holds, and a handler for every method means no 405.

use crate::domain::principal::Principal;
use crate::http::auth::forward_auth_credentials;
use crate::http::dpop::forwarded_request;
use crate::http::request::client_ip;
use crate::http::ApiError;
use crate::service::tokens::other_services::authorize;
use crate::service::tokens::verify::TokenVerifier;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

/// Whether the presented key may pass: `200` with the identity headers,
/// `401` as for any endpoint of ours, `403` when a scope is missing.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options),
    path = "/auth/verify",
    operation_id = "forward_auth",
    security(("Token" = []), ("ApiKey" = [])),
    params(("scope" = Option<Vec<String>>, Query, explode = true,
        description = "Scopes the request needs (repeat the parameter, or separate with spaces); a restricted token must hold all of them.")),
    responses(
        (status = 200, description = "The key may pass. Empty body; the identity is in the headers \
            `X-Auth-Request-User` and `Remote-User` (username), `X-Auth-Request-Email` and \
            `Remote-Email` (when the user has one), `X-Multitoken-User-Id`, `X-Multitoken-Client`, \
            `X-Multitoken-Admin` (`true`/`false`) and, for a restricted token, `X-Multitoken-Scopes`."),
        (status = 403, description = "The token lacks a scope the request needs", body = super::openapi::Detail),
    ))]
pub async fn verify(
    request: HttpRequest,
    verifier: web::Data<TokenVerifier>,
) -> Result<HttpResponse, ApiError> {
    let credentials = forward_auth_credentials(request.headers());
    let dpop_scheme = credentials.is_ok_and(|(_, dpop)| dpop);
    let presented = credentials.map(|(key, _)| key);
    let dpop = forwarded_request(&request, dpop_scheme);
    let required = required_scopes(request.query_string());
    // Under TRUSTED_PROXIES the proxy asking names the client it asks for.
    let from = request
        .app_data::<web::Data<crate::service::Services>>()
        .and_then(|services| client_ip(&request, &services.settings.server.trusted_proxies));
    let principal = authorize(&verifier, presented, &dpop, &required, from).await?;
    let mut response = HttpResponse::Ok();
    let cached = verifier.cache().and_then(|cache| {
        cache.derived(
            &principal,
            || IdentityHeaders::of(&principal),
            IdentityHeaders::bytes,
        )
    });
    match cached {
        Some(headers) => headers.0.iter().for_each(|(name, value)| {
            response.insert_header((HeaderName::clone(name), value.clone()));
        }),
        None => identity_headers(&principal, |name, value| {
            response.insert_header((HeaderName::clone(name), value));
        }),
    }
    Ok(response.finish())
}

/// Every `scope` parameter, each split at spaces. A query that cannot be
/// decoded asks for a scope that cannot exist, so that only an
/// unrestricted token passes, as it passes every scope.
fn required_scopes(query: &str) -> Vec<String> {
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        return vec![String::from("\0unreadable query")];
    };
    pairs
        .iter()
        .filter(|(name, _)| name == "scope")
        .flat_map(|(_, value)| value.split_ascii_whitespace())
        .map(str::to_owned)
        .collect()
}

static X_AUTH_REQUEST_USER: HeaderName = HeaderName::from_static("x-auth-request-user");
static REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");
static X_AUTH_REQUEST_EMAIL: HeaderName = HeaderName::from_static("x-auth-request-email");
static REMOTE_EMAIL: HeaderName = HeaderName::from_static("remote-email");
static X_MULTITOKEN_USER_ID: HeaderName = HeaderName::from_static("x-multitoken-user-id");
static X_MULTITOKEN_CLIENT: HeaderName = HeaderName::from_static("x-multitoken-client");
static X_MULTITOKEN_ADMIN: HeaderName = HeaderName::from_static("x-multitoken-admin");
static X_MULTITOKEN_SCOPES: HeaderName = HeaderName::from_static("x-multitoken-scopes");

/// The headers that configurations written for oauth2-proxy and Authelia
/// read, and ours, each given to `put`.
fn identity_headers(principal: &Principal, mut put: impl FnMut(&'static HeaderName, HeaderValue)) {
    // A username is Unicode; its UTF-8 bytes go as they are, as
    // oauth2-proxy sends them, rather than being dropped.
    let text = |value: &str| HeaderValue::from_bytes(value.as_bytes()).ok();
    let mut set = |names: &[&'static HeaderName], value: Option<HeaderValue>| {
        let Some(value) = value else { return };
        // Clones for all names but the last, which takes the value itself.
        for (name, value) in names.iter().zip(std::iter::repeat_n(value, names.len())) {
            put(name, value);
        }
    };
    set(
        &[&X_AUTH_REQUEST_USER, &REMOTE_USER],
        text(&principal.username),
    );
    if !principal.email.is_empty() {
        set(
            &[&X_AUTH_REQUEST_EMAIL, &REMOTE_EMAIL],
            text(&principal.email),
        );
    }
    set(
        &[&X_MULTITOKEN_USER_ID],
        Some(HeaderValue::from(principal.user_id)),
    );
    set(&[&X_MULTITOKEN_CLIENT], text(&principal.client));
    let admin = if principal.is_admin { "true" } else { "false" };
    set(
        &[&X_MULTITOKEN_ADMIN],
        Some(HeaderValue::from_static(admin)),
    );
    if principal.is_restricted() {
        set(&[&X_MULTITOKEN_SCOPES], text(&principal.scopes.to_stored()));
    }
}

/// [`identity_headers`] kept with a cached key (see `TokenCache::derived`)
/// for every check it serves: each value then shares its bytes with the
/// responses it goes into, where making it would copy them each time.
struct IdentityHeaders(Vec<(&'static HeaderName, HeaderValue)>);

impl IdentityHeaders {
    fn of(principal: &Principal) -> Self {
        let mut headers = Vec::with_capacity(7);
        identity_headers(principal, |name, value| headers.push((name, value)));
        IdentityHeaders(headers)
    }

    /// What keeping these costs, at most: the `Arc` and the list, and for
    /// each header its value's bytes as the allocator rounds them and the
    /// 32-byte count that shares them (a value two names share counts twice).
    fn bytes(&self) -> u64 {
        let list = self.0.capacity() * std::mem::size_of::<(&HeaderName, HeaderValue)>();
        let values: usize = self
            .0
            .iter()
            .map(|(_, value)| (value.len() + 8).next_multiple_of(16).max(32) + 32)
            .sum();
        (16 + std::mem::size_of::<Self>() + list + values) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::required_scopes;

    #[test]
    fn scopes_come_from_every_scope_parameter_split_at_spaces() {
        assert_eq!(
            required_scopes("scope=a&other=x&scope=b%20c+d"),
            ["a", "b", "c", "d"]
        );
        assert!(required_scopes("").is_empty());
        assert!(required_scopes("scope=").is_empty());
    }
}
