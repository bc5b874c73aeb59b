//! Reading credentials from the `Authorization` header, and the
//! [`Authenticated`] extractor: a handler that takes it cannot run for a
//! request without a valid, unexpired token of an active user.

use super::dpop::own_request;
use super::error::ApiError;
use super::request::{client_ip, request_source};
use super::session::{self, CSRF_HEADER};
use crate::domain::event::{Actor, EventSource};
use crate::domain::messages::{CSRF_FAILED, REQUIRED_FOR_ADMINS};
use crate::domain::principal::Principal;
use crate::domain::Password;
use crate::service::tokens::other_services::may_introspect;
use crate::service::tokens::verify::TokenVerifier;
use crate::service::{AuthFailure, Error, Services};
use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, TryFutureExt};

/// The key of a `Token <key>` or `Bearer <key>` header, following DRF's
/// `TokenAuthentication` case by case (or of a `DPoP <key>` one: see
/// [`key_and_scheme`]).
#[cfg(test)]
pub fn token_from_header(value: Option<&[u8]>) -> Result<&str, AuthFailure> {
    key_and_scheme(value).map(|(key, _)| key)
}

/// The key of a `Token`, `Bearer` or `DPoP` header, and whether the scheme
/// was `DPoP` (RFC 9449 section 7.1: a bound key must come that way).
pub fn key_and_scheme(value: Option<&[u8]>) -> Result<(&str, bool), AuthFailure> {
    let value = value.ok_or(AuthFailure::NotProvided)?;
    let mut parts = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty());
    let keyword = parts.next().ok_or(AuthFailure::NotProvided)?;
    let dpop = keyword.eq_ignore_ascii_case(b"dpop");
    if !keyword.eq_ignore_ascii_case(b"token") && !keyword.eq_ignore_ascii_case(b"bearer") && !dpop
    {
        return Err(AuthFailure::NotProvided);
    }
    let key = parts.next().ok_or(AuthFailure::NoCredentials)?;
    if parts.next().is_some() {
        return Err(AuthFailure::ContainsSpaces);
    }
    if !key.iter().all(u8::is_ascii_graphic) {
        return Err(AuthFailure::InvalidCharacters);
    }
    let key = std::str::from_utf8(key).map_err(|_| AuthFailure::InvalidCharacters)?;
    Ok((key, dpop))
}

/// The header a forward-auth request may carry its key in when its own
/// `Authorization` means something else.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The key of a forward-auth request: from `Authorization` when that is a
/// `Token` or `Bearer` header (valid or not), else from `X-Api-Key`, read
/// by the same rules.
#[cfg(test)]
pub fn forward_auth_key(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    forward_auth_credentials(headers).map(|(key, _)| key)
}

/// [`forward_auth_key`], and whether `Authorization` used the `DPoP` scheme.
pub fn forward_auth_credentials(headers: &HeaderMap) -> Result<(&str, bool), AuthFailure> {
    match key_and_scheme(headers.get(AUTHORIZATION).map(|value| value.as_bytes())) {
        Err(AuthFailure::NotProvided) => {
            api_key_from_header(headers.get(API_KEY_HEADER).map(|value| value.as_bytes()))
                .map(|key| (key, false))
        }
        other => other,
    }
}

/// The key of an `X-Api-Key: <key>` header, which has no keyword.
fn api_key_from_header(value: Option<&[u8]>) -> Result<&str, AuthFailure> {
    let key = value.ok_or(AuthFailure::NotProvided)?.trim_ascii();
    if key.is_empty() {
        return Err(AuthFailure::NoCredentials);
    }
    if key.iter().any(u8::is_ascii_whitespace) {
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
        // No user's name or password holds a NUL, and PostgreSQL refuses
        // one in a query: refused here, as any other bad credentials are.
        if decoded.contains('\0') {
            return None;
        }
        let (username, password) = decoded.split_once(':')?;
        Some((username.to_owned(), Password::new(password.to_owned())))
    };
    Some(decode().ok_or(ApiError::BadBasicCredentials))
}

