//! Building the application: database, services, routes and middleware,
//! bound to a listener. `Application::build` returns before serving, with the
//! bound port known, so tests can run the real server on port 0.

use crate::config::Settings;
use crate::console;
use crate::db::{self, DbSetupError};
use crate::http::access_log;
use crate::http::body::BodyReadTimeout;
use crate::http::middleware::{json_error_body, record_request};
use crate::http::session::{console_session_key, session_middleware};
use crate::jobs;
use crate::mail;
use crate::mail::MailBackend;
use crate::metrics::Metrics;
use crate::routes;
use crate::service::shared::outbox::Outbox;
use crate::service::shared::passwords::PasswordHasher;
use crate::service::shared::secret_key;
use crate::service::tokens::cache::{CacheLimits, TokenCache};
use crate::service::tokens::jwt::AccessTokens;
use crate::service::tokens::revocation_sync::{Lease, RevocationSync};
use crate::service::tokens::verify::TokenVerifier;
use crate::service::{Error, Services};
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, DefaultHeaders, ErrorHandlers, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    #[error("cannot prepare password hashing: {}", .0.chain())]
    Hasher(Error),
    #[error("cannot register metrics: {0}")]
    Metrics(prometheus::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    services: Services,
    mail_backend: Arc<dyn MailBackend>,
}

