//! Every setting in one typed place: each is a command-line flag and an
//! environment variable (the doc comment is its `--help` text), parsed and
//! validated once at start, with messages that name the variable.

use crate::db::Database;
use crate::domain::client_address::TrustedProxies;
use crate::domain::email_verification::EmailVerification;
use crate::domain::oidc::{LinkByEmail, OidcProviders};
use crate::domain::{parse_duration, ThrottleLimit, TokenPolicy};
use crate::domain::{AllowedScopes, SecretKey};
use crate::mail::MailSetting;
use clap::Args;
use lettre::message::Mailbox;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "multitoken.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";
pub const DEFAULT_TOKEN_TTL: &str = "14d";
pub const DEFAULT_TOUCH_INTERVAL: &str = "60s";
pub const DEFAULT_MAX_CLIENTS: u32 = 50;
pub const DEFAULT_MAIL_FROM: &str = "webmaster@localhost";
pub const DEFAULT_PASSWORD_RESET_URL: &str = "http://localhost:8000/reset?uid={uid}&token={token}";
pub const DEFAULT_PASSWORD_RESET_TIMEOUT: &str = "1h";
pub const DEFAULT_LOGIN_THROTTLE: &str = "10/15m";
pub const DEFAULT_REGISTER_THROTTLE: &str = "100/1h";
pub const DEFAULT_PASSWORD_RESET_THROTTLE: &str = "20/1h";
pub const DEFAULT_LOG_FILTER: &str = "info";
pub const DEFAULT_REGISTRATION: &str = "open";
pub const DEFAULT_MAIL: &str = "console";
pub const DEFAULT_MAIL_MAX_ATTEMPTS: u32 = 10;
/// The wait after a mail's first failed attempt, doubled after each one.
pub const MAIL_RETRY_BASE: Duration = Duration::from_secs(5);
pub const DEFAULT_CONSOLE_SESSION_IDLE: &str = "1h";
pub const DEFAULT_CONSOLE_SESSION_MAX_AGE: &str = "8h";
pub const DEFAULT_EMAIL_VERIFICATION: &str = "none";
pub const DEFAULT_EMAIL_VERIFICATION_URL: &str = "http://localhost:8000/verify-email?key={key}";
pub const DEFAULT_EMAIL_VERIFICATION_TIMEOUT: &str = "3d";
pub const DEFAULT_EMAIL_VERIFICATION_RESEND_THROTTLE: &str = "5/1h";
pub const DEFAULT_EVENTS_RETENTION: &str = "90d";
pub const DEFAULT_TOKEN_CACHE_TTL: &str = "10s";
pub const DEFAULT_TOKEN_CACHE_ENTRIES: u32 = 100_000;
pub const DEFAULT_TOKEN_CACHE_MIB: u32 = 32;
pub const DEFAULT_STATEMENT_TIMEOUT: &str = "5s";
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: &str = "5m";
/// How often expired tokens and closed throttle windows are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How long a client may take to send a request body, once its headers came.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call to an OpenID Connect provider may take, connecting included.
pub const OIDC_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// A SQLite path or sqlite://PATH (created if missing), or postgres://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true,
          value_parser = |text: &str| Database::parse(text).map_err(|e| format!("DATABASE_URL: {e}")))]
    pub database_url: Database,

    /// Address to listen on.
    #[arg(long = "bind", env = "MULTITOKEN_BIND", default_value = DEFAULT_BIND, global = true,
          value_parser = |text: &str| text.parse::<SocketAddr>().map_err(|e| format!("MULTITOKEN_BIND: {e}: expected HOST:PORT such as 127.0.0.1:8000")))]
    pub bind: SocketAddr,

    /// Idle lifetime: a token unused this long expires (90s, 15m, 12h, 14d).
    #[arg(long, env = "TOKEN_TTL", default_value = DEFAULT_TOKEN_TTL, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("TOKEN_TTL: {e}")))]
    pub token_ttl: Duration,

    /// Absolute lifetime from login; unset means none.
    #[arg(long, env = "TOKEN_MAX_AGE", global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("TOKEN_MAX_AGE: {e}")))]
    pub token_max_age: Option<Duration>,

    /// At most one last-used write per token per interval.
    #[arg(long, env = "TOKEN_TOUCH_INTERVAL", default_value = DEFAULT_TOUCH_INTERVAL, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("TOKEN_TOUCH_INTERVAL: {e}")))]
    pub token_touch_interval: Duration,

    /// Clients (devices) one user may hold at once; re-login of a held client is always allowed.
    #[arg(long, env = "MAX_CLIENTS_PER_USER", default_value_t = DEFAULT_MAX_CLIENTS, global = true,
          value_parser = |text: &str| parse_positive(text).map_err(|e| format!("MAX_CLIENTS_PER_USER: {e}")))]
    pub max_clients_per_user: u32,

    /// Mark the console's session cookie `Secure` (sent over HTTPS only).
    #[arg(long, env = "COOKIE_SECURE", default_value_t = false, global = true,
          action = clap::ArgAction::Set, value_parser = parse_bool_setting("COOKIE_SECURE"))]
    pub cookie_secure: bool,

    /// A console session unused this long ends (signed out).
    #[arg(long, env = "CONSOLE_SESSION_IDLE", default_value = DEFAULT_CONSOLE_SESSION_IDLE, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("CONSOLE_SESSION_IDLE: {e}")))]
    pub console_session_idle: Duration,

    /// A console session ends this long after sign-in, however busy.
    #[arg(long, env = "CONSOLE_SESSION_MAX_AGE", default_value = DEFAULT_CONSOLE_SESSION_MAX_AGE, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("CONSOLE_SESSION_MAX_AGE: {e}")))]
    pub console_session_max_age: Duration,

    /// Failed logins allowed per username, and per client address, per window (ATTEMPTS/DURATION).
    #[arg(long, env = "LOGIN_THROTTLE", default_value = DEFAULT_LOGIN_THROTTLE, global = true,
          value_parser = |text: &str| ThrottleLimit::parse(text).map_err(|e| format!("LOGIN_THROTTLE: {e}")))]
    pub login_throttle: ThrottleLimit,

    /// Registrations (POST /register, successful or not) allowed per client address per window (ATTEMPTS/DURATION).
    #[arg(long, env = "REGISTER_THROTTLE", default_value = DEFAULT_REGISTER_THROTTLE, global = true,
          value_parser = |text: &str| ThrottleLimit::parse(text).map_err(|e| format!("REGISTER_THROTTLE: {e}")))]
    pub register_throttle: ThrottleLimit,

    /// Password-reset requests allowed per e-mail address, and per client address, per window (ATTEMPTS/DURATION); past it the answer is the same, but no mail is sent.
    #[arg(long, env = "PASSWORD_RESET_THROTTLE", default_value = DEFAULT_PASSWORD_RESET_THROTTLE, global = true,
          value_parser = |text: &str| ThrottleLimit::parse(text).map_err(|e| format!("PASSWORD_RESET_THROTTLE: {e}")))]
    pub password_reset_throttle: ThrottleLimit,

    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For gives the client address; none when unset.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", global = true,
          value_parser = |text: &str| TrustedProxies::parse(text).map_err(|e| format!("TRUSTED_PROXIES: {e}")))]
    pub trusted_proxies: TrustedProxies,

    /// Scopes (space- or comma-separated) a token may ask for; any when unset.
    #[arg(long, env = "ALLOWED_SCOPES", default_value = "", global = true,
          value_parser = |text: &str| AllowedScopes::parse(text).map_err(|e| format!("ALLOWED_SCOPES: {e}")))]
    pub allowed_scopes: AllowedScopes,

    /// Accept the key shapes of tokens imported from Django (40 hex characters: DRF and multitoken; 64: knox), `on` or `off`.
    #[arg(long, env = "LEGACY_TOKENS", default_value = "on", global = true,
          action = clap::ArgAction::Set, value_parser = parse_bool_setting("LEGACY_TOKENS"))]
    pub legacy_tokens: bool,

    /// Refuse the console and the admin API to admins without two-factor authentication: true or false.
    #[arg(long = "require-2fa-for-admins", env = "REQUIRE_2FA_FOR_ADMINS", default_value_t = false, global = true,
          action = clap::ArgAction::Set, value_parser = parse_bool_setting("REQUIRE_2FA_FOR_ADMINS"))]
    pub require_2fa_for_admins: bool,

    /// Mail the user when a client name they never used before signs in: true or false.
    #[arg(long = "new-device-mail", env = "NEW_DEVICE_MAIL", default_value_t = false, global = true,
          action = clap::ArgAction::Set, value_parser = parse_bool_setting("NEW_DEVICE_MAIL"))]
    pub new_device_mail: bool,

    /// How long security events are kept, then swept.
    #[arg(long, env = "EVENTS_RETENTION", default_value = DEFAULT_EVENTS_RETENTION, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("EVENTS_RETENTION: {e}")))]
    pub events_retention: Duration,

    /// Password hashes run at once (each holds 19 MiB and a core for ~20 ms); 64 per thread may wait, more get 503. Default: the number of cores.
    #[arg(long, env = "PASSWORD_HASH_THREADS", global = true,
          value_parser = |text: &str| parse_positive(text).map_err(|e| format!("PASSWORD_HASH_THREADS: {e}")))]
    pub password_hash_threads: Option<u32>,

    /// PostgreSQL: keep recently checked tokens in memory, evicted on every instance by NOTIFY (`on` or `off`; SQLite never caches).
    #[arg(long, env = "TOKEN_CACHE", default_value = "on", global = true,
          action = clap::ArgAction::Set, value_parser = parse_bool_setting("TOKEN_CACHE"))]
    pub token_cache: bool,

    /// How long a cached token check is trusted at most, evictions aside.
    #[arg(long, env = "TOKEN_CACHE_TTL", default_value = DEFAULT_TOKEN_CACHE_TTL, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("TOKEN_CACHE_TTL: {e}")))]
    pub token_cache_ttl: Duration,

    /// Token checks the cache holds at most.
    #[arg(long, env = "TOKEN_CACHE_ENTRIES", default_value_t = DEFAULT_TOKEN_CACHE_ENTRIES, global = true,
          value_parser = |text: &str| parse_positive(text).map_err(|e| format!("TOKEN_CACHE_ENTRIES: {e}")))]
    pub token_cache_entries: u32,

    /// Memory the token cache uses at most, in MiB.
    #[arg(long, env = "TOKEN_CACHE_MIB", default_value_t = DEFAULT_TOKEN_CACHE_MIB, global = true,
          value_parser = |text: &str| parse_positive(text).map_err(|e| format!("TOKEN_CACHE_MIB: {e}")))]
    pub token_cache_mib: u32,

    /// PostgreSQL: the longest one statement of a request may run (the server's statement_timeout).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = DEFAULT_STATEMENT_TIMEOUT, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("DATABASE_STATEMENT_TIMEOUT: {e}")))]
    pub database_statement_timeout: Duration,

    /// Internal: how often expired tokens and closed throttle windows are swept.
    #[arg(skip = SWEEP_EVERY)]
    pub sweep_interval: Duration,

    /// Internal: how long a client may take to send a request body.
    #[arg(skip = BODY_READ_TIMEOUT)]
    pub body_read_timeout: Duration,

    /// Internal: how long a SQLite connection waits for another writer.
    #[arg(skip = crate::db::SQLITE_BUSY_TIMEOUT)]
    pub sqlite_busy_timeout: Duration,

    /// Log filter, as env_logger reads it (error, warn, info, debug, trace, per module).
    #[arg(long = "log", env = "RUST_LOG", default_value = DEFAULT_LOG_FILTER, global = true)]
    pub log_filter: String,

    /// Whether anyone may sign up with POST /register: open or closed.
    #[arg(long, env = "REGISTRATION", default_value = DEFAULT_REGISTRATION, global = true,
          value_parser = |text: &str| Registration::parse(text).map_err(|e| format!("REGISTRATION: {e}")))]
    pub registration: Registration,

    /// Where mail goes: console (the log, for development), file:DIR (one RFC 5322 file per mail),
    /// smtp://[USER:PASS@]HOST[:PORT][?tls=required] (STARTTLS when required; plain otherwise, for local relays)
    /// or smtps://[USER:PASS@]HOST[:PORT] (implicit TLS).
    #[arg(long, env = "MAIL", default_value = DEFAULT_MAIL, global = true, hide_env_values = true,
          value_parser = MailParser)]
    pub mail: MailSetting,

    /// A PEM CA certificate that TLS connections to the SMTP server trust, besides the usual roots.
    #[arg(long, env = "SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<PathBuf>,

    /// Attempts to send one mail before it is given up (logged and counted); the waits between them double from 5s, up to 30m.
    #[arg(long, env = "MAIL_MAX_ATTEMPTS", default_value_t = DEFAULT_MAIL_MAX_ATTEMPTS, global = true,
          value_parser = |text: &str| parse_positive(text).map_err(|e| format!("MAIL_MAX_ATTEMPTS: {e}")))]
    pub mail_max_attempts: u32,

    /// Internal: the wait after a mail's first failed attempt.
    #[arg(skip = MAIL_RETRY_BASE)]
    pub mail_retry_base: Duration,

    /// Sender of the mails the service sends, as in `Accounts <accounts@example.com>`.
    #[arg(long, env = "MAIL_FROM", default_value = DEFAULT_MAIL_FROM, global = true,
          value_parser = |text: &str| text.parse::<Mailbox>().map_err(|e| format!("MAIL_FROM: invalid address {text:?}: {e}")))]
    pub mail_from: Mailbox,

    /// Link put in the password-reset mail; {uid} and {token} are filled in.
    #[arg(long, env = "PASSWORD_RESET_URL", default_value = DEFAULT_PASSWORD_RESET_URL, global = true,
          value_parser = |text: &str| parse_reset_url(text).map_err(|e| format!("PASSWORD_RESET_URL: {e}")))]
    pub password_reset_url: String,

    /// How long a password-reset link works.
    #[arg(long, env = "PASSWORD_RESET_TIMEOUT", default_value = DEFAULT_PASSWORD_RESET_TIMEOUT, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("PASSWORD_RESET_TIMEOUT: {e}")))]
    pub password_reset_timeout: Duration,

    /// E-mail verification: none, optional (mails are sent, sign-in does not wait) or mandatory (no sign-in until the address is verified).
    #[arg(long, env = "EMAIL_VERIFICATION", default_value = DEFAULT_EMAIL_VERIFICATION, global = true,
          value_parser = |text: &str| EmailVerification::parse(text).map_err(|e| format!("EMAIL_VERIFICATION: {e}")))]
    pub email_verification: EmailVerification,

    /// Link put in the verification mail; {key} is filled in.
    #[arg(long, env = "EMAIL_VERIFICATION_URL", default_value = DEFAULT_EMAIL_VERIFICATION_URL, global = true,
          value_parser = |text: &str| parse_link(text, &["{key}"]).map_err(|e| format!("EMAIL_VERIFICATION_URL: {e}")))]
    pub email_verification_url: String,

    /// How long a verification link works.
    #[arg(long, env = "EMAIL_VERIFICATION_TIMEOUT", default_value = DEFAULT_EMAIL_VERIFICATION_TIMEOUT, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("EMAIL_VERIFICATION_TIMEOUT: {e}")))]
    pub email_verification_timeout: Duration,

    /// Verification mails POST /register/resend-email may send per e-mail address per window (ATTEMPTS/DURATION); past it the answer is the same, but no mail is sent.
    #[arg(long, env = "EMAIL_VERIFICATION_RESEND_THROTTLE", default_value = DEFAULT_EMAIL_VERIFICATION_RESEND_THROTTLE, global = true,
          value_parser = |text: &str| ThrottleLimit::parse(text).map_err(|e| format!("EMAIL_VERIFICATION_RESEND_THROTTLE: {e}")))]
    pub email_verification_resend_throttle: ThrottleLimit,

    /// Signs password-reset links and console sessions (at least 32 characters). When unset on a loopback
    /// address, one is generated and kept in the database; required on any other address.
    #[arg(long, env = "SECRET_KEY", global = true, hide_env_values = true,
          value_parser = |text: &str| Ok::<_, String>(SecretKey::unchecked(text)))]
    pub secret_key: Option<SecretKey>,

    /// Lifetime of JWT access tokens (POST /token, /token/refresh).
    #[arg(long, env = "ACCESS_TOKEN_LIFETIME", default_value = DEFAULT_ACCESS_TOKEN_LIFETIME, global = true,
          value_parser = |text: &str| parse_duration(text).map_err(|e| format!("ACCESS_TOKEN_LIFETIME: {e}")))]
    pub access_token_lifetime: Duration,

    /// The `iss` claim of access tokens, checked by /token/verify and wherever they are accepted; none when unset.
    #[arg(long, env = "JWT_ISSUER", global = true,
          value_parser = |text: &str| parse_claim(text).map_err(|e| format!("JWT_ISSUER: {e}")))]
    pub jwt_issuer: Option<String>,

    /// The `aud` claim of access tokens, checked like JWT_ISSUER; none when unset.
    #[arg(long, env = "JWT_AUDIENCE", global = true,
          value_parser = |text: &str| parse_claim(text).map_err(|e| format!("JWT_AUDIENCE: {e}")))]
    pub jwt_audience: Option<String>,

    /// A PKCS#8 PEM P-256 private key to sign access tokens with, instead of the generated ones.
    #[arg(long, env = "JWT_PRIVATE_KEY_FILE", global = true)]
    pub jwt_private_key_file: Option<std::path::PathBuf>,

    /// OpenID Connect providers for social login, by name (comma-separated); each needs
    /// OIDC_<NAME>_ISSUER, OIDC_<NAME>_CLIENT_ID and OIDC_<NAME>_CLIENT_SECRET.
    #[arg(long, env = "OIDC_PROVIDERS", default_value = "", global = true,
          value_parser = |text: &str| OidcProviders::parse(text, |name| std::env::var(name).ok()))]
    pub oidc_providers: OidcProviders,

    /// Whether a provider's sign-in with a verified e-mail lands on the user with that address: never or verified.
    #[arg(long, env = "OIDC_LINK_BY_EMAIL", default_value = "never", global = true,
          value_parser = |text: &str| LinkByEmail::parse(text).map_err(|e| format!("OIDC_LINK_BY_EMAIL: {e}")))]
    pub oidc_link_by_email: LinkByEmail,

    /// Internal: how long one call to an OpenID Connect provider may take.
    #[arg(skip = OIDC_HTTP_TIMEOUT)]
    pub oidc_http_timeout: Duration,
}

