//! What a request says for DPoP (RFC 9449): its `DPoP` header, and the
//! method and URL its proof must name. For our own endpoints the URL is
//! `PUBLIC_URL` plus the path, or, when the peer is a trusted proxy, the
//! scheme and host it forwards plus the path; for `/auth/verify` it is the
//! original request's, as the proxy asking sends it.

use super::error::ApiError;
use super::request::request_origin;
use crate::domain::dpop::normalise_htu;
use crate::service::tokens::dpop::DpopRequest;
use crate::service::tokens::verify::TokenVerifier;
use crate::service::Error;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest};

/// The `DPoP` header: `Ok(None)` when absent, `Err` when sent more than
/// once or not text (RFC 9449 section 4.3 allows one).
pub fn proof_header(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let mut values = headers.get_all("dpop");
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let proof = first.to_str().map_err(|_| ())?.trim();
    Ok(Some(proof.to_owned()))
}

/// The request to one of our own endpoints, as its proof must name it.
pub fn own_request(
    request: &HttpRequest,
    verifier: &TokenVerifier,
    dpop_scheme: bool,
) -> DpopRequest {
    let proof = proof_header(request.headers());
    // Only a proof is compared with the URL; parsing it for every key
    // check cost a tenth of a `/whoami`.
    let url = matches!(proof, Ok(Some(_))).then(|| {
        let from_proxy = request.peer_addr().is_some_and(|peer| {
            verifier
                .trusted_proxies()
                .contains(peer.ip().to_canonical())
        });
        let path = request.path();
        if from_proxy && forwarded_origin(request.headers()) {
            let (scheme, host) = request_origin(request, verifier.trusted_proxies());
            format!("{scheme}://{host}{}{path}", public_prefix(verifier))
        } else {
            verifier.dpop().public_url().join(path)
        }
    });
    DpopRequest {
        dpop_scheme,
        proof,
        method: request.method().as_str().to_owned(),
        url: url.as_deref().and_then(normalise_htu),
    }
}

/// Whether a proxy said which scheme or host the client used.
fn forwarded_origin(headers: &HeaderMap) -> bool {
    ["forwarded", "x-forwarded-host", "x-forwarded-proto"]
        .iter()
        .any(|name| headers.contains_key(*name))
}

/// The path of `PUBLIC_URL` (empty, or `/prefix`), which a proxy keeps in
/// front of ours when it forwards its scheme and host.
fn public_prefix(verifier: &TokenVerifier) -> String {
    url::Url::parse(verifier.dpop().public_url().as_str())
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// The original request that a proxy asks `/auth/verify` about: its
/// method and URL from `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri`
/// (Traefik, Caddy), or `X-Original-Method` and `X-Original-URL` (nginx).
pub fn forwarded_request(request: &HttpRequest, dpop_scheme: bool) -> DpopRequest {
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let traefik = || {
        let method = text("x-forwarded-method")?;
        let url = format!(
            "{}://{}{}",
            text("x-forwarded-proto")?,
            text("x-forwarded-host")?,
            text("x-forwarded-uri")?
        );
        Some((method, url))
    };
    let nginx = || {
        Some((
            text("x-original-method")?,
            text("x-original-url")?.to_owned(),
        ))
    };
    let proof = proof_header(headers);
    // As in `own_request`: the URL matters only to a proof.
    let (method, url) = match proof {
        Ok(Some(_)) => traefik().or_else(nginx).unzip(),
        _ => (None, None),
    };
    DpopRequest {
        dpop_scheme,
        proof,
        method: method.unwrap_or_default().to_owned(),
        url: url.as_deref().and_then(normalise_htu),
    }
}

/// A sign-in's proof, when it sent one: the thumbprint that the key issued
/// is bound to. A bad proof answers `401` before anything is issued.
pub async fn sign_in_binding(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let verifier = request
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or_else(|| Error::internal("the token verifier is not configured"))?;
    let dpop = own_request(request, verifier, false);
    Ok(verifier.dpop().sign_in(&dpop).await?)
}