impl Application {
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.validate().map_err(StartupError::Settings)?;
        // The port first: a port in use is told before anything is written
        // (no database file created or migrated, no key generated).
        let listener = TcpListener::bind(settings.server.bind)
            .map_err(|e| StartupError::Bind(settings.server.bind, e))?;
        let address = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(settings.server.bind, e))?;
        let applied = db::migrate(&settings.database.database_url)?;
        if applied > 0 {
            log::info!(
                "applied {applied} migration(s) to {}",
                settings.database.database_url.describe()
            );
        }
        let pool = db::pool_with(
            &settings.database.database_url,
            settings.database.pool_options(settings.caches_tokens()),
        )?;
        let secret_key = secret_key::resolve(
            &mut db::connect_once(&settings.database.database_url)?,
            settings.server.secret_key.as_ref(),
            settings.server.bind,
        )
        .map_err(StartupError::Settings)?;
        let mail_backend =
            mail::backend(&settings.mail.mail, settings.mail.smtp_ca_file.as_deref())
                .map_err(|e| StartupError::Settings(e.to_string()))?;
        let outbox = Outbox::new(&secret_key);
        let cores = match settings.server.password_hash_threads {
            Some(threads) => threads as usize,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        };
        let hasher = PasswordHasher::new(cores, 64 * cores).map_err(StartupError::Hasher)?;
        let timed = hasher
            .measure_floor(&mut db::connect_once(&settings.database.database_url)?)
            .map_err(StartupError::Hasher)?;
        if timed > 0 {
            log::info!(
                "failed password checks answer after {} ms at the earliest (the costliest of {timed} kind(s) of imported Django hash)",
                hasher.floor().as_millis()
            );
        }
        let metrics = Metrics::new().map_err(StartupError::Metrics)?;
        let access_tokens = AccessTokens::start(
            &mut db::connect_once(&settings.database.database_url)?,
            pool.clone(),
            &settings,
            &secret_key,
        )
        .map_err(StartupError::Settings)?;
        // Unset, PUBLIC_URL is the address bound (its port too, when port 0 asked for any).
        let public_url = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| crate::domain::PublicUrl::from_bind(address));
        let tokens = TokenVerifier::new(
            pool.clone(),
            settings.tokens.policy(),
            matches!(settings.database.database_url, db::Database::Sqlite { .. }),
            settings.tokens.legacy_tokens,
            metrics.clone(),
        )
        .with_work_timeout(settings.database.work_timeout())
        .with_touches_together()
        .with_access_tokens(access_tokens.clone())
        .with_trusted_proxies(settings.server.trusted_proxies.clone())
        .with_dpop(settings.dpop.dpop_proof_window, public_url.clone());
        let ack_timeout = settings.token_cache.revocation_ack_timeout;
        let (tokens, lease) = match settings.caches_tokens() {
            true => {
                let limits = CacheLimits {
                    ttl: settings.token_cache.token_cache_ttl,
                    max_entries: u64::from(settings.token_cache.token_cache_entries),
                    max_bytes: u64::from(settings.token_cache.token_cache_mib) << 20,
                };
                let lease = Arc::new(Lease::new(ack_timeout, metrics.clone()));
                let cache = TokenCache::new(limits, lease.clone(), metrics.clone());
                (tokens.with_cache(cache), Some(lease))
            }
            false => (tokens, None),
        };
        // Other instances may cache even when this one does not.
        let tokens = match settings.database.database_url {
            db::Database::Postgres { .. } => tokens.with_revocation_sync(RevocationSync::new(
                pool.clone(),
                ack_timeout,
                settings.database.work_timeout(),
                lease,
                metrics.clone(),
            )),
            db::Database::Sqlite { .. } => tokens,
        };
        let oidc = crate::service::sign_in::oidc::providers::Providers::new(
            &settings.oidc.oidc_providers,
            settings.oidc.oidc_http_timeout,
        )
        .map_err(StartupError::Settings)?;
        let github_keys = crate::service::tokens::secret_scanning::GithubKeys::load(
            settings.tokens.secret_scanning_github_keys.as_deref(),
            settings.oidc.oidc_http_timeout,
        )
        .map_err(StartupError::Settings)?;
        // Unset PUBLIC_URL: the address bound, whose port 0 (tests) is now known.
        let mut settings = settings;
        if settings.server.public_url.is_none() {
            settings.server.public_url = Some(public_url.clone());
        }
        let events = crate::service::shared::webhooks::EventContext::new(
            Some(crate::domain::jwt::SidKey::derive(&secret_key)),
            &settings.webhooks,
        );
        crate::service::accounts::bootstrap::ensure_admin(
            &mut db::connect_once(&settings.database.database_url)?,
            &settings.bootstrap,
            &events,
        )
        .map_err(StartupError::Settings)?;
        let services = Services {
            pool,
            settings: Arc::new(settings.clone()),
            hasher,
            secret_key,
            outbox,
            metrics,
            tokens,
            oidc,
            recent_throttles: Default::default(),
            github_keys,
            events,
        };
        let console_key =
            console_session_key(&services.secret_key).map_err(StartupError::Settings)?;
        let cookie_secure = settings.console.cookie_secure;
        let body_read_timeout = BodyReadTimeout(settings.server.body_read_timeout);
        let (app_services, app_tokens, app_metrics) = (
            web::Data::new(services.clone()),
            web::Data::new(services.tokens.clone()),
            web::Data::new(services.metrics.clone()),
        );
        let app_access_tokens = web::Data::new(access_tokens);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_services.clone())
                .app_data(app_tokens.clone())
                .app_data(app_metrics.clone())
                .app_data(app_access_tokens.clone())
                .app_data(body_read_timeout)
                .wrap(session_middleware(cookie_secure, console_key.clone()))
                .wrap(from_fn(record_request))
                .wrap(ErrorHandlers::new().default_handler(json_error_body))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                .wrap(access_log::logger())
                // Nothing this service answers is for a shared cache, and no
                // body is to be sniffed into another type; the console's own
                // headers, set first, are kept.
                .wrap(
                    DefaultHeaders::new()
                        .add((header::CACHE_CONTROL, "no-store"))
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")),
                )
                .configure(routes::configure)
                .configure(console::configure)
                .default_service(web::to(routes::not_found))
        })
        // A stop waits this long at most for the requests in flight; then
        // their futures are dropped, and a hashing job not yet started
        // with them (see `passwords`).
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .listen(listener)
        .map_err(|e| StartupError::Bind(settings.server.bind, e))?
        .run();
        log::info!(
            "serving on http://{address} with {}",
            settings.database.database_url.describe()
        );
        Ok(Application {
            port: address.port(),
            server,
            services,
            mail_backend,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        actix_web::rt::spawn(jobs::sweep_expired(self.services.clone()));
        actix_web::rt::spawn(self.services.github_keys.clone().fetch_at_start());
        if let Some(cache) = self.services.tokens.cache() {
            let url = self
                .services
                .settings
                .database
                .database_url
                .connection_url();
            actix_web::rt::spawn(cache.clone().listen(url));
            actix_web::rt::spawn(jobs::write_touches(self.services.clone()));
        }
        let services = self.services.clone();
        if self.services.settings.webhooks.receivers().is_some() {
            actix_web::rt::spawn(jobs::send_webhooks(self.services.clone()));
        }
        actix_web::rt::spawn(jobs::send_mails(self.services, self.mail_backend));
        let stopped = self.server.await;
        // The uses seen last are written before the process goes.
        jobs::write_touches_now(&services).await;
        stopped
    }
}
