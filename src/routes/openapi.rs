//! The OpenAPI 3 description served at `/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations listed in `routes::endpoints!`.
//!
//! Request and response bodies are the handlers' own types, next to them.
//! This module holds what every operation shares: the error shapes, the
//! `{"status"}` of the probes, the refusals several operations answer
//! alike ([`NotAdmin`], [`Restricted`], [`InvalidPage`],
//! [`MalformedAddress`], [`NoTokenField`]), and [`Conventions`], which adds
//! the security schemes, the `401` every authenticated operation can
//! answer, the `503` every operation that needs the database can answer,
//! one operation id per operation, the sentence that says a body may also
//! come in the other media type, and the `400`, `408`, `413` and `415`
//! every operation that reads a body can answer.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::OneOfBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Schema,
};
use utoipa::{IntoResponses, Modify, PartialSchema, ToSchema};

/// The names of the security schemes in the document.
pub const TOKEN_SCHEME: &str = "Token";
pub const CONSOLE_SESSION_SCHEME: &str = "ConsoleSession";
pub const API_KEY_SCHEME: &str = "ApiKey";

/// A request-level error or message: `{"detail": "..."}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "Not found."}))]
pub struct Detail {
    pub detail: String,
}

impl Detail {
    pub fn new(detail: &str) -> Self {
        Detail {
            detail: detail.to_owned(),
        }
    }
}

/// Field validation errors: each field with its messages; errors not tied
/// to one field are under `non_field_errors`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"password": ["This password is too short. It must contain at least 8 characters."]}))]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

/// What the probes answer.
#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The refusal of every admin operation (the `Admin` extractor) to others.
// The response sets are documentation only, never built: the handlers
// answer through `ApiError`.
#[derive(IntoResponses)]
#[response(status = 403, description = "Not an admin")]
#[allow(dead_code)]
pub struct NotAdmin(Detail);

/// The refusal of every operation a token with scopes may not do (the
/// `Unrestricted` extractor).
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "A restricted token (one with scopes) may not do this"
)]
#[allow(dead_code)]
pub struct Restricted(Detail);

/// A listing's answer to a `page` past the last or not a number.
#[derive(IntoResponses)]
#[response(status = 404, description = "Invalid page")]
#[allow(dead_code)]
pub struct InvalidPage(Detail);

/// What `/password/reset` and `/register/resend-email` refuse: they read
/// the address alike.
#[derive(IntoResponses)]
#[response(status = 400, description = "Missing or malformed address")]
#[allow(dead_code)]
pub struct MalformedAddress(FieldErrors);

/// What `/introspect` and `/token/verify` refuse: a body without the
/// `token` field they both read the key from.
// One set, as the refusal is one: a key can be neither looked up nor
// verified without it.
#[derive(IntoResponses)]
#[response(status = 400, description = "No `token` field")]
#[allow(dead_code)]
pub struct NoTokenField(FieldErrors);

/// Adds what every operation shares: the `Token` scheme, the error
/// schemas, a `401` on each operation that needs a token, and the body
/// conventions' errors on each operation that reads one.
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>` (the keyword in any case), or `Bearer <key>`, or `Bearer <access JWT>` (from `POST /token`).",
            ))),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The key alone, for `/auth/verify` behind an API whose own `Authorization` \
                 means something else; a `Token` or `Bearer` `Authorization` header wins.",
            ))),
        );
        components.add_security_scheme(
            CONSOLE_SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::http::session::COOKIE_NAME,
                "An admin's console session (sign in at /console/). Unsafe methods must also \
                 send the session's CSRF token (the console pages' `<meta name=\"csrf-token\">`) \
                 in `X-CSRF-Token`.",
            ))),
        );
        components
            .schemas
            .insert(<Detail as ToSchema>::name().into_owned(), Detail::schema());
        components.schemas.insert(
            <FieldErrors as ToSchema>::name().into_owned(),
            FieldErrors::schema(),
        );
        let unauthorized = detail_response(
            "No valid token (see the contract's table of messages); \
             `WWW-Authenticate: Token`.",
        );
        // A method a path does not serve is no operation of it, so the 405
        // can only be said once, for the whole document.
        let description = openapi.info.description.get_or_insert_with(String::new);
        description.push_str(
            " Every path answers a method it does not serve with \
             `405 {\"detail\": \"Method \\\"<METHOD>\\\" not allowed.\"}`, and an unknown path \
             with `404 {\"detail\": \"Not found.\"}`.",
        );
        let unavailable = unavailable_response();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let needs_database = !DATABASE_FREE.contains(&path.as_str());
            let shared_ids = shared_operation_ids(item);
            for (method, operation) in operations_mut(item) {
                if operation
                    .operation_id
                    .as_ref()
                    .is_some_and(|id| shared_ids.contains(id))
                {
                    distinguish_operation_id(operation, method);
                }
                if needs_database {
                    answers(operation, "503", || unavailable.clone());
                }
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                if secured {
                    answers(operation, "401", || unauthorized.clone());
                }
                if operation.request_body.is_some() {
                    if !RAW_JSON_BODIES.contains(&path.as_str()) {
                        state_other_media_type(operation);
                    }
                    add_body_responses(operation);
                }
            }
        }
    }
}