/// A text claim (`iss`, `aud`): one line, not empty.
fn parse_claim(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 512 || text.chars().any(char::is_control) {
        return Err("must be one line of 1 to 512 characters".into());
    }
    Ok(text.to_owned())
}

/// Parses `MAIL`. Its errors are clap's "raw" kind, which does not repeat
/// the value: it may hold an SMTP password.
#[derive(Clone)]
struct MailParser;

impl clap::builder::TypedValueParser for MailParser {
    type Value = MailSetting;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<MailSetting, clap::Error> {
        let refuse = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("MAIL: {message}\n"),
            )
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not valid UTF-8".into()))?;
        MailSetting::parse(text).map_err(refuse)
    }
}

/// Whether `POST /register` is open to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Open,
    Closed,
}

impl Registration {
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "open" => Ok(Registration::Open),
            "closed" => Ok(Registration::Closed),
            other => Err(format!("invalid value {other:?}: expected open or closed")),
        }
    }
}

fn parse_reset_url(text: &str) -> Result<String, String> {
    parse_link(text, &["{uid}", "{token}"])
}

/// A link for a mail: http(s), one short line, with every placeholder.
fn parse_link(text: &str, placeholders: &[&str]) -> Result<String, String> {
    let text = text.trim();
    // Kept short and on one line so that the mail can carry it unwrapped.
    if text.len() > 512 || text.chars().any(char::is_control) {
        return Err("must be one line of at most 512 characters".into());
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    for placeholder in placeholders {
        if !text.contains(placeholder) {
            return Err(format!("{text:?} must contain {placeholder}"));
        }
    }
    Ok(text.to_owned())
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), for a setting
/// named in the error message.
fn parse_bool_setting(variable: &'static str) -> impl Fn(&str) -> Result<bool, String> + Clone {
    move |text: &str| match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!(
            "{variable}: invalid value {text:?}: expected true or false"
        )),
    }
}

