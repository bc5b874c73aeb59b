//! Reading credentials from the `Authorization` header, and the
//! [`Authenticated`] extractor: a handler that takes it cannot run for a
//! request without a valid, unexpired token of an active user.

use crate::console::session as console_session;
use crate::domain::client_address::{client_address, TrustedProxies};
use crate::domain::{Password, TokenDigest};
use crate::error::{ApiError, AuthFailure};
use crate::service::authenticate::{authenticate, Session};
use crate::state::AppState;
use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use std::net::IpAddr;

/// The key of a `Token <key>` or `Bearer <key>` header, following DRF's
/// `TokenAuthentication` case by case.
pub fn token_from_header(value: Option<&[u8]>) -> Result<&str, AuthFailure> {
    let value = value.ok_or(AuthFailure::NotProvided)?;
    let mut parts = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty());
    let keyword = parts.next().ok_or(AuthFailure::NotProvided)?;
    if !keyword.eq_ignore_ascii_case(b"token") && !keyword.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthFailure::NotProvided);
    }
    let key = parts.next().ok_or(AuthFailure::NoCredentials)?;
    if parts.next().is_some() {
        return Err(AuthFailure::ContainsSpaces);
    }
    if !key.iter().all(u8::is_ascii_graphic) {
        return Err(AuthFailure::InvalidCharacters);
    }
    std::str::from_utf8(key).map_err(|_| AuthFailure::InvalidCharacters)
}

/// `Authorization: Basic …` credentials, when that is the scheme used:
/// `None` for no header or another scheme, `Err` for a malformed one.
pub fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, Password), ApiError>> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let mut parts = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty());
    if !parts.next()?.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let mut decode = || {
        let encoded = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
        let (username, password) = decoded.split_once(':')?;
        Some((username.to_owned(), Password::new(password.to_owned())))
    };
    Some(decode().ok_or(ApiError::BadBasicCredentials))
}

/// The address a request comes from: the peer, or, when the peer is a
/// trusted proxy, the client it names in `X-Forwarded-For`.
pub fn client_ip(request: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = request.peer_addr()?;
    let forwarded: Vec<_> = request
        .headers()
        .get_all("x-forwarded-for")
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
        .collect();
    Some(client_address(
        peer.ip(),
        forwarded.iter().map(|value| value.as_ref()),
        trusted,
    ))
}

/// An authenticated request's session.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Session);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .map(|value| value.as_bytes());
        let digest = token_from_header(header).map(TokenDigest::of_presented);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let checked = async {
                let digest = digest.map_err(ApiError::Unauthorized)?;
                let digest = digest.ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
                authenticate(&state, digest).await
            }
            .await;
            state.metrics.token_checked(&checked);
            checked.map(Authenticated)
        })
    }
}

/// A request by an admin: a handler that takes it cannot run for anyone
/// else. Anonymous requests get the `401` of [`Authenticated`], users
/// without `is_admin` a `403`.
///
/// Without an `Authorization` header, a signed-in console session is
/// accepted instead; as with Django REST Framework's session
/// authentication, its unsafe requests must then carry the session's CSRF
/// token in `X-CSRF-Token` (the console pages give it in
/// `<meta name="csrf-token">`).
#[derive(Debug, Clone)]
pub struct Admin {
    pub user_id: i64,
    pub username: String,
}

