//! What a request says about its client, read in one place: the address it
//! comes from (trusting `X-Forwarded-For` only from `TRUSTED_PROXIES`), its
//! `User-Agent`, its query parameters, and its own absolute URL.

use super::body::decode_pairs;
use super::error::ApiError;
use crate::domain::client_address::{client_address, TrustedProxies};
use crate::domain::event::{Actor, EventSource};
use crate::domain::messages::{INVALID_UTF8, NULL_CHARACTERS};
use actix_web::http::header::{HOST, USER_AGENT};
use actix_web::HttpRequest;
use std::net::IpAddr;

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

/// Where a change a request makes comes from, for its security event:
/// `actor`, the client address (as [`client_ip`] reads it) and the
/// `User-Agent` (as [`user_agent`] cuts it).
pub fn event_source(request: &HttpRequest, trusted: &TrustedProxies, actor: Actor) -> EventSource {
    EventSource {
        actor,
        ip: client_ip(request, trusted),
        user_agent: user_agent(request),
    }
}

/// [`event_source`] by the user the request is about (`"self"`), with the
/// server's `TRUSTED_PROXIES`.
pub fn request_source(request: &HttpRequest) -> EventSource {
    match request.app_data::<actix_web::web::Data<crate::service::Services>>() {
        Some(services) => event_source(
            request,
            &services.settings.server.trusted_proxies,
            Actor::Owner,
        ),
        None => event_source(request, &TrustedProxies::default(), Actor::Owner),
    }
}

/// The extractor of [`request_source`].
#[derive(Debug, Clone)]
pub struct Source(pub EventSource);

impl actix_web::FromRequest for Source {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Source(request_source(request))))
    }
}

/// The scheme and host this request was made to, for absolute links: as
/// the client sent them (`Host`, or the request target), or, only when the
/// peer is a trusted proxy, as that proxy forwards them (`Forwarded`, then
/// `X-Forwarded-Proto` / `X-Forwarded-Host`). From anyone else those
/// headers are the client's own words, and would let it choose where the
/// links in our answers point.
pub fn request_origin(request: &HttpRequest, trusted: &TrustedProxies) -> (String, String) {
    let from_proxy = request
        .peer_addr()
        .is_some_and(|peer| trusted.contains(peer.ip().to_canonical()));
    let direct_scheme = || {
        request
            .uri()
            .scheme_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                if request.app_config().secure() {
                    "https".to_owned()
                } else {
                    "http".to_owned()
                }
            })
    };
    let direct_host = || {
        request
            .headers()
            .get(HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|authority| authority.as_str())
            })
            .unwrap_or_else(|| request.app_config().host())
            .to_owned()
    };
    if !from_proxy {
        return (direct_scheme(), direct_host());
    }
    let info = request.connection_info();
    let scheme = info.scheme().to_ascii_lowercase();
    let scheme = if scheme == "http" || scheme == "https" {
        scheme
    } else {
        direct_scheme()
    };
    (scheme, info.host().to_owned())
}

/// The `User-Agent` a token is issued to, cut to 256 characters as the
/// contract stores it.
pub fn user_agent(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(USER_AGENT)?;
    Some(
        String::from_utf8_lossy(value.as_bytes())
            .chars()
            .take(256)
            .collect(),
    )
}

/// A query string's parameters, read as Django's `QueryDict` does: a
/// repeated parameter's last value wins.
#[derive(Debug, Default, Clone)]
pub struct QueryParams(Vec<(String, String)>);

/// Why a query string was refused.
#[derive(Debug)]
pub enum QueryError {
    /// A value holding a NUL character, which no query can take.
    NullCharacter(String),
    /// A value whose percent-decoded bytes are not UTF-8.
    NotUtf8(String),
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::NullCharacter(name) => ApiError::field(&name, NULL_CHARACTERS),
            QueryError::NotUtf8(name) => ApiError::field(&name, INVALID_UTF8),
        }
    }
}

impl QueryParams {
    /// Reads a query string strictly: a value that is not UTF-8, or holds a
    /// NUL, is refused (naming its parameter); a parameter whose name is not
    /// UTF-8 names nothing we read and is left out.
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        let mut pairs = Vec::new();
        for (name, value) in decode_pairs(query.as_bytes()) {
            let Some(name) = name else { continue };
            match value {
                None => return Err(QueryError::NotUtf8(name)),
                Some(value) if value.contains('\0') => return Err(QueryError::NullCharacter(name)),
                Some(value) => pairs.push((name, value)),
            }
        }
        Ok(QueryParams(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// This request's absolute URL with these parameters, `page` set (or
    /// removed when `None`); scheme and host as [`request_origin`] reads them.
    pub fn url_with_page(
        &self,
        request: &HttpRequest,
        trusted: &TrustedProxies,
        page: Option<i64>,
    ) -> String {
        let (scheme, host) = request_origin(request, trusted);
        let mut pairs: Vec<(&str, String)> = self
            .0
            .iter()
            .filter(|(key, _)| key != "page")
            .map(|(key, value)| (key.as_str(), value.clone()))
            .collect();
        if let Some(page) = page {
            pairs.push(("page", page.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let base = format!("{scheme}://{host}{}", request.path());
        if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_of_a_repeated_parameter_wins() {
        let query = QueryParams::parse("page=1&search=a&page=3").unwrap_or_default();
        assert_eq!(query.get("page"), Some("3"));
        assert_eq!(query.get("search"), Some("a"));
        assert_eq!(query.get("missing"), None);
        assert!(matches!(
            QueryParams::parse("search=a%00b"),
            Err(QueryError::NullCharacter(name)) if name == "search"
        ));
        assert!(matches!(
            QueryParams::parse("page=1&search=%FF"),
            Err(QueryError::NotUtf8(name)) if name == "search"
        ));
        let ignored = QueryParams::parse("%FF=1&search=%C3%A9").unwrap_or_default();
        assert_eq!(ignored.get("search"), Some("\u{e9}"));
    }
}
