//! What every console handler does first: find the signed-in admin, check a
//! form's CSRF token, read form fields, and answer with a page or a redirect.

use super::error::ConsoleError;
use super::layout::{self, Chrome};
use crate::http::body::Fields;
use crate::http::session::{self as console_session, SignedIn, CSRF_FIELD};
use crate::service::{Error, Services};
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use maud::Markup;

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// The signed-in admin and the session's CSRF token, or a redirect to the
/// sign-in page.
pub async fn require_admin(
    services: &Services,
    session: &Session,
) -> Result<(SignedIn, String), ConsoleError> {
    let admin = console_session::signed_in(services, session)
        .await?
        .ok_or(ConsoleError::SignIn)?;
    let csrf = console_session::csrf_token(session)?;
    Ok((admin, csrf))
}

/// The signed-in admin of a page that reads no form (the extractor runs
/// [`require_admin`] before the handler), with the session for the page's
/// CSRF token and flash message.
pub struct AdminPage {
    pub admin: SignedIn,
    pub csrf: String,
    pub session: Session,
}

impl AdminPage {
    pub fn chrome(&self) -> Chrome<'_> {
        Chrome::of(&self.admin, &self.csrf)
    }

    /// The page, `render`ed as [`admin_page`] renders it.
    pub fn render(&self, render: impl FnOnce(&Chrome<'_>, Option<&str>) -> Markup) -> HttpResponse {
        admin_page(&self.admin, &self.csrf, &self.session, render)
    }
}

impl FromRequest for AdminPage {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = request.get_session();
        let services = request.app_data::<web::Data<Services>>().cloned();
        Box::pin(async move {
            let services =
                services.ok_or_else(|| Error::internal("the services are not configured"))?;
            let (admin, csrf) = require_admin(&services, &session).await?;
            Ok(AdminPage {
                admin,
                csrf,
                session,
            })
        })
    }
}

/// A page of the signed-in admin's, `render`ed with its chrome (who is
/// signed in, the CSRF token of its forms) and the session's flash
/// message, which is taken: it shows once.
pub fn admin_page(
    admin: &SignedIn,
    csrf: &str,
    session: &Session,
    render: impl FnOnce(&Chrome<'_>, Option<&str>) -> Markup,
) -> HttpResponse {
    let chrome = Chrome::of(admin, csrf);
    let flash = console_session::take_flash(session);
    layout::html(StatusCode::OK, render(&chrome, flash.as_deref()))
}

/// Refuses a form whose CSRF token is missing or not this session's.
fn check_csrf(session: &Session, fields: &Fields) -> Result<(), ConsoleError> {
    let presented = fields.text(CSRF_FIELD).ok().flatten();
    if console_session::csrf_matches(session, presented) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
}

/// A form posted with this session's CSRF token, and the session. Every
/// state-changing handler takes one instead of the body itself, so the
/// token is checked before the handler runs and none can forget to: a
/// form without it is the console's 403 page (a body that cannot be read
/// at all is refused as the API refuses it, before the token is looked for).
pub struct PostedForm {
    pub fields: Fields,
    pub session: Session,
}

impl PostedForm {
    /// A field's text; a field that is absent or not text (not UTF-8, or
    /// with a NUL) reads as left blank.
    pub fn text(&self, name: &str) -> String {
        self.fields
            .text(name)
            .ok()
            .flatten()
            .unwrap_or("")
            .to_owned()
    }

    /// A field's text without surrounding blanks, or `None` when that
    /// leaves nothing: an optional field such as a second-factor code,
    /// which a form sends empty when it is not filled in.
    pub fn filled(&self, name: &str) -> Option<String> {
        Some(self.text(name).trim().to_owned()).filter(|text| !text.is_empty())
    }
}

impl FromRequest for PostedForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = request.get_session();
        let fields = Fields::from_request(request, payload);
        Box::pin(async move {
            let fields = fields.await?;
            check_csrf(&session, &fields)?;
            Ok(PostedForm { fields, session })
        })
    }
}

/// A user id from a path; anything else is a page that does not exist.
pub fn user_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse().map_err(|_| ConsoleError::NotFound)
}
