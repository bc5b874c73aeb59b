//! The access log: one line per request, with the request line and status,
//! never a header (so never an `Authorization` key) and never a secret sent
//! in a query string.
//!
//! Keys, reset tokens and verification keys end up in query strings: a
//! client that sends `?access_token=`, or a mail link whose host is the
//! service itself (the default `PASSWORD_RESET_URL` is
//! `/reset?uid=…&token=…`). The log shows such a parameter as
//! `name=[redacted]`, chosen by its name or by a value that looks like a key;
//! every other parameter, the path and the rest of the line stay as sent.

use actix_web::dev::ServiceRequest;
use actix_web::middleware::Logger;
use percent_encoding::percent_decode_str;

/// What a redacted value (or a parameter whose name looks like a key) is
/// written as.
pub const REDACTED: &str = "[redacted]";

/// Parameters that carry a secret by their name alone, compared in lower
/// case after percent-decoding.
const SECRET_NAMES: &[&str] = &[
    "token",
    "key",
    "uid",
    "code",
    "access_token",
    "refresh_token",
    "id_token",
    "refresh",
    "api_key",
    "apikey",
    "password",
    "secret",
    "client_secret",
    "device_code",
    "user_code",
    "otp",
];

/// The shortest value taken for a key by its shape alone: shorter than any
/// key the service or its predecessors issue (DRF's 40 hex digits), longer
/// than any page number, client name prefix or search a human types.
const MIN_KEY_CHARS: usize = 32;

/// The access-log middleware: `%a "%r" %s %b %Dms` with the query redacted.
pub fn logger() -> Logger {
    Logger::new("%a \"%{request_line}xi\" %s %b %Dms")
        .custom_request_replace("request_line", request_line)
}

/// actix-web's `%r` (`METHOD PATH[?QUERY] VERSION`), with the query redacted.
fn request_line(request: &ServiceRequest) -> String {
    let query = request.query_string();
    let query = match query.is_empty() {
        true => String::new(),
        false => format!("?{}", redacted_query(query)),
    };
    format!(
        "{} {}{query} {:?}",
        request.method(),
        request.path(),
        request.version()
    )
}

/// `query` with the value of every secret parameter replaced by
/// [`REDACTED`]; a parameter whose name looks like a key is replaced whole.
pub fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = match pair.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (pair, None),
            };
            let decoded_name = decoded(name);
            if looks_like_key(&decoded_name) {
                return REDACTED.to_owned();
            }
            match value {
                Some(value)
                    if SECRET_NAMES.contains(&decoded_name.to_lowercase().as_str())
                        || looks_like_key(&decoded(value)) =>
                {
                    format!("{name}={REDACTED}")
                }
                _ => pair.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent- and `+`-decoded, as a form parser would read it.
fn decoded(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .trim()
        .to_owned()
}

/// Whether `value` has the shape of a key: a multitoken key (`mt_…`), or a
/// long run of the characters keys are written in (DRF's 40 hex digits,
/// knox's 64, base64 and base64url bodies, JWTs with their dots).
fn looks_like_key(value: &str) -> bool {
    let key_chars = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c);
    let is_jwt = value.split('.').count() == 3
        && value.len() >= 16
        && value.split('.').all(|part| !part.is_empty())
        && value.chars().all(key_chars);
    value.starts_with("mt_")
        || is_jwt
        || (value.len() >= MIN_KEY_CHARS && value.chars().all(key_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parameters_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redacted_query("token=abc&key=def&page=2"),
            "token=[redacted]&key=[redacted]&page=2"
        );
        assert_eq!(
            redacted_query("uid=Nw&token=cz1x-0123abcdef"),
            "uid=[redacted]&token=[redacted]"
        );
        assert_eq!(
            redacted_query("Code=123456&search=alice&page=3"),
            "Code=[redacted]&search=alice&page=3"
        );
        assert_eq!(redacted_query("%74oken=abc"), "%74oken=[redacted]");
        assert_eq!(redacted_query("page=2"), "page=2");
        assert_eq!(redacted_query("a&b=&=c"), "a&b=&=c");
    }

    #[test]
    fn values_shaped_like_keys_are_redacted_whatever_their_name() {
        let mt = format!("mt_{}", "A".repeat(49));
        let drf = "0123456789abcdef0123456789abcdef01234567";
        let knox = "ab".repeat(32);
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        for secret in [mt.as_str(), drf, knox.as_str(), jwt] {
            let query = format!("access_token={secret}&x={secret}&page=2");
            assert_eq!(
                redacted_query(&query),
                "access_token=[redacted]&x=[redacted]&page=2"
            );
            assert_eq!(redacted_query(secret), REDACTED, "a bare value");
            let named = format!("{secret}=1");
            assert_eq!(redacted_query(&named), REDACTED, "a key as a name");
        }
        assert_eq!(
            redacted_query(&format!("x=mt_{}", "%41".repeat(10))),
            "x=[redacted]",
            "percent-encoded"
        );
    }

    #[test]
    fn ordinary_values_are_not_taken_for_keys() {
        for query in [
            "page=12",
            "search=alice%40example.com",
            "type=login&user=7&from=2026-12-01T00:00:00Z",
            "client=web.app-1",
            "v=1.2.3",
        ] {
            assert_eq!(redacted_query(query), query);
        }
    }
}