/// The operations that answer without the database.
const DATABASE_FREE: [&str; 2] = ["/healthz", "/openapi.json"];

/// The operations that read their body as JSON only, not as `Fields`.
const RAW_JSON_BODIES: [&str; 1] = ["/secret-scanning/github"];

/// The database unreachable or busy, or (for a login) the hashing queue
/// full: the client may retry after `Retry-After` seconds.
fn unavailable_response() -> RefOr<Response> {
    detail_response_builder(
        "The database is unreachable or busy, or the password-hashing queue is full; \
         retry after `Retry-After` seconds.",
    )
    .header(
        "Retry-After",
        utoipa::openapi::HeaderBuilder::new()
            .schema(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer),
            )
            .description(Some("Seconds to wait before retrying"))
            .build(),
    )
    .build()
    .into()
}

/// The operation ids that several methods of a path share: those of a
/// handler that answers several methods (`/auth/verify`).
fn shared_operation_ids(item: &mut PathItem) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    operations_mut(item)
        .filter_map(|(_, operation)| operation.operation_id.clone())
        .filter(|id| !seen.insert(id.clone()))
        .collect()
}

/// A generated client needs one operation id per operation: a shared one
/// gets the method appended (`forward_auth_get`).
fn distinguish_operation_id(operation: &mut Operation, method: &str) {
    if let Some(id) = operation.operation_id.as_mut() {
        id.push('_');
        id.push_str(method);
    }
}

/// Every body is read as JSON or as a URL-encoded form with the same fields
/// (`crate::http::body::Fields`). The document offers one media type per
/// body, as generated clients need (one schema under two media types makes
/// some generate a client that does not import): JSON, or a form for the
/// OAuth endpoints, whose RFCs send forms. The other is said in words.
fn state_other_media_type(operation: &mut Operation) {
    let Some(body) = operation.request_body.as_ref() else {
        return;
    };
    let other = if body.content.contains_key("application/json") {
        "a URL-encoded form (`application/x-www-form-urlencoded`)"
    } else {
        "JSON (`application/json`)"
    };
    let description = operation.description.get_or_insert_with(String::new);
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(&format!(
        "The body may also be sent as {other} with the same fields."
    ));
}

/// What any operation that reads a body can answer, by the contract's
/// conventions (`crate::http::body::Fields`): a body that cannot be parsed is a
/// `400 {"detail"}` (so a `400` that lists field errors becomes one of
/// the two shapes), one too slow to arrive a `408`, one over 64 KiB a
/// `413`, another media type a `415`.
fn add_body_responses(operation: &mut Operation) {
    match operation
        .responses
        .responses
        .entry("400".into())
        .or_insert_with(|| {
            detail_response("A body that cannot be parsed (`JSON parse error - ...`).")
        }) {
        RefOr::T(bad_request) => {
            let mut widened = false;
            for content in bad_request.content.values_mut() {
                if content.schema == Some(schema_ref::<FieldErrors>()) {
                    content.schema = Some(
                        OneOfBuilder::new()
                            .item(schema_ref::<FieldErrors>())
                            .item(schema_ref::<Detail>())
                            .into(),
                    );
                    widened = true;
                }
            }
            if widened {
                bad_request.description.push_str(
                    "; or a body that cannot be parsed: `{\"detail\": \"JSON parse error - ...\"}`",
                );
            }
        }
        RefOr::Ref(_) => {}
    }
    answers(operation, "408", || {
        detail_response("The body did not arrive in time (10 s once the headers have).")
    });
    answers(operation, "413", || {
        detail_response("The body is over 64 KiB.")
    });
    answers(operation, "415", || {
        detail_response("The body is neither JSON nor a URL-encoded form.")
    });
}

/// Documents `response` under `status`, unless the operation documents
/// that status itself.
fn answers(operation: &mut Operation, status: &str, response: impl FnOnce() -> RefOr<Response>) {
    operation
        .responses
        .responses
        .entry(status.into())
        .or_insert_with(response);
}

/// A reference to one of the shared schemas.
fn schema_ref<T: ToSchema>() -> RefOr<Schema> {
    Ref::from_schema_name(T::name()).into()
}

/// A response whose body is a [`Detail`].
fn detail_response(description: &str) -> RefOr<Response> {
    detail_response_builder(description).build().into()
}

fn detail_response_builder(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(schema_ref::<Detail>()))
            .build(),
    )
}

/// A path's operations, each with its method as the document writes it.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
}
