//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Each application has a registry of its own (in `AppState`), so tests that
//! run several applications in one process see only their own counts. Labels
//! are fixed words or route patterns (`/tokens/{client}`), never a raw path,
//! a username, a client name or a key.

use crate::error::{ApiError, AuthFailure};
use crate::service::authenticate::Session;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok,
    /// Wrong username or password, or an inactive user.
    Failed,
    /// Refused by the login throttle before the password was checked.
    Throttled,
}

impl LoginOutcome {
    const ALL: [LoginOutcome; 3] = [Self::Ok, Self::Failed, Self::Throttled];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
        }
    }
}

/// Why tokens were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCause {
    /// `POST /logout`
    Logout,
    /// `POST /logout/all`
    LogoutAll,
    /// `POST /logout/others`
    LogoutOthers,
    /// `DELETE /tokens/{client}` by the owner
    Device,
    /// The admin API or the console: one device, all devices, deactivation, new password
    Admin,
    /// A password change or reset by the user
    Password,
}

impl RevocationCause {
    const ALL: [RevocationCause; 6] = [
        Self::Logout,
        Self::LogoutAll,
        Self::LogoutOthers,
        Self::Device,
        Self::Admin,
        Self::Password,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::LogoutOthers => "logout_others",
            Self::Device => "device",
            Self::Admin => "admin",
            Self::Password => "password",
        }
    }
}

const CHECK_OUTCOMES: [&str; 4] = ["ok", "invalid", "expired", "inactive"];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    logins: IntCounterVec,
    token_checks: IntCounterVec,
    revocations: IntCounterVec,
    active_tokens: IntGauge,
    request_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("multitoken".into()), None)?;
        let logins = IntCounterVec::new(
            Opts::new("logins_total", "Login attempts by outcome."),
            &["outcome"],
        )?;
        let token_checks = IntCounterVec::new(
            Opts::new(
                "token_checks_total",
                "Presented tokens by outcome of the check.",
            ),
            &["outcome"],
        )?;
        let revocations = IntCounterVec::new(
            Opts::new("revocations_total", "Tokens revoked, by cause."),
            &["cause"],
        )?;
        let active_tokens = IntGauge::new(
            "active_tokens",
            "Tokens that have not expired, counted at scrape time.",
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer HTTP requests, by method, route pattern and status.",
            ),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(token_checks.clone()))?;
        registry.register(Box::new(revocations.clone()))?;
        registry.register(Box::new(active_tokens.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        // Every series exists from the start, so rates work from the first scrape.
        for outcome in LoginOutcome::ALL {
            logins.with_label_values(&[outcome.label()]);
        }
        for outcome in CHECK_OUTCOMES {
            token_checks.with_label_values(&[outcome]);
        }
        for cause in RevocationCause::ALL {
            revocations.with_label_values(&[cause.label()]);
        }
        Ok(Metrics {
            registry,
            logins,
            token_checks,
            revocations,
            active_tokens,
            request_seconds,
        })
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.label()]).inc();
    }

    /// Counts the outcome of checking a presented token. Requests that
    /// present none, and failures of the database, are not token checks.
    pub fn token_checked(&self, result: &Result<Session, ApiError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(ApiError::Unauthorized(AuthFailure::NotProvided)) => return,
            Err(ApiError::Unauthorized(AuthFailure::Expired)) => "expired",
            Err(ApiError::Unauthorized(AuthFailure::Inactive)) => "inactive",
            Err(ApiError::Unauthorized(_)) => "invalid",
            Err(_) => return,
        };
        self.token_checks.with_label_values(&[outcome]).inc();
    }

    pub fn revoked(&self, cause: RevocationCause, count: usize) {
        self.revocations
            .with_label_values(&[cause.label()])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    fn observe_request(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        self.request_seconds
            .with_label_values(&[method_label(method), route, &status.to_string()])
            .observe(seconds);
    }

    /// Every metric in the Prometheus text format, with the active-token
    /// count just taken.
    pub fn render(&self, active_tokens: i64) -> Result<String, ApiError> {
        self.active_tokens.set(active_tokens);
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .map_err(ApiError::internal)?;
        String::from_utf8(buffer).map_err(ApiError::internal)
    }
}

/// Standard methods by name; anything else is one label, so a client
/// cannot create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: times every request under its route pattern. Requests that
/// match no route share the label `unmatched`.
pub async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let method = request.method().clone();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let result = next.call(request).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        metrics.observe_request(
            &method,
            &route,
            status.as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_rendered_from_the_start() {
        let Ok(metrics) = Metrics::new() else {
            panic!("metrics")
        };
        metrics.login(LoginOutcome::Failed);
        metrics.revoked(RevocationCause::Admin, 3);
        let text = metrics.render(7).unwrap_or_default();
        for line in [
            "multitoken_logins_total{outcome=\"ok\"} 0",
            "multitoken_logins_total{outcome=\"failed\"} 1",
            "multitoken_logins_total{outcome=\"throttled\"} 0",
            "multitoken_token_checks_total{outcome=\"expired\"} 0",
            "multitoken_revocations_total{cause=\"admin\"} 3",
            "multitoken_revocations_total{cause=\"logout_others\"} 0",
            "multitoken_active_tokens 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn unusual_methods_share_one_label() {
        let custom = Method::from_bytes(b"BREW").unwrap_or(Method::TRACE);
        assert_eq!(method_label(&custom), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