/// An authenticated request: who, with which token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .map(|value| value.as_bytes());
        let verifier = request.app_data::<web::Data<TokenVerifier>>().cloned();
        let presented = key_and_scheme(header).map(|(key, dpop)| (key.to_owned(), dpop));
        let from = verifier
            .as_ref()
            .and_then(|verifier| client_ip(request, verifier.trusted_proxies()));
        let dpop_scheme = presented.as_ref().is_ok_and(|(_, dpop)| *dpop);
        let dpop = verifier
            .as_ref()
            .map(|verifier| own_request(request, verifier, dpop_scheme));
        Box::pin(async move {
            let (Some(verifier), Some(dpop)) = (verifier, dpop) else {
                return Err(Error::internal("the token verifier is not configured").into());
            };
            let key = presented.as_ref().map(|(key, _)| key.as_str());
            let principal = verifier
                .verify_presented(key.map_err(|failure| *failure), from)
                .await?;
            if let Ok(key) = key {
                verifier
                    .dpop()
                    .check_use(principal.dpop_jkt.as_deref(), &dpop, key)
                    .await?;
            }
            Ok(Authenticated(principal))
        })
    }
}

/// An authenticated request with an unrestricted token: a token with
/// scopes gets `403 PermissionDenied`, whatever its user may do.
#[derive(Debug, Clone)]
pub struct Unrestricted(pub Principal);

impl FromRequest for Unrestricted {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(request, payload);
        Box::pin(async move {
            let Authenticated(principal) = authenticated.await?;
            if principal.is_restricted() {
                return Err(Error::PermissionDenied.into());
            }
            Ok(Unrestricted(principal))
        })
    }
}

/// A user acting on their own account with an unrestricted token (as
/// [`Unrestricted`] checks it), and where the request comes from.
// The use cases these handlers call all record events of the act, so the
// two always come together, as the admin's come together in [`Admin`].
#[derive(Debug, Clone)]
pub struct AccountHolder {
    pub principal: Principal,
    pub source: EventSource,
}

impl FromRequest for AccountHolder {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let source = request_source(request);
        Unrestricted::from_request(request, payload)
            .map_ok(|Unrestricted(principal)| AccountHolder { principal, source })
            .boxed_local()
    }
}

/// `REQUIRE_2FA_FOR_ADMINS`, as the admin API and `/introspect` apply it.
fn admins_need_two_factor(request: &HttpRequest) -> bool {
    request
        .app_data::<web::Data<Services>>()
        .is_some_and(|services| services.settings.two_factor.require_2fa_for_admins)
}

/// A request by a caller that may introspect other keys: an unrestricted
/// key of a service user or an admin, with two-factor if admins must have
/// it (`401` without a valid key, else `403`).
#[derive(Debug, Clone)]
pub struct Introspector;

impl FromRequest for Introspector {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let two_factor_required = admins_need_two_factor(request);
        let unrestricted = Unrestricted::from_request(request, payload);
        Box::pin(async move {
            let Unrestricted(principal) = unrestricted.await?;
            may_introspect(&principal, two_factor_required)?;
            Ok(Introspector)
        })
    }
}