/// A default written as text above, parsed as its flag parses it; the
/// defaults are constants, checked by the tests, so a failure is a bug.
fn default_of<T, E: std::fmt::Display>(parse: impl Fn(&str) -> Result<T, E>, text: &str) -> T {
    parse(text).unwrap_or_else(|e| panic!("the default {text:?} does not parse: {e}"))
}

fn parse_positive(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!(
            "invalid value {text:?}: expected a whole number of at least 1"
        )),
    }
}

impl Settings {
    /// The defaults of every setting, on the given database and a free
    /// loopback port: what tests and embedders start from. Each default is
    /// the flag's own default text, parsed as the flag parses it.
    pub fn with_database(database: Database) -> Self {
        Settings {
            database_url: database,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            token_ttl: default_of(parse_duration, DEFAULT_TOKEN_TTL),
            token_max_age: None,
            token_touch_interval: default_of(parse_duration, DEFAULT_TOUCH_INTERVAL),
            max_clients_per_user: DEFAULT_MAX_CLIENTS,
            log_filter: DEFAULT_LOG_FILTER.into(),
            registration: default_of(Registration::parse, DEFAULT_REGISTRATION),
            mail: default_of(MailSetting::parse, DEFAULT_MAIL),
            smtp_ca_file: None,
            mail_max_attempts: DEFAULT_MAIL_MAX_ATTEMPTS,
            mail_retry_base: MAIL_RETRY_BASE,
            mail_from: default_of(
                |text| text.parse::<Mailbox>().map_err(|e| e.to_string()),
                DEFAULT_MAIL_FROM,
            ),
            password_reset_url: default_of(parse_reset_url, DEFAULT_PASSWORD_RESET_URL),
            password_reset_timeout: default_of(parse_duration, DEFAULT_PASSWORD_RESET_TIMEOUT),
            email_verification: default_of(EmailVerification::parse, DEFAULT_EMAIL_VERIFICATION),
            email_verification_url: default_of(
                |text| parse_link(text, &["{key}"]),
                DEFAULT_EMAIL_VERIFICATION_URL,
            ),
            email_verification_timeout: default_of(
                parse_duration,
                DEFAULT_EMAIL_VERIFICATION_TIMEOUT,
            ),
            email_verification_resend_throttle: default_of(
                ThrottleLimit::parse,
                DEFAULT_EMAIL_VERIFICATION_RESEND_THROTTLE,
            ),
            secret_key: None,
            access_token_lifetime: default_of(parse_duration, DEFAULT_ACCESS_TOKEN_LIFETIME),
            jwt_issuer: None,
            jwt_audience: None,
            jwt_private_key_file: None,
            cookie_secure: false,
            console_session_idle: default_of(parse_duration, DEFAULT_CONSOLE_SESSION_IDLE),
            console_session_max_age: default_of(parse_duration, DEFAULT_CONSOLE_SESSION_MAX_AGE),
            login_throttle: default_of(ThrottleLimit::parse, DEFAULT_LOGIN_THROTTLE),
            register_throttle: default_of(ThrottleLimit::parse, DEFAULT_REGISTER_THROTTLE),
            password_reset_throttle: default_of(
                ThrottleLimit::parse,
                DEFAULT_PASSWORD_RESET_THROTTLE,
            ),
            trusted_proxies: TrustedProxies::default(),
            allowed_scopes: AllowedScopes::default(),
            legacy_tokens: true,
            require_2fa_for_admins: false,
            new_device_mail: false,
            events_retention: default_of(parse_duration, DEFAULT_EVENTS_RETENTION),
            password_hash_threads: None,
            sweep_interval: SWEEP_EVERY,
            body_read_timeout: BODY_READ_TIMEOUT,
            sqlite_busy_timeout: crate::db::SQLITE_BUSY_TIMEOUT,
            token_cache: true,
            token_cache_ttl: default_of(parse_duration, DEFAULT_TOKEN_CACHE_TTL),
            token_cache_entries: DEFAULT_TOKEN_CACHE_ENTRIES,
            token_cache_mib: DEFAULT_TOKEN_CACHE_MIB,
            database_statement_timeout: default_of(parse_duration, DEFAULT_STATEMENT_TIMEOUT),
            oidc_providers: OidcProviders::default(),
            oidc_link_by_email: LinkByEmail::default(),
            oidc_http_timeout: OIDC_HTTP_TIMEOUT,
        }
    }

