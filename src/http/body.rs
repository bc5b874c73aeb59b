//! Request bodies as the contract takes them: JSON or URL-encoded form, the
//! same fields either way, at most 64 KiB, unknown fields ignored.
//!
//! Handlers take [`Fields`] and read their typed request from it
//! ([`FromFields`]): the same struct is the body's schema in the OpenAPI
//! document. Decoding is a pure function ([`Fields::decode`]) so it can be
//! tested and fuzzed alone.

use super::error::ApiError;
use crate::domain::messages::{
    not_a_list, too_many_elements, EMPTY_LIST, INVALID_SCOPES, INVALID_UTF8, NOT_A_BOOLEAN,
    NOT_A_STRING, NULL_CHARACTERS, REQUIRED,
};
use crate::domain::validation::FieldErrors;
use crate::domain::Scopes;
use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a body may take to arrive once the headers have, registered as
/// app data by `startup` (a default when absent): a client that trickles
/// its body gets a `408` instead of holding the connection at will.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fields {
    values: Map<String, Value>,
    /// Form fields whose (last) value was not UTF-8: reading one is an error.
    not_utf8: BTreeSet<String>,
}

/// One `name=value` pair of a URL-encoded form or query string, with `+`
/// read as a space and percent-escapes decoded; `None` for a part whose
/// decoded bytes are not UTF-8.
pub type Pair = (Option<String>, Option<String>);

/// The pairs of a form body or query string, in order, decoded strictly
/// (see [`Pair`]); empty pieces (`a=1&&b=2`) are skipped, and a piece
/// without `=` is a name with an empty value, as browsers and Django read them.
pub fn decode_pairs(input: &[u8]) -> Vec<Pair> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    input
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &[][..]),
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// A typed request body, read field by field as Django REST Framework reads
/// a serializer's fields: every problem recorded in `errors` at once, the
/// fields that could be read kept, so that the use case can add its own
/// problems to the same report.
pub trait FromFields: Sized {
    fn from_fields(fields: &Fields, errors: &mut FieldErrors) -> Self;
}

impl Fields {
    /// The typed request, with what went wrong reading it.
    pub fn read<T: FromFields>(&self) -> (T, FieldErrors) {
        let mut errors = FieldErrors::new();
        let request = T::from_fields(self, &mut errors);
        (request, errors)
    }
}

/// A use case's request read whole from a body: every field parsed into its
/// domain type, or every problem found, reported at once as Django REST
/// Framework reports a serializer's. What a handler hands its use case is
/// then complete: no field of it is "maybe there" after validation.
///
/// The body's schema in the OpenAPI document stays a struct of its own
/// (it says what a client sends, not what the use case receives).
pub trait ParseFields: Sized {
    fn parse_fields(fields: &Fields) -> Result<Self, FieldErrors>;
}

impl Fields {
    /// The use case's request, or every problem with the body.
    pub fn parse<T: ParseFields>(&self) -> Result<T, FieldErrors> {
        T::parse_fields(self)
    }
}

/// Ends a [`ParseFields`] read: the request, built once every field it needs
/// was read, or the problems recorded while reading them. A read that gives
/// no value (`Fields::required`, …) records why, so a missing value always
/// comes with its problem.
pub fn complete<T>(request: Option<T>, errors: FieldErrors) -> Result<T, FieldErrors> {
    debug_assert!(
        request.is_some() || !errors.is_empty(),
        "a field read gave no value and recorded no problem"
    );
    match request {
        Some(request) if errors.is_empty() => Ok(request),
        _ => Err(errors),
    }
}

impl Fields {
    /// The value of a body's one required text field, or its problem.
    pub fn only_required(&self, name: &str) -> Result<String, FieldErrors> {
        let mut errors = FieldErrors::new();
        let value = self.required(name, &mut errors);
        complete(value, errors)
    }

    /// Decodes a body of the given `Content-Type`; an empty body is no fields.
    pub fn decode(content_type: &str, body: &[u8]) -> Result<Self, ApiError> {
        if body.is_empty() {
            return Ok(Fields::default());
        }
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media_type.as_str() {
            "application/json" => {
                let value: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?;
                match value {
                    Value::Object(values) => Ok(Fields {
                        values,
                        not_utf8: BTreeSet::new(),
                    }),
                    other => Err(ApiError::field(
                        "non_field_errors",
                        format!(
                            "Invalid data. Expected a dictionary, but got {}.",
                            json_kind(&other)
                        ),
                    )),
                }
            }
            "application/x-www-form-urlencoded" => {
                let mut fields = Fields::default();
                for (name, value) in decode_pairs(body) {
                    // A name that is not UTF-8 names no field we read.
                    let Some(name) = name else { continue };
                    // Like Django's QueryDict, the last value of a repeated field wins.
                    match value {
                        Some(value) => {
                            fields.not_utf8.remove(&name);
                            fields.values.insert(name, Value::String(value));
                        }
                        None => {
                            fields.values.remove(&name);
                            fields.not_utf8.insert(name);
                        }
                    }
                }
                Ok(fields)
            }
            _ => Err(ApiError::UnsupportedMediaType(
                content_type.trim().to_owned(),
            )),
        }
    }