/// A request by an admin: a handler that takes it cannot run for anyone
/// else. Anonymous requests get the `401` of [`Authenticated`], users
/// without `is_admin` a `403`, and so does a restricted token (one with
/// scopes) of an admin: see [`Unrestricted`].
///
/// Without an `Authorization` header, a signed-in console session is
/// accepted instead; as with Django REST Framework's session
/// authentication, its unsafe requests must then carry the session's CSRF
/// token in `X-CSRF-Token` (the console pages give it in
/// `<meta name="csrf-token">`).
#[derive(Debug, Clone)]
pub struct Admin {
    /// Where the admin's changes come from: this request, by this admin
    /// (`Actor::Admin` with their id, for the rules about changing one's
    /// own account).
    pub source: EventSource,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let two_factor_required = admins_need_two_factor(request);
        let source = request_source(request);
        if request.headers().contains_key(AUTHORIZATION) {
            let unrestricted = Unrestricted::from_request(request, payload);
            return Box::pin(async move {
                let Unrestricted(principal) = unrestricted.await?;
                if !principal.is_admin {
                    return Err(Error::PermissionDenied.into());
                }
                if two_factor_required && !principal.two_factor {
                    return Err(Error::Forbidden(REQUIRED_FOR_ADMINS).into());
                }
                Ok(Admin {
                    source: source.by(Actor::Admin(principal.user_id)),
                })
            });
        }
        let console = request.get_session();
        let services = request.app_data::<web::Data<Services>>().cloned();
        let safe = request.method().is_safe();
        let presented_csrf = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let services =
                services.ok_or_else(|| Error::internal("the services are not configured"))?;
            let signed_in = session::signed_in(&services, &console)
                .await?
                .ok_or(ApiError::unauthorized(AuthFailure::NotProvided))?;
            if !safe && !session::csrf_matches(&console, presented_csrf.as_deref()) {
                return Err(Error::Forbidden(CSRF_FAILED).into());
            }
            Ok(Admin {
                source: source.by(Actor::Admin(signed_in.user_id)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        map
    }

    #[test]
    fn forward_auth_takes_a_token_header_first_then_x_api_key() {
        type Headers<'a> = &'a [(&'static str, &'a [u8])];
        let cases: &[(Headers, Result<&str, AuthFailure>, &str)] = &[
            (
                &[("authorization", b"Token mt_a")],
                Ok("mt_a"),
                "a Token header",
            ),
            (&[("x-api-key", b"mt_b")], Ok("mt_b"), "X-Api-Key alone"),
            (&[("x-api-key", b"  mt_b ")], Ok("mt_b"), "X-Api-Key padded"),
            (
                &[("authorization", b"Token mt_a"), ("x-api-key", b"mt_b")],
                Ok("mt_a"),
                "Authorization wins over X-Api-Key",
            ),
            (
                &[("authorization", b"Basic YTpi"), ("x-api-key", b"mt_b")],
                Ok("mt_b"),
                "another scheme leaves the key to X-Api-Key",
            ),
            (
                &[("authorization", b"Token"), ("x-api-key", b"mt_b")],
                Err(AuthFailure::NoCredentials),
                "a Token header is the one used, even a broken one",
            ),
            (
                &[("authorization", b"Bearer a b"), ("x-api-key", b"mt_b")],
                Err(AuthFailure::ContainsSpaces),
                "a Bearer header with spaces is refused, not skipped",
            ),
            (&[], Err(AuthFailure::NotProvided), "nothing at all"),
            (
                &[("authorization", b"Basic YTpi")],
                Err(AuthFailure::NotProvided),
                "only another scheme",
            ),
            (
                &[("x-api-key", b"  ")],
                Err(AuthFailure::NoCredentials),
                "a blank X-Api-Key",
            ),
            (
                &[("x-api-key", b"mt_a b")],
                Err(AuthFailure::ContainsSpaces),
                "spaces",
            ),
            (
                &[("x-api-key", b"mt_\xc3\xa9")],
                Err(AuthFailure::InvalidCharacters),
                "bytes that are not printable ASCII",
            ),
        ];
        for (pairs, expected, why) in cases {
            assert_eq!(forward_auth_key(&headers(pairs)), *expected, "{why}");
        }
    }

    #[test]
    fn token_headers_follow_the_contract_case_by_case() {
        let key = "mt_abcDEF123-_";
        // Each outcome with the headers that must give it, and why.
        type Headers<'a> = &'a [(&'a [u8], &'a str)];
        let cases: &[(Result<&str, AuthFailure>, Headers)] = &[
            (
                Ok(key),
                &[
                    (b"Token mt_abcDEF123-_", "the Token keyword"),
                    (b"token mt_abcDEF123-_", "the keyword is case-insensitive"),
                    (b"TOKEN   mt_abcDEF123-_  ", "extra whitespace is ignored"),
                    (b"Bearer mt_abcDEF123-_", "Bearer is accepted too"),
                    (b"bEaReR mt_abcDEF123-_", "Bearer in any case"),
                ],
            ),
            (
                Err(AuthFailure::NotProvided),
                &[
                    (b"", "an empty header"),
                    (b"   ", "a blank header"),
                    (b"Basic YTpi", "another scheme"),
                    (b"Tokens abc", "a keyword that merely starts like Token"),
                ],
            ),
            (
                Err(AuthFailure::NoCredentials),
                &[
                    (b"Token", "Token with nothing after it"),
                    (b"Token   ", "Token with only spaces after it"),
                ],
            ),
            (
                Err(AuthFailure::ContainsSpaces),
                &[
                    (b"Token a b", "a key with a space"),
                    (b"Token a\tb", "a key with a tab"),
                ],
            ),
            (
                Err(AuthFailure::InvalidCharacters),
                &[
                    (b"Token caf\xc3\xa9", "UTF-8 beyond ASCII"),
                    (b"Token \xff\xfe", "bytes that are not UTF-8"),
                    (b"Token a\x7fb", "a DEL byte"),
                ],
            ),
        ];
        for (expected, headers) in cases {
            for (header, case) in *headers {
                assert_eq!(token_from_header(Some(header)), *expected, "{case}");
            }
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

    /// Property tests (proptest, standing in for `cargo fuzz`, which needs a
    /// nightly toolchain): the header parsers never panic and accept exactly
    /// what they should. `PROPTEST_CASES` sets how many inputs each tries.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn keyword() -> impl Strategy<Value = String> {
            prop_oneof![Just("Token"), Just("Bearer")].prop_flat_map(|word| {
                proptest::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
                    word.chars()
                        .zip(upper)
                        .map(|(c, up)| {
                            if up {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            }
                        })
                        .collect()
                })
            })
        }

        proptest! {
        #[test]
                fn the_token_header_parser_never_panics(header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200))) {
                    let _ = token_from_header(header.as_deref());
                }

