//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Each application has a registry of its own, so tests that run several
//! applications in one process see only their own counts. Labels are fixed
//! words or route patterns (`/tokens/{client}`), never a raw path, a
//! username, a client name or a key. The callers say what happened in these
//! words (`LoginOutcome`, `CheckOutcome`, `RevocationCause`): this module
//! knows nothing of the service or of HTTP.

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// What is measured when `/metrics` is scraped, rather than counted as it
/// happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scraped {
    pub active_tokens: i64,
    /// The database pool's open connections waiting for work.
    pub pool_idle: u32,
    /// The database pool's open connections lent out.
    pub pool_in_use: u32,
    /// Rows in the mail outbox: mails not sent yet.
    pub mails_pending: i64,
    /// Rows in the webhook outbox: deliveries not made yet.
    pub webhooks_pending: i64,
}

/// Declares a counter with one label whose values are a closed set: the
/// enum the callers name the values by, each value's `label` as the series
/// shows it, and `counter`, which makes the counter (written
/// `name{label}: help`) with a series for every value.
macro_rules! counter_labels {
    (
        $(#[$doc:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_doc:meta])* $variant:ident => $label:literal,)+
        }
        counts $metric:ident{$key:ident}: $help:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$variant_doc])* $variant,)+
        }

        impl $name {
            fn label(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)+
                }
            }

            fn counter(registry: &Registry) -> Result<IntCounterVec, prometheus::Error> {
                let labels = [$($label,)+];
                labelled(registry, IntCounterVec::new, stringify!($metric), $help, stringify!($key), &labels)
            }
        }
    };
}

counter_labels! {
    pub enum LoginOutcome {
        Ok => "ok",
        /// Wrong username or password, or an inactive user.
        Failed => "failed",
        /// Refused by the login throttle before the password was checked.
        Throttled => "throttled",
    }
    counts logins_total{outcome}: "Login attempts by outcome."
}

counter_labels! {
    /// What a client was refused by a throttle other than the login's
    /// (whose refusals are `logins_total{outcome="throttled"}`).
    pub enum ThrottledAction {
        /// `POST /register`, per client address
        Register => "register",
        /// `POST /password/reset`, per e-mail and per client address (answered 200, no mail sent)
        PasswordReset => "password_reset",
        /// `POST /password/change` with the old password, per user
        PasswordChange => "password_change",
        /// `POST /2fa/totp/setup`, `/2fa/totp/confirm` and `/2fa/disable`, per user
        TwoFactor => "two_factor",
        /// `POST /register/resend-email`, per e-mail address (answered 200, no mail sent)
        VerificationResend => "email_resend",
        /// `POST /revoke` (one key or a list), per client address
        Revoke => "revoke",
    }
    counts throttled_total{action}:
        "Requests refused by the registration, password-reset, password-change, verification-resend and revocation throttles, by action."
}

counter_labels! {
    /// Why tokens were revoked.
    pub enum RevocationCause {
        /// `POST /logout`
        Logout => "logout",
        /// `POST /logout/all`
        LogoutAll => "logout_all",
        /// `POST /logout/others`
        LogoutOthers => "logout_others",
        /// `DELETE /tokens/{client}` by the owner
        Device => "device",
        /// The admin API or the console: one device, all devices, deactivation, new password
        Admin => "admin",
        /// A password change or reset by the user
        Password => "password",
        /// `POST /revoke` by whoever holds the key
        Key => "key",
        /// Reported leaked by a secret scanner (`POST /secret-scanning/github`)
        Leaked => "leaked",
        /// A rotated key used after its grace window (`ROTATION_GRACE`): the device is revoked
        ReuseDetected => "reuse_detected",
    }
    counts revocations_total{cause}: "Tokens revoked, by cause."
}

counter_labels! {
    /// How a key rotation (`POST /tokens/rotate`, or `/token/refresh` with
    /// `ROTATE_REFRESH_TOKENS`) ended.
    pub enum RotationResult {
        /// The device's current key was replaced.
        Rotated => "rotated",
        /// A key rotated within its grace window was rotated again (a lost answer retried): the previous new key ended.
        Retried => "retried",
        /// A rotated key was used after its grace window: the device was revoked.
        ReuseDetected => "reuse_detected",
    }
    counts rotations_total{result}: "Key rotations, and uses of rotated keys after their grace window, by result."
}