    /// Rules that involve more than one setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.token_ttl.is_zero() {
            return Err("TOKEN_TTL must be longer than 0s".into());
        }
        if self.token_max_age.is_some_and(|max_age| max_age.is_zero()) {
            return Err(
                "TOKEN_MAX_AGE must be longer than 0s (leave it unset for no absolute lifetime)"
                    .into(),
            );
        }
        if let Some(secret_key) = &self.secret_key {
            secret_key.check().map_err(|e| format!("SECRET_KEY: {e}"))?;
        }
        if self.access_token_lifetime.is_zero() {
            return Err("ACCESS_TOKEN_LIFETIME must be longer than 0s".into());
        }
        if self.password_reset_timeout.is_zero() {
            return Err("PASSWORD_RESET_TIMEOUT must be longer than 0s".into());
        }
        if self.console_session_idle.is_zero() {
            return Err("CONSOLE_SESSION_IDLE must be longer than 0s".into());
        }
        if self.console_session_max_age < self.console_session_idle {
            return Err(format!(
                "CONSOLE_SESSION_MAX_AGE ({:?}) must not be shorter than CONSOLE_SESSION_IDLE ({:?})",
                self.console_session_max_age, self.console_session_idle
            ));
        }
        if self.email_verification_timeout.is_zero() {
            return Err("EMAIL_VERIFICATION_TIMEOUT must be longer than 0s".into());
        }
        if self.token_cache_ttl.is_zero() {
            return Err(
                "TOKEN_CACHE_TTL must be longer than 0s (set TOKEN_CACHE=off to cache nothing)"
                    .into(),
            );
        }
        if self.token_cache_ttl > Duration::from_secs(3600) {
            return Err(format!(
                "TOKEN_CACHE_TTL ({:?}) must be at most 1h: it bounds how long a missed eviction lasts",
                self.token_cache_ttl
            ));
        }
        if self.database_statement_timeout < Duration::from_millis(100) {
            return Err(format!(
                "DATABASE_STATEMENT_TIMEOUT ({:?}) must be at least 100ms",
                self.database_statement_timeout
            ));
        }
        if self.token_touch_interval >= self.token_ttl {
            return Err(format!(
                "TOKEN_TOUCH_INTERVAL ({:?}) must be shorter than TOKEN_TTL ({:?}), or busy tokens would expire while in use",
                self.token_touch_interval, self.token_ttl
            ));
        }
        Ok(())
    }

    /// Whether token checks go through the cache: PostgreSQL only.
    pub fn caches_tokens(&self) -> bool {
        self.token_cache && matches!(self.database_url, Database::Postgres { .. })
    }

    /// The longest a request waits for its database work: the pool's wait,
    /// one statement's timeout, and a second for the rest of the work.
    pub fn work_timeout(&self) -> Duration {
        crate::db::POOL_TIMEOUT + self.database_statement_timeout + Duration::from_secs(1)
    }

    pub fn token_policy(&self) -> TokenPolicy {
        TokenPolicy {
            ttl: self.token_ttl,
            max_age: self.token_max_age,
            touch_interval: self.token_touch_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings alone, as the binary parses them (its subcommands are
    /// `cli`'s business and tested there).
    #[derive(Debug, clap::Parser)]
    struct Parsed {
        #[command(flatten)]
        settings: Settings,
    }

    /// Parses `args` alone: the variables of the environment the tests run
    /// in (`TOKEN_CACHE=off cargo test`) must not stand in for defaults.
    fn parse(args: &[&str]) -> Result<Parsed, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let command = Parsed::command().mut_args(|arg| arg.env(None));
        let mut matches = command
            .try_get_matches_from(std::iter::once("multitoken").chain(args.iter().copied()))?;
        Parsed::from_arg_matches_mut(&mut matches)
    }

    #[test]
    fn durations_and_numbers_are_parsed_from_flags() {
        let cli = parse(&[
            "--token-ttl",
            "2h",
            "--token-max-age",
            "30d",
            "--max-clients-per-user",
            "3",
        ]);
        let settings = cli.map(|cli| cli.settings);
        assert!(matches!(
            settings,
            Ok(Settings {
                max_clients_per_user: 3,
                ..
            })
        ));
        let settings = settings
            .unwrap_or_else(|_| Settings::with_database(Database::Sqlite { path: "x".into() }));
        assert_eq!(settings.token_ttl, Duration::from_secs(7200));
        assert_eq!(
            settings.token_max_age,
            Some(Duration::from_secs(30 * 86_400))
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (args, variable) in [
            (vec!["--token-ttl", "forever"], "TOKEN_TTL"),
            (vec!["--token-touch-interval", "1x"], "TOKEN_TOUCH_INTERVAL"),
            (vec!["--max-clients-per-user", "0"], "MAX_CLIENTS_PER_USER"),
            (vec!["--bind", "nowhere"], "MULTITOKEN_BIND"),
            (vec!["--database-url", "mysql://x"], "DATABASE_URL"),
            (vec!["--login-throttle", "10"], "LOGIN_THROTTLE"),
            (vec!["--login-throttle", "0/15m"], "LOGIN_THROTTLE"),
            (vec!["--register-throttle", "20"], "REGISTER_THROTTLE"),
            (
                vec!["--password-reset-throttle", "5/never"],
                "PASSWORD_RESET_THROTTLE",
            ),
            (
                vec!["--trusted-proxies", "proxy.internal"],
                "TRUSTED_PROXIES",
            ),
        ] {
            let error = parse(&args).map(|_| ()).expect_err(variable).to_string();
            assert!(error.contains(variable), "{error}");
        }
    }

    #[test]
    fn account_settings_have_the_contracts_defaults() {
        let settings = parse(&[]).map(|cli| cli.settings);
        let Ok(settings) = settings else {
            panic!("defaults parse: {settings:?}")
        };
        assert_eq!(settings.registration, Registration::Open);
        assert_eq!(settings.mail, MailSetting::Console);
        assert_eq!(
            settings.password_reset_url,
            "http://localhost:8000/reset?uid={uid}&token={token}"
        );
        assert_eq!(settings.password_reset_timeout, Duration::from_secs(3600));
        assert_eq!(settings.mail_from.to_string(), "webmaster@localhost");
        let defaults = Settings::with_database(Database::Sqlite { path: "x".into() });
        assert_eq!(defaults.mail_from, settings.mail_from);
        assert_eq!(defaults.password_reset_url, settings.password_reset_url);
    }

    #[test]
    fn invalid_account_settings_name_the_variable() {
        for (args, variable) in [
            (vec!["--registration", "maybe"], "REGISTRATION"),
            (vec!["--mail", "pigeon"], "MAIL"),
            (vec!["--mail-from", "not an address"], "MAIL_FROM"),
            (vec!["--mail-max-attempts", "0"], "MAIL_MAX_ATTEMPTS"),
            (
                vec!["--password-reset-url", "http://x/reset"],
                "PASSWORD_RESET_URL",
            ),
            (
                vec!["--password-reset-url", "ftp://x/{uid}/{token}"],
                "PASSWORD_RESET_URL",
            ),
            (
                vec!["--password-reset-timeout", "soon"],
                "PASSWORD_RESET_TIMEOUT",
            ),
        ] {
            let error = parse(&args).map(|_| ()).expect_err(variable).to_string();
            assert!(error.contains(variable), "{error}");
        }
        let mut settings = Settings::with_database(Database::Sqlite { path: "x".into() });
        settings.password_reset_timeout = Duration::ZERO;
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("PASSWORD_RESET_TIMEOUT")));
        settings.password_reset_timeout = Duration::from_secs(60);
        // A short secret is refused without being repeated in the message.
        settings.secret_key = Some(SecretKey::unchecked("hunter2"));
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("SECRET_KEY") && !e.contains("hunter2")));
    }

    #[test]
    fn email_verification_settings_have_the_contracts_defaults_and_name_their_variable() {
        let Ok(Parsed { settings }) = parse(&[]) else {
            panic!("defaults parse")
        };
        assert_eq!(settings.email_verification, EmailVerification::None);
        assert_eq!(
            settings.email_verification_url,
            "http://localhost:8000/verify-email?key={key}"
        );
        assert_eq!(
            settings.email_verification_timeout,
            Duration::from_secs(3 * 86_400)
        );
        assert_eq!(
            settings.email_verification_resend_throttle.to_string(),
            "5/1h"
        );
        let mandatory = parse(&["--email-verification", "mandatory"]);
        assert!(
            mandatory.is_ok_and(|p| p.settings.email_verification == EmailVerification::Mandatory)
        );
        for (args, variable) in [
            (vec!["--email-verification", "always"], "EMAIL_VERIFICATION"),
            (
                vec!["--email-verification-url", "http://x/verify"],
                "EMAIL_VERIFICATION_URL",
            ),
            (
                vec!["--email-verification-timeout", "a while"],
                "EMAIL_VERIFICATION_TIMEOUT",
            ),
            (
                vec!["--email-verification-resend-throttle", "5"],
                "EMAIL_VERIFICATION_RESEND_THROTTLE",
            ),
        ] {
            let error = parse(&args).map(|_| ()).expect_err(variable).to_string();
            assert!(error.contains(variable), "{error}");
        }
        let mut settings = settings;
        settings.email_verification_timeout = Duration::ZERO;
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("EMAIL_VERIFICATION_TIMEOUT")));
    }

    #[test]
    fn the_secret_key_never_shows_in_debug_output() {
        let secret = "s3cret-".repeat(6);
        let settings = parse(&["--secret-key", &secret]).map(|cli| cli.settings);
        assert!(matches!(
            settings,
            Ok(Settings {
                secret_key: Some(_),
                ..
            })
        ));
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn the_throttle_and_proxies_default_to_the_contract() {
        let settings = parse(&[]).map(|cli| cli.settings);
        let settings = settings
            .unwrap_or_else(|_| Settings::with_database(Database::Sqlite { path: "x".into() }));
        assert_eq!(settings.login_throttle.to_string(), DEFAULT_LOGIN_THROTTLE);
        assert_eq!(settings.register_throttle.to_string(), "100/1h");
        assert_eq!(settings.password_reset_throttle.to_string(), "20/1h");
        assert!(settings.trusted_proxies.is_empty());
        let defaults = Settings::with_database(Database::Sqlite { path: "x".into() });
        assert_eq!(defaults.login_throttle, settings.login_throttle);
        let cli = parse(&["--trusted-proxies", "10.0.0.0/8,::1"]);
        assert!(
            cli.is_ok_and(|cli| cli.settings.trusted_proxies.to_string() == "10.0.0.0/8,::1/128")
        );
    }

    #[test]
    fn allowed_scopes_default_to_any_and_parse_as_the_contract_says() {
        let defaults = Settings::with_database(Database::Sqlite { path: "x".into() });
        assert!(!defaults.allowed_scopes.is_set());
        let settings = parse(&[]).map(|cli| cli.settings.allowed_scopes);
        assert!(settings.is_ok_and(|allowed| allowed == defaults.allowed_scopes));
        let cli = parse(&["--allowed-scopes", "orders:read,profile  x"]);
        assert!(
            cli.is_ok_and(|cli| cli.settings.allowed_scopes.to_string() == "orders:read profile x")
        );
        assert!(parse(&["--allowed-scopes", "a/b"]).is_err());
    }

    #[test]
    fn a_touch_interval_as_long_as_the_ttl_is_refused() {
        let mut settings = Settings::with_database(Database::Sqlite { path: "x".into() });
        assert_eq!(settings.validate(), Ok(()));
        settings.token_touch_interval = settings.token_ttl;
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("TOKEN_TOUCH_INTERVAL")));
        settings.token_touch_interval = Duration::ZERO;
        settings.token_max_age = Some(Duration::ZERO);
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("TOKEN_MAX_AGE")));
    }

    #[test]
    fn token_cache_settings_are_checked_and_only_postgresql_caches() {
        let defaults = parse(&[]).map(|cli| cli.settings);
        assert!(defaults.as_ref().is_ok_and(|s| s.token_cache
            && s.token_cache_ttl == Duration::from_secs(10)
            && s.database_statement_timeout == Duration::from_secs(5)));
        assert!(parse(&["--token-cache", "off"]).is_ok_and(|cli| !cli.settings.token_cache));
        for (flag, value, variable) in [
            ("--token-cache", "sometimes", "TOKEN_CACHE"),
            ("--token-cache-ttl", "soon", "TOKEN_CACHE_TTL"),
            ("--token-cache-entries", "0", "TOKEN_CACHE_ENTRIES"),
            ("--token-cache-mib", "many", "TOKEN_CACHE_MIB"),
            (
                "--database-statement-timeout",
                "x",
                "DATABASE_STATEMENT_TIMEOUT",
            ),
        ] {
            let error = parse(&[flag, value]).map(|_| ()).expect_err(variable);
            assert!(error.to_string().contains(variable), "{error}");
        }
        let mut settings = Settings::with_database(Database::Sqlite { path: "x".into() });
        assert!(!settings.caches_tokens(), "SQLite never caches");
        settings.database_url = Database::Postgres {
            url: "postgres://db/mt".into(),
        };
        assert!(settings.caches_tokens());
        settings.token_cache_ttl = Duration::ZERO;
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("TOKEN_CACHE_TTL")));
        settings.token_cache_ttl = Duration::from_secs(7200);
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("TOKEN_CACHE_TTL")));
        settings.token_cache_ttl = Duration::from_secs(10);
        settings.database_statement_timeout = Duration::from_millis(10);
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("DATABASE_STATEMENT_TIMEOUT")));
    }

    #[test]
    fn the_defaults_for_embedders_are_the_flags_defaults() {
        let Ok(Parsed { mut settings }) = parse(&[]) else {
            panic!("defaults parse")
        };
        let defaults = Settings::with_database(settings.database_url.clone());
        settings.bind = defaults.bind;
        assert_eq!(format!("{settings:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn console_session_limits_default_to_an_hour_idle_and_eight_hours_in_all() {
        let defaults = Settings::with_database(Database::Sqlite { path: "x".into() });
        assert_eq!(defaults.console_session_idle, Duration::from_secs(3600));
        assert_eq!(
            defaults.console_session_max_age,
            Duration::from_secs(8 * 3600)
        );
        let mut settings = defaults.clone();
        settings.console_session_idle = Duration::ZERO;
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("CONSOLE_SESSION_IDLE")));
        settings.console_session_idle = Duration::from_secs(7200);
        settings.console_session_max_age = Duration::from_secs(3600);
        assert!(settings
            .validate()
            .is_err_and(|e| e.contains("CONSOLE_SESSION_MAX_AGE")));
        assert!(parse(&["--console-session-idle", "soon"])
            .err()
            .is_some_and(|e| e.to_string().contains("CONSOLE_SESSION_IDLE")));
    }

    fn cookie_secure(args: &[&str]) -> Result<bool, String> {
        parse(args)
            .map(|parsed| parsed.settings.cookie_secure)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn legacy_tokens_are_on_unless_turned_off() {
        let legacy = |args: &[&str]| parse(args).map(|parsed| parsed.settings.legacy_tokens);
        assert_eq!(legacy(&[]).ok(), Some(true));
        assert_eq!(legacy(&["--legacy-tokens", "off"]).ok(), Some(false));
        assert_eq!(legacy(&["--legacy-tokens", "on"]).ok(), Some(true));
        assert!(legacy(&["--legacy-tokens", "sometimes"])
            .err()
            .is_some_and(|e| e.to_string().contains("LEGACY_TOKENS")));
    }

    #[test]
    fn a_bad_mail_url_is_refused_without_repeating_its_password() {
        let error = parse(&["--mail", "smtps://me:hunter2-secret@mail.example.com:0"])
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("MAIL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let settings = parse(&["--mail", "smtps://me:hunter2-secret@mail.example.com"]);
        let shown = format!("{settings:?}");
        assert!(settings.is_ok(), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn cookie_secure_is_off_unless_set() {
        assert_eq!(cookie_secure(&[]), Ok(false));
        assert_eq!(cookie_secure(&["--cookie-secure", "true"]), Ok(true));
        assert_eq!(cookie_secure(&["--cookie-secure", "0"]), Ok(false));
        assert!(cookie_secure(&["--cookie-secure", "maybe"])
            .is_err_and(|e| e.contains("COOKIE_SECURE")));
    }
}