                #[test]
                fn a_parsed_key_is_printable_ascii_taken_from_the_header(header in proptest::collection::vec(any::<u8>(), 0..200)) {
                    if let Ok(key) = token_from_header(Some(&header)) {
                        prop_assert!(!key.is_empty());
                        prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()));
                        prop_assert!(header.windows(key.len()).any(|w| w == key.as_bytes()));
                    }
                }

                #[test]
                fn every_keyword_and_printable_key_round_trips(
                    keyword in keyword(),
                    key in "[!-~]{1,100}",
                    before in "[ \t]{0,3}",
                    between in "[ \t]{1,3}",
                    after in "[ \t]{0,3}",
                ) {
                    let header = format!("{before}{keyword}{between}{key}{after}");
                    prop_assert_eq!(token_from_header(Some(header.as_bytes())), Ok(key.as_str()));
                }

                #[test]
                fn two_words_after_the_keyword_are_refused(keyword in keyword(), a in "[!-~]{1,20}", b in "[!-~]{1,20}") {
                    let header = format!("{keyword} {a} {b}");
                    prop_assert_eq!(token_from_header(Some(header.as_bytes())), Err(AuthFailure::ContainsSpaces));
                }

                #[test]
                fn basic_credentials_never_panic(header in "\\PC{0,100}") {
                    let mut headers = HeaderMap::new();
                    if let Ok(value) = HeaderValue::from_str(&format!("Basic {header}")) {
                        headers.insert(AUTHORIZATION, value);
                    }
                    let _ = basic_credentials(&headers);
                }

                #[test]
                fn basic_credentials_round_trip_unless_they_hold_a_nul(
                    username in "[^:]{0,40}",
                    password in "\\PC{0,40}|.{0,40}",
                    nul_in_username in any::<bool>(),
                ) {
                    let username = match nul_in_username {
                        true => format!("{username}\0"),
                        false => username,
                    };
                    let encoded = STANDARD.encode(format!("{username}:{password}"));
                    let mut headers = HeaderMap::new();
                    headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {encoded}")).unwrap());
                    match basic_credentials(&headers) {
                        Some(Ok((parsed, secret))) => {
                            prop_assert!(!username.contains('\0') && !password.contains('\0'));
                            prop_assert_eq!(parsed, username);
                            prop_assert_eq!(secret.expose(), password.as_str());
                        }
                        Some(Err(error)) => {
                            prop_assert!(username.contains('\0') || password.contains('\0'));
                            prop_assert!(matches!(error, ApiError::BadBasicCredentials));
                        }
                        None => prop_assert!(false, "a Basic header was not taken as one"),
                    }
                }

                #[test]
                fn any_decoded_bytes_give_nul_free_credentials_or_the_basic_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
                    let mut headers = HeaderMap::new();
                    let value = format!("Basic {}", STANDARD.encode(&bytes));
                    headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
                    match basic_credentials(&headers) {
                        Some(Ok((username, password))) => {
                            prop_assert!(!username.contains(['\0', ':']));
                            prop_assert!(!password.expose().contains('\0'));
                            prop_assert_eq!(format!("{username}:{}", password.expose()).into_bytes(), bytes);
                        }
                        Some(Err(error)) => prop_assert!(matches!(error, ApiError::BadBasicCredentials)),
                        None => prop_assert!(false, "a Basic header was not taken as one"),
                    }
                }
            }
    }
}