counter_labels! {
    /// How the check of a presented token ended.
    pub enum CheckOutcome {
        Ok => "ok",
        /// Unknown, malformed or revoked.
        Invalid => "invalid",
        Expired => "expired",
        /// The token's user is inactive.
        Inactive => "inactive",
    }
    counts token_checks_total{outcome}: "Presented tokens by outcome of the check."
}

counter_labels! {
    /// How a forward-auth check (`/auth/verify`) for another service ended.
    pub enum ForwardAuthOutcome {
        Allowed => "allowed",
        /// No key, or one that was refused (the `401` table).
        Unauthenticated => "unauthenticated",
        /// A valid key without a scope the location needs.
        Forbidden => "forbidden",
    }
    counts forward_auth_total{outcome}:
        "Forward-auth checks for other services (`/auth/verify`), by outcome."
}

counter_labels! {
    /// How a DPoP proof (RFC 9449), at a sign-in or a use of a bound key, ended.
    pub enum DpopOutcome {
        Accepted => "accepted",
        /// Missing for a bound key, malformed, badly signed, or not for this request.
        Invalid => "invalid",
        /// A `jti` seen before within the window.
        Replayed => "replayed",
    }
    counts dpop_proofs_total{result}:
        "DPoP proofs checked, at sign-ins and uses of bound keys, by result."
}

counter_labels! {
    /// What an introspection (`/introspect`) answered about the token it was asked about.
    pub enum IntrospectionOutcome {
        Active => "active",
        Inactive => "inactive",
    }
    counts introspections_total{result}:
        "Introspected tokens (`/introspect`), by the answer given."
}

counter_labels! {
    /// How an attempt to send a mail from the outbox ended.
    pub enum MailOutcome {
        Sent => "sent",
        /// Failed; tried again later.
        Retried => "retried",
        /// Failed for the last time, or cannot be sent at all: dropped.
        GaveUp => "gave_up",
    }
    counts mails_total{outcome}: "Attempts to send a mail from the outbox, by outcome."
}

counter_labels! {
    /// What happened to an OAuth device grant (RFC 8628), at each step.
    pub enum DeviceGrantOutcome {
        /// `POST /oauth/device_authorization` handed out codes
        Requested => "requested",
        /// Refused by `DEVICE_CODE_THROTTLE`
        Throttled => "throttled",
        /// A signed-in person approved it
        Approved => "approved",
        /// A signed-in person denied it
        Denied => "denied",
        /// Approving it would have exceeded `MAX_CLIENTS_PER_USER`: denied
        TooManyClients => "too_many_clients",
        /// A user code that matched no pending grant (counted as a failed sign-in)
        UnknownCode => "unknown_code",
        /// A poll before approval (`authorization_pending`)
        Pending => "pending",
        /// A poll sooner than the interval (`slow_down`)
        SlowDown => "slow_down",
        /// The device key was issued (the code is spent)
        Issued => "issued",
        /// A poll of a denied grant (`access_denied`)
        AccessDenied => "access_denied",
        /// A poll after the codes expired (`expired_token`)
        Expired => "expired",
        /// A poll with an unknown or spent code, or another `client_id` (`invalid_grant`)
        InvalidGrant => "invalid_grant",
    }
    counts device_grants_total{outcome}:
        "OAuth device grant steps (authorization, approval, polling), by outcome."
}

counter_labels! {
    /// How an attempt to deliver a webhook ended.
    pub enum WebhookResult {
        /// The receiver answered `2xx` within 10 s.
        Delivered => "delivered",
        /// Failed; tried again later.
        Retried => "retried",
        /// Failed past `WEBHOOK_MAX_AGE`: dropped.
        GaveUp => "gave_up",
    }
    counts webhooks_total{result}: "Attempts to deliver a webhook, by result."
}

counter_labels! {
    /// Whether the token cache knew a checked token.
    enum CacheLookup {
        Hit => "hit",
        Miss => "miss",
    }
    counts token_cache_lookups_total{result}:
        "Token checks looked up in the PostgreSQL token cache, by result (hit or miss)."
}

counter_labels! {
    /// Whether this instance may trust its token cache (see
    /// `service::tokens::revocation_sync`).
    pub enum LeaseEvent {
        /// A heartbeat proved the instance current after a time without.
        Gained => "gained",
        /// The lease ran out or the listener was lost: checks go to the database.
        Lost => "lost",
    }
    counts token_cache_leases_total{event}:
        "Times the token cache's lease (its proof of having applied every revocation) was gained or lost."
}