pub const CSRF_FAILED: &str = "CSRF Failed: CSRF token missing or incorrect.";

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if request.headers().contains_key(AUTHORIZATION) {
            let authenticated = Authenticated::from_request(request, payload);
            return Box::pin(async move {
                let Authenticated(session) = authenticated.await?;
                if !session.is_admin {
                    return Err(ApiError::PermissionDenied);
                }
                Ok(Admin {
                    user_id: session.user_id,
                    username: session.username,
                })
            });
        }
        let console = request.get_session();
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let safe = request.method().is_safe();
        let presented_csrf = request
            .headers()
            .get(console_session::CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let signed_in = console_session::signed_in(&state, &console)
                .await?
                .ok_or(ApiError::Unauthorized(AuthFailure::NotProvided))?;
            if !safe && !console_session::csrf_matches(&console, presented_csrf.as_deref()) {
                return Err(ApiError::Forbidden(CSRF_FAILED));
            }
            Ok(Admin {
                user_id: signed_in.user_id,
                username: signed_in.username,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn token_headers_follow_the_contract_case_by_case() {
        let key = "mt_abcDEF123-_";
        let cases: &[(&[u8], Result<&str, AuthFailure>, &str)] = &[
            (b"Token mt_abcDEF123-_", Ok(key), "the Token keyword"),
            (
                b"token mt_abcDEF123-_",
                Ok(key),
                "the keyword is case-insensitive",
            ),
            (
                b"TOKEN   mt_abcDEF123-_  ",
                Ok(key),
                "extra whitespace is ignored",
            ),
            (b"Bearer mt_abcDEF123-_", Ok(key), "Bearer is accepted too"),
            (b"bEaReR mt_abcDEF123-_", Ok(key), "Bearer in any case"),
            (b"", Err(AuthFailure::NotProvided), "an empty header"),
            (b"   ", Err(AuthFailure::NotProvided), "a blank header"),
            (
                b"Basic YTpi",
                Err(AuthFailure::NotProvided),
                "another scheme",
            ),
            (
                b"Tokens abc",
                Err(AuthFailure::NotProvided),
                "a keyword that merely starts like Token",
            ),
            (
                b"Token",
                Err(AuthFailure::NoCredentials),
                "Token with nothing after it",
            ),
            (
                b"Token   ",
                Err(AuthFailure::NoCredentials),
                "Token with only spaces after it",
            ),
            (
                b"Token a b",
                Err(AuthFailure::ContainsSpaces),
                "a key with a space",
            ),
            (
                b"Token a\tb",
                Err(AuthFailure::ContainsSpaces),
                "a key with a tab",
            ),
            (
                b"Token caf\xc3\xa9",
                Err(AuthFailure::InvalidCharacters),
                "UTF-8 beyond ASCII",
            ),
            (
                b"Token \xff\xfe",
                Err(AuthFailure::InvalidCharacters),
                "bytes that are not UTF-8",
            ),
            (
                b"Token a\x7fb",
                Err(AuthFailure::InvalidCharacters),
                "a DEL byte",
            ),
        ];
        for (header, expected, case) in cases {
            assert_eq!(token_from_header(Some(header)), *expected, "{case}");
        }
        assert_eq!(
            token_from_header(None),
            Err(AuthFailure::NotProvided),
            "no header at all"
        );
    }

    fn basic(value: &str) -> Option<Result<(String, String), String>> {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(AUTHORIZATION, value);
        }
        basic_credentials(&headers).map(|result| {
            result
                .map(|(user, password)| (user, password.expose().to_owned()))
                .map_err(|e| e.to_string())
        })
    }

    #[test]
    fn basic_credentials_are_decoded_and_malformed_ones_refused() {
        // "alice:pa:ss word" — a colon in the password belongs to the password.
        assert_eq!(
            basic("Basic YWxpY2U6cGE6c3Mgd29yZA=="),
            Some(Ok(("alice".into(), "pa:ss word".into())))
        );
        assert_eq!(
            basic("basic YWxpY2U6cGE6c3Mgd29yZA=="),
            Some(Ok(("alice".into(), "pa:ss word".into())))
        );
        assert_eq!(basic("Token abc"), None);
        assert_eq!(basic(""), None);
        for malformed in [
            "Basic",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Basic YTpi YTpi",
            "Basic //79",
        ] {
            assert!(matches!(basic(malformed), Some(Err(_))), "{malformed}");
        }
    }
}