    /// The value of a field, `Ok(None)` when absent; an error for a form
    /// value that was not UTF-8.
    fn value(&self, name: &str) -> Result<Option<&Value>, &'static str> {
        if self.not_utf8.contains(name) {
            return Err(INVALID_UTF8);
        }
        Ok(self.values.get(name))
    }

    /// A text field: `Ok(None)` when absent or null, an error when not a
    /// string, when it holds a NUL character, or when it was not UTF-8.
    pub fn text(&self, name: &str) -> Result<Option<&str>, &'static str> {
        match self.value(name)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.contains('\0') => Err(NULL_CHARACTERS),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(NOT_A_STRING),
        }
    }

    /// A required text field; records "This field is required." (or the type
    /// error) in `errors` and returns `None` when it is missing or empty.
    pub fn required(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        match self.text(name) {
            Ok(Some(text)) if !text.is_empty() => Some(text.to_owned()),
            Ok(_) => {
                errors.add(name, REQUIRED);
                None
            }
            Err(message) => {
                errors.add(name, message);
                None
            }
        }
    }

    /// An optional text field; a wrong type is recorded in `errors`.
    pub fn optional(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        match self.text(name) {
            Ok(text) => text.map(str::to_owned),
            Err(message) => {
                errors.add(name, message);
                None
            }
        }
    }
}

impl Fields {
    /// An optional boolean, read as Django REST Framework's `BooleanField`
    /// does: JSON `true`/`false`/`1`/`0`, or the words forms send (`true`,
    /// `on`, `yes`, `1`, ... in any case). Anything else is recorded in `errors`.
    pub fn boolean(&self, name: &str, errors: &mut FieldErrors) -> Option<bool> {
        let value = match self.value(name) {
            Ok(value) => value?,
            Err(message) => {
                errors.add(name, message);
                return None;
            }
        };
        let parsed = match value {
            Value::Null => return None,
            Value::Bool(value) => Some(*value),
            Value::Number(n) if n.as_i64() == Some(1) => Some(true),
            Value::Number(n) if n.as_i64() == Some(0) => Some(false),
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "t" | "y" | "yes" | "true" | "on" | "1" => Some(true),
                "f" | "n" | "no" | "false" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            errors.add(name, NOT_A_BOOLEAN);
        }
        parsed
    }
}

impl Fields {
    /// Optional scopes: a JSON list of strings, or one space-separated
    /// string (the only form a form body has). Absent, null, an empty list
    /// or an empty string are no scopes; anything invalid is recorded in
    /// `errors` as the contract's one message.
    pub fn scopes(&self, name: &str, errors: &mut FieldErrors) -> Scopes {
        let value = match self.value(name) {
            Ok(value) => value,
            Err(message) => {
                errors.add(name, message);
                return Scopes::unrestricted();
            }
        };
        let parsed = match value {
            None | Some(Value::Null) => Ok(Scopes::unrestricted()),
            Some(Value::String(text)) => Scopes::parse(text),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or(INVALID_SCOPES))
                .collect::<Result<Vec<&str>, _>>()
                .and_then(Scopes::parse_list),
            Some(_) => Err(INVALID_SCOPES),
        };
        parsed.unwrap_or_else(|message| {
            errors.add(name, message);
            Scopes::unrestricted()
        })
    }
}

impl Fields {
    /// Whether the body has this field, whatever its value.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name) || self.not_utf8.contains(name)
    }

    /// A required list of 1 to `max` strings, read as Django REST
    /// Framework's `ListField(child=CharField(), min_length=1)`; every
    /// problem recorded in `errors` under `name`.
    pub fn strings(&self, name: &str, max: usize, errors: &mut FieldErrors) -> Option<Vec<String>> {
        let items = match self.value(name) {
            Err(message) => {
                errors.add(name, message);
                return None;
            }
            Ok(None | Some(Value::Null)) => {
                errors.add(name, REQUIRED);
                return None;
            }
            Ok(Some(Value::Array(items))) => items,
            Ok(Some(other)) => {
                errors.add(name, not_a_list(json_kind(other)));
                return None;
            }
        };
        if items.is_empty() {
            errors.add(name, EMPTY_LIST);
            return None;
        }
        if items.len() > max {
            errors.add(name, too_many_elements(max));
            return None;
        }
        let strings: Option<Vec<String>> = items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect();
        if strings.is_none() {
            errors.add(name, NOT_A_STRING);
        }
        strings
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
        Value::Object(_) => "dict",
    }
}

/// Reads a request's body, at most [`MAX_BODY_BYTES`], within the body
/// read timeout: with its `Content-Type`.
fn read_body(
    request: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<(String, Vec<u8>), ApiError>> {
    let header_text = |name| {
        request
            .headers()
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let content_type = header_text(CONTENT_TYPE).unwrap_or_default();
    let declared_length =
        header_text(CONTENT_LENGTH).and_then(|length| length.trim().parse::<usize>().ok());
    let mut payload = payload.take();
    let timeout = request
        .app_data::<BodyReadTimeout>()
        .map_or(crate::config::BODY_READ_TIMEOUT, |timeout| timeout.0);
    Box::pin(async move {
        if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(ApiError::PayloadTooLarge);
        }
        let read = async {
            let mut body = Vec::with_capacity(declared_length.unwrap_or(0));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::BadRequest(format!("Could not read the request body: {e}"))
                })?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        let body = tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| ApiError::Status(StatusCode::REQUEST_TIMEOUT))??;
        Ok((content_type, body))
    })
}

impl FromRequest for Fields {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(request, payload);
        Box::pin(async move {
            let (content_type, body) = body.await?;
            Fields::decode(&content_type, &body)
        })
    }
}

/// A body's bytes as sent, for what signs them (GitHub's secret scanning
/// reports), under the same size and time limits as [`Fields`].
pub struct RawBody(pub Vec<u8>);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(request, payload);
        Box::pin(async move { Ok(RawBody(body.await?.1)) })
    }
}

#[cfg(test)]
mod tests;