counter_labels! {
    /// How a writer's wait for the other instances' acknowledgements ended.
    pub enum RevocationAck {
        /// Every instance that may trust its cache acknowledged the revocation.
        Acknowledged => "acknowledged",
        /// Every instance acknowledged it but some silent for longer than
        /// REVOCATION_ACK_TIMEOUT (and less than a minute), whose leases had ended.
        LaggardsSkipped => "laggards_skipped",
        /// REVOCATION_ACK_TIMEOUT passed first: the laggards' leases had ended.
        TimedOut => "timed_out",
    }
    counts revocation_acks_total{result}:
        "Waits of a revoking request or command for the other instances' acknowledgements, by how they ended."
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// The process collector's, whose `process_*` names are the standard
    /// ones, without the `multitoken_` prefix of the rest.
    process: Registry,
    pool_connections: IntGaugeVec,
    outbox_pending: IntGaugeVec,
    logins: IntCounterVec,
    throttled: IntCounterVec,
    token_checks: IntCounterVec,
    revocations: IntCounterVec,
    forward_auth: IntCounterVec,
    dpop_proofs: IntCounterVec,
    introspections: IntCounterVec,
    mails: IntCounterVec,
    device_grants: IntCounterVec,
    webhooks: IntCounterVec,
    active_tokens: IntGauge,
    request_seconds: HistogramVec,
    token_cache_lookups: IntCounterVec,
    token_cache_listening: IntGauge,
    token_cache_losses: IntCounter,
    token_cache_leases: IntCounterVec,
    revocation_acks: IntCounterVec,
    token_checksum_failures: IntCounter,
    rotations: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("multitoken".into()), None)?;
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "build_info",
                    "1, with the version of multitoken that runs as its label.",
                ),
                &["version"],
            )?,
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(Metrics {
            process: process_registry()?,
            pool_connections: labelled(
                &registry,
                IntGaugeVec::new,
                "db_pool_connections",
                "The database pool's open connections, by state: idle (waiting for work) or in_use.",
                "state",
                &["idle", "in_use"],
            )?,
            outbox_pending: labelled(
                &registry,
                IntGaugeVec::new,
                "outbox_pending",
                "Rows waiting in an outbox, counted at scrape time: mails not sent yet, webhook deliveries not made yet.",
                "table",
                &["mail", "webhooks"],
            )?,
            logins: LoginOutcome::counter(&registry)?,
            throttled: ThrottledAction::counter(&registry)?,
            token_checks: CheckOutcome::counter(&registry)?,
            revocations: RevocationCause::counter(&registry)?,
            forward_auth: ForwardAuthOutcome::counter(&registry)?,
            dpop_proofs: DpopOutcome::counter(&registry)?,
            introspections: IntrospectionOutcome::counter(&registry)?,
            mails: MailOutcome::counter(&registry)?,
            device_grants: DeviceGrantOutcome::counter(&registry)?,
            webhooks: WebhookResult::counter(&registry)?,
            token_cache_lookups: CacheLookup::counter(&registry)?,
            token_cache_leases: LeaseEvent::counter(&registry)?,
            revocation_acks: RevocationAck::counter(&registry)?,
            rotations: RotationResult::counter(&registry)?,
            active_tokens: register(
                &registry,
                IntGauge::new(
                    "active_tokens",
                    "Tokens that have not expired, counted at scrape time.",
                )?,
            )?,
            request_seconds: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "http_request_duration_seconds",
                        "Time to answer HTTP requests, by method, route pattern and status.",
                    ),
                    &["method", "route", "status"],
                )?,
            )?,
            token_cache_listening: register(
                &registry,
                IntGauge::new(
                    "token_cache_listening",
                    "1 while the token cache hears invalidations and may serve checks; 0 while every check goes to the database.",
                )?,
            )?,
            token_cache_losses: register(
                &registry,
                IntCounter::new(
                    "token_cache_listener_lost_total",
                    "Times the token cache lost its invalidation connection and emptied itself.",
                )?,
            )?,
            token_checksum_failures: register(
                &registry,
                IntCounter::new(
                    "token_checksum_failures_total",
                    "Presented keys of the current shape whose checksum did not match, refused without a lookup.",
                )?,
            )?,
            registry,
        })
    }

    /// Counts a lookup in the token cache.
    pub fn token_cache_lookup(&self, hit: bool) {
        let lookup = if hit {
            CacheLookup::Hit
        } else {
            CacheLookup::Miss
        };
        count_one(&self.token_cache_lookups, lookup.label());
    }

    pub fn token_cache_listening(&self, listening: bool) {
        self.token_cache_listening.set(i64::from(listening));
    }

    pub fn token_cache_lost(&self) {
        self.token_cache_losses.inc();
    }

    /// Counts a presented key refused for its checksum (at any endpoint
    /// that takes a key, `/revoke` included).
    pub fn token_checksum_failed(&self) {
        self.token_checksum_failures.inc();
    }

    pub fn revoked(&self, cause: RevocationCause, count: usize) {
        self.revocations
            .with_label_values(&[cause.label()])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// Times one HTTP request under its method and route pattern.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.request_seconds
            .with_label_values(&[method_label(method), route, &status.to_string()])
            .observe(seconds);
    }

    /// Every metric in the Prometheus text format, with what was just
    /// measured for this scrape.
    pub fn render(&self, scraped: &Scraped) -> Result<String, prometheus::Error> {
        self.active_tokens.set(scraped.active_tokens);
        for (state, count) in [("idle", scraped.pool_idle), ("in_use", scraped.pool_in_use)] {
            self.pool_connections
                .with_label_values(&[state])
                .set(i64::from(count));
        }
        for (table, count) in [
            ("mail", scraped.mails_pending),
            ("webhooks", scraped.webhooks_pending),
        ] {
            self.outbox_pending.with_label_values(&[table]).set(count);
        }
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&families, &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Declares, for each counter of a closed set of outcomes, the method
/// its callers count with: every one is the same single increment under the
/// outcome's label, so the callers name what happened (an enum value) and
/// never a label string, and a new counter is one line here.
macro_rules! count_methods {
    ($($(#[$doc:meta])* $method:ident($value:ident: $kind:ty) => $field:ident,)+) => {
        impl Metrics {
            $(
                $(#[$doc])*
                pub fn $method(&self, $value: $kind) {
                    count_one(&self.$field, $value.label());
                }
            )+
        }
    };
}

count_methods! {
    token_cache_lease(event: LeaseEvent) => token_cache_leases,
    revocation_ack(result: RevocationAck) => revocation_acks,
    /// Counts a rotation, or a reuse of a rotated key.
    rotation(result: RotationResult) => rotations,
    login(outcome: LoginOutcome) => logins,
    throttled(action: ThrottledAction) => throttled,
    /// Counts the outcome of checking a presented token.
    token_checked(outcome: CheckOutcome) => token_checks,
    forward_auth(outcome: ForwardAuthOutcome) => forward_auth,
    dpop_proof(outcome: DpopOutcome) => dpop_proofs,
    device_grant(outcome: DeviceGrantOutcome) => device_grants,
    mail(outcome: MailOutcome) => mails,
    webhook(result: WebhookResult) => webhooks,
    introspected(outcome: IntrospectionOutcome) => introspections,
}

/// A registry with the process's CPU time, memory, open files and start
/// time (`process_*`), where the platform tells them (Linux); empty elsewhere.
fn process_registry() -> Result<Registry, prometheus::Error> {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(registry)
}

/// One more under `label` of a labelled counter.
fn count_one(counter: &IntCounterVec, label: &str) {
    counter.with_label_values(&[label]).inc();
}

/// A counter or gauge (`new` makes it) with one label, in `registry`, with
/// a series for each of `labels` made at once: a series appears only once
/// touched, and one missing from the first scrapes breaks rates and alerts
/// on it.
fn labelled<T: MetricVecBuilder + 'static>(
    registry: &Registry,
    new: fn(Opts, &[&str]) -> Result<MetricVec<T>, prometheus::Error>,
    name: &str,
    help: &str,
    label: &str,
    labels: &[&str],
) -> Result<MetricVec<T>, prometheus::Error> {
    let metric = register(registry, new(Opts::new(name, help), &[label])?)?;
    for value in labels {
        metric.with_label_values(&[value]);
    }
    Ok(metric)
}

/// `metric`, once it is in `registry` (which holds a handle to the same counts).
fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> Result<M, prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
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
#[path = "metrics/tests.rs"]
mod tests;
