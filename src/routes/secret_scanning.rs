//! `POST /secret-scanning/github`: GitHub's secret scanning partner
//! program reports keys it found in public, signed with its keys.

use super::openapi::Detail;
use crate::http::body::RawBody;
use crate::http::request::Source;
use crate::http::ApiError;
use crate::service::tokens::secret_scanning::{report, ReportedKey, MAX_REPORTED_KEYS};
use crate::service::{Error, Services};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

/// One key GitHub found.
// Documentation only: the handler reads the items with serde.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportedKeySchema {
    /// The key as found.
    token: String,
    /// The secret type GitHub matched.
    #[schema(rename = "type")]
    kind: String,
    /// Where it was found.
    url: String,
    /// What kind of place (`content`, `commit`, …).
    source: String,
}

/// GitHub's verdict for one reported key.
// Documentation only: the service's `Label` is what is written.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LabelSchema {
    token_raw: String,
    token_type: String,
    /// `true_positive` for a key that was live (now revoked), else `false_positive`.
    #[schema(pattern = "^(true|false)_positive$")]
    label: String,
}

fn header<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
    request.headers().get(name)?.to_str().ok()
}

/// Receive GitHub's report of leaked keys: each live one is revoked
/// (`leaked`) and its owner mailed. Signed by GitHub over the raw body;
/// answers 404 unless `SECRET_SCANNING_GITHUB_KEYS` is set.
#[utoipa::path(post, operation_id = "report_leaked_keys_github", path = "/secret-scanning/github",
    request_body(content = Vec<ReportedKeySchema>, description = "At most 1000 items"),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Which of GitHub's keys signed"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the DER ECDSA P-256/SHA-256 signature over the raw body"),
    ),
    responses(
        (status = 200, description = "One label per item, in order", body = Vec<LabelSchema>),
        (status = 400, description = "Not an array of `{token, type, url, source}`, or more than 1000 items", body = Detail),
        (status = 401, description = "`{\"detail\": \"Invalid signature.\"}`: missing or bad signature, or an unknown key identifier", body = Detail),
        (status = 404, description = "`SECRET_SCANNING_GITHUB_KEYS` is not set", body = Detail),
        (status = 413, description = "A body over 64 KiB", body = Detail),
    ))]
pub async fn github(
    services: web::Data<Services>,
    Source(source): Source,
    request: HttpRequest,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    if !services.github_keys.enabled() {
        return Err(Error::NotFound.into());
    }
    let (Some(identifier), Some(signature)) = (
        header(&request, "Github-Public-Key-Identifier"),
        header(&request, "Github-Public-Key-Signature"),
    ) else {
        return Err(ApiError::BadSignature);
    };
    if !services
        .github_keys
        .verify(identifier, signature, &body)
        .await
    {
        return Err(ApiError::BadSignature);
    }
    let items: Vec<ReportedKey> = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadRequest(
            "Expected a list of {\"token\", \"type\", \"url\", \"source\"} objects.".to_owned(),
        )
    })?;
    if items.len() > MAX_REPORTED_KEYS {
        return Err(ApiError::BadRequest(format!(
            "Expected at most {MAX_REPORTED_KEYS} items."
        )));
    }
    let labels = report(&services, items, &source).await?;
    Ok(HttpResponse::Ok().json(labels))
}
