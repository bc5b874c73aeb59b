//! Building the application: database, state, routes and middleware, bound
//! to a listener. `Application::build` returns before serving, with the
//! bound port known, so tests can run the real server on port 0.

use crate::config::Settings;
use crate::console;
use crate::db::{self, DbSetupError};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::mail;
use crate::metrics::{self, Metrics};
use crate::routes;
use crate::service::password_reset::{self, ResetMailWorker};
use crate::service::passwords::PasswordHasher;
use crate::service::secret_key;
use crate::state::AppState;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::middleware::{
    from_fn, ErrorHandlerResponse, ErrorHandlers, Logger, NormalizePath, TrailingSlash,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Expired tokens are kept this long, then deleted by the background sweep.
pub const EXPIRED_TOKEN_GRACE: Duration = Duration::from_secs(86_400);
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
const SWEEP_BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    #[error("cannot prepare password hashing: {0}")]
    Hasher(ApiError),
    #[error("cannot register metrics: {0}")]
    Metrics(prometheus::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    reset_mail_worker: ResetMailWorker,
}

impl Application {
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.validate().map_err(StartupError::Settings)?;
        let applied = db::migrate(&settings.database_url)?;
        if applied > 0 {
            log::info!(
                "applied {applied} migration(s) to {}",
                settings.database_url.describe()
            );
        }
        let pool =
            db::pool_with_busy_timeout(&settings.database_url, settings.sqlite_busy_timeout)?;
        let secret_key = secret_key::resolve(
            &mut db::connect_once(&settings.database_url)?,
            settings.secret_key.as_ref(),
            settings.bind,
        )
        .map_err(StartupError::Settings)?;
        let mail_backend =
            mail::backend(&settings.mail).map_err(|e| StartupError::Settings(e.to_string()))?;
        let (reset_mails, reset_mail_worker) = password_reset::queue(mail_backend);
        let cores = match settings.password_hash_threads {
            Some(threads) => threads as usize,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        let hasher = PasswordHasher::new(cores, 64 * cores).map_err(StartupError::Hasher)?;
        let state = web::Data::new(AppState {
            pool,
            policy: settings.token_policy(),
            settings: Arc::new(settings.clone()),
            hasher,
            reads_inline: matches!(settings.database_url, db::Database::Sqlite { .. }),
            secret_key,
            reset_mails,
            metrics: Metrics::new().map_err(StartupError::Metrics)?,
        });
        let listener =
            TcpListener::bind(settings.bind).map_err(|e| StartupError::Bind(settings.bind, e))?;
        let address = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(settings.bind, e))?;
        let app_state = state.clone();
        let console_key =
            console::console_session_key(&state.secret_key).map_err(StartupError::Settings)?;
        let console_settings = settings.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(console::session_middleware(
                    &console_settings,
                    console_key.clone(),
                ))
                .wrap(from_fn(metrics::record_request))
                .wrap(ErrorHandlers::new().default_handler(json_error_body))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                // The request line and status only: never headers, so never a token.
                .wrap(Logger::new("%a \"%r\" %s %b %Dms"))
                .configure(routes::configure)
                .configure(console::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .map_err(|e| StartupError::Bind(settings.bind, e))?
        .run();
        log::info!(
            "serving on http://{address} with {}",
            settings.database_url.describe()
        );
        Ok(Application {
            port: address.port(),
            server,
            state,
            reset_mail_worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        actix_web::rt::spawn(sweep_expired_tokens(self.state.clone()));
        actix_web::rt::spawn(self.reset_mail_worker.run(self.state.clone()));
        self.server.await
    }
}

/// Deletes tokens a day after they expired, and the login throttle's
/// counts whose window has closed.
async fn sweep_expired_tokens(state: web::Data<AppState>) {
    // A zero period would make `interval` panic.
    let period = state.settings.sweep_interval.max(Duration::from_millis(1));
    let mut every = actix_web::rt::time::interval(period);
    loop {
        every.tick().await;
        let cutoff = Timestamp::now().minus(EXPIRED_TOKEN_GRACE);
        let swept = sweep_in_batches(
            &state,
            "expired-token",
            cutoff,
            db::tokens::delete_expired_batch,
        )
        .await;
        if swept > 0 {
            log::info!("swept {swept} expired token(s)");
        }
        let cutoff = Timestamp::now().minus(state.settings.login_throttle.window);
        sweep_in_batches(
            &state,
            "throttle",
            cutoff,
            db::login_failures::delete_closed_batch,
        )
        .await;
    }
}

/// Runs `delete_batch` until it deletes nothing, pausing between batches so
/// that no sweep holds the write lock for long; returns how many it deleted.
async fn sweep_in_batches(
    state: &web::Data<AppState>,
    what: &str,
    cutoff: Timestamp,
    delete_batch: fn(&mut db::AnyConnection, i64, i64) -> diesel::QueryResult<usize>,
) -> usize {
    let mut swept = 0;
    loop {
        let batch = state
            .db(move |conn| Ok(delete_batch(conn, cutoff.millis(), SWEEP_BATCH)?))
            .await;
        match batch {
            Ok(0) => return swept,
            Ok(deleted) => swept += deleted,
            Err(error) => {
                log::warn!("{what} sweep stopped: {error}");
                return swept;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keeps every error response JSON, including the ones actix-web produces by
/// itself (malformed paths, and anything not routed through `ApiError`).
fn json_error_body<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let content_type = response.headers().get(CONTENT_TYPE);
    let is_json =
        content_type.is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    // The console's own error pages are HTML on purpose.
    let is_console_page = response.request().path().starts_with("/console")
        && content_type.is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if is_json || is_console_page {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let detail = match status {
        StatusCode::NOT_FOUND => "Not found.".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("Method \"{}\" not allowed.", response.request().method())
        }
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large.".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "A server error occurred.".to_owned(),
        other => format!("{}.", other.canonical_reason().unwrap_or("Error")),
    };
    let (request, _) = response.into_parts();
    let replacement = HttpResponse::build(status).json(json!({ "detail": detail }));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, replacement).map_into_right_body(),
    ))
}
