//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Each application has a registry of its own, so tests that run several
//! applications in one process see only their own counts. Labels are fixed
//! words or route patterns (`/tokens/{client}`), never a raw path, a
//! username, a client name or a key. The callers say what happened in these
//! words (`LoginOutcome`, `CheckOutcome`, `RevocationCause`): this module
//! knows nothing of the service or of HTTP.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

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

/// What a client was refused by a throttle other than the login's
/// (whose refusals are `logins_total{outcome="throttled"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottledAction {
    /// `POST /register`, per client address
    Register,
    /// `POST /password/reset`, per e-mail and per client address (answered 200, no mail sent)
    PasswordReset,
    /// `POST /password/change` with the old password, per user
    PasswordChange,
    /// `POST /2fa/totp/setup` and `/2fa/disable`, per user
    TwoFactor,
}

impl ThrottledAction {
    const ALL: [ThrottledAction; 4] = [
        Self::Register,
        Self::PasswordReset,
        Self::PasswordChange,
        Self::TwoFactor,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::PasswordReset => "password_reset",
            Self::PasswordChange => "password_change",
            Self::TwoFactor => "two_factor",
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
    /// `POST /revoke` by whoever holds the key
    Key,
}

impl RevocationCause {
    const ALL: [RevocationCause; 7] = [
        Self::Logout,
        Self::LogoutAll,
        Self::LogoutOthers,
        Self::Device,
        Self::Admin,
        Self::Password,
        Self::Key,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::LogoutOthers => "logout_others",
            Self::Device => "device",
            Self::Admin => "admin",
            Self::Password => "password",
            Self::Key => "key",
        }
    }
}

/// How the check of a presented token ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Ok,
    /// Unknown, malformed or revoked.
    Invalid,
    Expired,
    /// The token's user is inactive.
    Inactive,
}

impl CheckOutcome {
    const ALL: [CheckOutcome; 4] = [Self::Ok, Self::Invalid, Self::Expired, Self::Inactive];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Inactive => "inactive",
        }
    }
}

/// How a forward-auth check (`/auth/verify`) for another service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardAuthOutcome {
    Allowed,
    /// No key, or one that was refused (the `401` table).
    Unauthenticated,
    /// A valid key without a scope the location needs.
    Forbidden,
}

impl ForwardAuthOutcome {
    const ALL: [ForwardAuthOutcome; 3] = [Self::Allowed, Self::Unauthenticated, Self::Forbidden];

    fn label(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
        }
    }
}

/// What an introspection (`/introspect`) answered about the token it was asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectionOutcome {
    Active,
    Inactive,
}

impl IntrospectionOutcome {
    const ALL: [IntrospectionOutcome; 2] = [Self::Active, Self::Inactive];

    fn label(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    logins: IntCounterVec,
    throttled: IntCounterVec,
    token_checks: IntCounterVec,
    revocations: IntCounterVec,
    forward_auth: IntCounterVec,
    introspections: IntCounterVec,
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
        let throttled = IntCounterVec::new(
            Opts::new(
                "throttled_total",
                "Requests refused by the registration, password-reset and password-change throttles, by action.",
            ),
            &["action"],
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
        let forward_auth = IntCounterVec::new(
            Opts::new(
                "forward_auth_total",
                "Forward-auth checks for other services (`/auth/verify`), by outcome.",
            ),
            &["outcome"],
        )?;
        let introspections = IntCounterVec::new(
            Opts::new(
                "introspections_total",
                "Introspected tokens (`/introspect`), by the answer given.",
            ),
            &["result"],
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
        registry.register(Box::new(throttled.clone()))?;
        registry.register(Box::new(token_checks.clone()))?;
        registry.register(Box::new(revocations.clone()))?;
        registry.register(Box::new(forward_auth.clone()))?;
        registry.register(Box::new(introspections.clone()))?;
        registry.register(Box::new(active_tokens.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        // Every series exists from the start, so rates work from the first scrape.
        for outcome in LoginOutcome::ALL {
            logins.with_label_values(&[outcome.label()]);
        }
        for action in ThrottledAction::ALL {
            throttled.with_label_values(&[action.label()]);
        }
        for outcome in CheckOutcome::ALL {
            token_checks.with_label_values(&[outcome.label()]);
        }
        for cause in RevocationCause::ALL {
            revocations.with_label_values(&[cause.label()]);
        }
        for outcome in ForwardAuthOutcome::ALL {
            forward_auth.with_label_values(&[outcome.label()]);
        }
        for outcome in IntrospectionOutcome::ALL {
            introspections.with_label_values(&[outcome.label()]);
        }
        Ok(Metrics {
            registry,
            logins,
            throttled,
            token_checks,
            revocations,
            forward_auth,
            introspections,
            active_tokens,
            request_seconds,
        })
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.label()]).inc();
    }

    pub fn throttled(&self, action: ThrottledAction) {
        self.throttled.with_label_values(&[action.label()]).inc();
    }

    /// Counts the outcome of checking a presented token.
    pub fn token_checked(&self, outcome: CheckOutcome) {
        self.token_checks
            .with_label_values(&[outcome.label()])
            .inc();
    }

    pub fn revoked(&self, cause: RevocationCause, count: usize) {
        self.revocations
            .with_label_values(&[cause.label()])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    pub fn forward_auth(&self, outcome: ForwardAuthOutcome) {
        self.forward_auth
            .with_label_values(&[outcome.label()])
            .inc();
    }

    pub fn introspected(&self, outcome: IntrospectionOutcome) {
        self.introspections
            .with_label_values(&[outcome.label()])
            .inc();
    }

    /// Times one HTTP request under its method and route pattern.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.request_seconds
            .with_label_values(&[method_label(method), route, &status.to_string()])
            .observe(seconds);
    }

    /// Every metric in the Prometheus text format, with the active-token
    /// count just taken.
    pub fn render(&self, active_tokens: i64) -> Result<String, prometheus::Error> {
        self.active_tokens.set(active_tokens);
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Standard methods by name; anything else is one label, so a client
/// cannot create series at will.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
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
            "multitoken_throttled_total{action=\"password_reset\"} 0",
            "multitoken_token_checks_total{outcome=\"expired\"} 0",
            "multitoken_revocations_total{cause=\"admin\"} 3",
            "multitoken_revocations_total{cause=\"logout_others\"} 0",
            "multitoken_revocations_total{cause=\"key\"} 0",
            "multitoken_forward_auth_total{outcome=\"forbidden\"} 0",
            "multitoken_introspections_total{result=\"inactive\"} 0",
            "multitoken_active_tokens 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("PATCH"), "PATCH");
    }
}
