//! Signing in with an OpenID Connect provider (social login).

use super::login::{read_client, TokenResponse};
use super::openapi::Detail;
use crate::domain::{ClientName, FieldErrors, Scopes};
use crate::http::body::{Fields, FromFields};
use crate::http::request::request_source;
use crate::http::ApiError;
use crate::service::sign_in::oidc::providers::Proof;
use crate::service::sign_in::oidc::{login as log_in, OidcLoginRequest};
use crate::service::{Error, Services};
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

/// `POST /login/oidc/{provider}` (JSON or form): `client`, and either
/// `id_token` or `code` + `redirect_uri` + `code_verifier`.
#[derive(ToSchema)]
pub struct OidcLoginBody {
    /// 1-64 ASCII letters, digits, `.`, `_` or `-`.
    #[schema(required = true, pattern = "^[A-Za-z0-9._-]{1,64}$", value_type = String)]
    pub client: Option<ClientName>,
    /// Optional, as for `/login`.
    #[schema(required = false, value_type = Option<Vec<String>>)]
    pub scopes: Scopes,
    /// An ID token the app obtained from the provider itself (mobile apps).
    #[schema(required = false, value_type = Option<String>)]
    pub id_token: Option<String>,
    /// When sent, the ID token's `nonce` must be this.
    #[schema(required = false, value_type = Option<String>)]
    pub nonce: Option<String>,
    /// An authorization code (web apps), exchanged here with the next two.
    #[schema(required = false, value_type = Option<String>)]
    pub code: Option<String>,
    /// The `redirect_uri` the code was issued for.
    #[schema(required = false, value_type = Option<String>)]
    pub redirect_uri: Option<String>,
    /// The PKCE verifier whose challenge the authorization request sent.
    #[schema(required = false, value_type = Option<String>)]
    pub code_verifier: Option<String>,
    /// Required when the user has two-factor on, as for `/login`.
    #[schema(required = false, value_type = Option<String>)]
    pub otp: Option<String>,
}

impl FromFields for OidcLoginBody {
    fn from_fields(fields: &Fields, errors: &mut FieldErrors) -> Self {
        let client = read_client(fields, errors);
        let scopes = fields.scopes("scopes", errors);
        let nonce = fields.optional("nonce", errors).filter(|n| !n.is_empty());
        let otp = fields.optional("otp", errors);
        let code = fields.optional("code", errors).filter(|c| !c.is_empty());
        // A code asks for the rest of the code flow; anything else for an ID token.
        let (id_token, redirect_uri, code_verifier) = match code {
            Some(_) => (
                None,
                fields.required("redirect_uri", errors),
                fields.required("code_verifier", errors),
            ),
            None => (fields.required("id_token", errors), None, None),
        };
        OidcLoginBody {
            otp,
            client,
            scopes,
            id_token,
            nonce,
            code,
            redirect_uri,
            code_verifier,
        }
    }
}

impl OidcLoginBody {
    fn proof(&mut self) -> Option<Proof> {
        match (self.code.take(), self.id_token.take()) {
            (Some(code), _) => Some(Proof::Code {
                code,
                redirect_uri: self.redirect_uri.take()?,
                code_verifier: self.code_verifier.take()?,
            }),
            (None, Some(id_token)) => Some(Proof::IdToken(id_token)),
            (None, None) => None,
        }
    }
}

/// Sign in with an OpenID Connect provider: a new token for this client,
/// replacing the one it had, for the user the provider's ID token stands for.
#[utoipa::path(post, path = "/login/oidc/{provider}",
    params(("provider" = String, Path, description = "A provider named in `OIDC_PROVIDERS`")),
    request_body(content((OidcLoginBody = "application/json"), (OidcLoginBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "A new token (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "Missing or invalid fields, or a failed check of the provider's token (`non_field_errors`)", body = super::openapi::FieldErrors),
        (status = 403, description = "Maximum number of clients per user exceeded", body = Detail),
        (status = 404, description = "No such provider", body = Detail),
        (status = 429, description = "Too many failed logins (`Retry-After`)", body = Detail),
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
    let (mut body, errors) = fields.read::<OidcLoginBody>();
    errors.into_result()?;
    let (Some(client), Some(proof)) = (body.client.take(), body.proof()) else {
        return Err(Error::internal("validated OIDC login fields missing").into());
    };
    let login_request = OidcLoginRequest {
        provider: provider.into_inner(),
        proof,
        nonce: body.nonce,
        client,
        scopes: body.scopes,
        otp: body.otp,
    };
    let token = log_in(&services, login_request, &request_source(&request)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(TokenResponse {
            auth_token: token.key.expose().to_owned(),
            client: token.client.as_str().to_owned(),
            scopes: token.scopes.into_vec(),
            expires_at: token.expires_at,
        }))
}
