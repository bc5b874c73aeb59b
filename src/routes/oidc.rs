//! Signing in with an OpenID Connect provider (social login).

use super::login::{read_client, token_answer, SignInLimits, TokenResponse};
use super::openapi::Detail;
use crate::domain::{ClientName, FieldErrors, Scopes};
use crate::http::body::{complete, Fields};
use crate::http::device_proof;
use crate::http::dpop::sign_in_binding;
use crate::http::request::request_source;
use crate::http::ApiError;
use crate::service::sign_in::device_key::SignInDevice;
use crate::service::sign_in::oidc::providers::Proof;
use crate::service::sign_in::oidc::{login as log_in, OidcLoginRequest};
use crate::service::{Error, Services};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

/// `POST /login/oidc/{provider}` (JSON or form): `client`, and either
/// `id_token` or `code` + `redirect_uri` + `code_verifier`.
// The body's schema in the OpenAPI document, never built: the body is read
// as the use case's `OidcLoginRequest` (see `read_login`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OidcLoginBody {
    /// 1-64 ASCII letters, digits, `.`, `_` or `-`.
    #[schema(required = true, pattern = "^[A-Za-z0-9._-]{1,64}$", value_type = String)]
    pub client: Option<ClientName>,
    /// Optional, as for `/login`.
    #[schema(required = false, value_type = Option<Vec<String>>)]
    pub scopes: Scopes,
    /// An ID token the app obtained from the provider itself (mobile apps).
    pub id_token: Option<String>,
    /// When sent, the ID token's `nonce` must be this.
    pub nonce: Option<String>,
    /// An authorization code (web apps), exchanged here with the next two.
    pub code: Option<String>,
    /// The `redirect_uri` the code was issued for.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier whose challenge the authorization request sent.
    pub code_verifier: Option<String>,
    /// Required when the user has two-factor on, as for `/login`.
    pub otp: Option<String>,
    /// Optional, as for `/login`: a valid proof of the user the provider's
    /// token stands for has a wrong two-factor code counted against itself.
    pub device_proof: Option<String>,
}

/// The login of `provider` from the body: the proof a code or an ID token.
fn read_login(
    request: &HttpRequest,
    fields: &Fields,
    provider: String,
) -> Result<OidcLoginRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let client = read_client(fields, &mut errors);
    let scopes = fields.scopes("scopes", &mut errors);
    let nonce = fields
        .optional("nonce", &mut errors)
        .filter(|n| !n.is_empty());
    let otp = fields.optional("otp", &mut errors);
    let field_proof = fields.optional(device_proof::FIELD, &mut errors);
    let device_proofs = device_proof::presented(request, field_proof);
    let code = fields
        .optional("code", &mut errors)
        .filter(|c| !c.is_empty());
    // A code asks for the rest of the code flow; anything else for an ID token.
    let proof = match code {
        Some(code) => {
            let redirect_uri = fields.required("redirect_uri", &mut errors);
            let code_verifier = fields.required("code_verifier", &mut errors);
            redirect_uri
                .zip(code_verifier)
                .map(|(redirect_uri, code_verifier)| Proof::Code {
                    code,
                    redirect_uri,
                    code_verifier,
                })
        }
        None => fields.required("id_token", &mut errors).map(Proof::IdToken),
    };
    let request = client.zip(proof).map(|(client, proof)| OidcLoginRequest {
        provider,
        proof,
        nonce,
        device: SignInDevice::unbound(client, scopes, otp, device_proofs),
    });
    complete(request, errors)
}

/// Sign in with an OpenID Connect provider: a new token for this client,
/// replacing the one it had, for the user the provider's ID token stands for.
#[utoipa::path(post, operation_id = "login_with_oidc", path = "/login/oidc/{provider}",
    params(("provider" = String, Path, description = "A provider named in `OIDC_PROVIDERS`")),
    request_body = OidcLoginBody,
    responses(
        (status = 200, description = "A new token (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "Missing or invalid fields, or a failed check of the provider's token (`non_field_errors`)", body = super::openapi::FieldErrors),
        (status = 404, description = "No such provider", body = Detail),
        SignInLimits,
        (status = 503, description = "The provider did not answer in time", body = Detail),
    ))]
pub async fn login_with_provider(
    services: web::Data<Services>,
    request: HttpRequest,
    provider: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    if !services.oidc.is_configured(&provider) {
        return Err(Error::NotFound.into());
    }
    let mut login_request = read_login(&request, &fields, provider.into_inner())?;
    login_request.device.key.dpop_jkt = sign_in_binding(&request).await?;
    let token = log_in(&services, login_request, &request_source(&request)).await?;
    Ok(token_answer(&services, token))
}
