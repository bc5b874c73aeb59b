use super::*;
use crate::domain::email_verification::EmailVerification;
use crate::domain::SecretKey;
use crate::mail::MailSetting;
use std::time::Duration;

/// The settings alone, as the binary parses them (its subcommands are
/// `cli`'s business and tested there).
#[derive(Debug, clap::Parser)]
struct Parsed {
    #[command(flatten)]
    settings: Settings,
}

/// Parses `args` alone: the variables of the environment the tests run
/// in (`TOKEN_CACHE=off cargo test`) must not stand in for defaults, so
/// the settings whose variable is set there are not read from it.
fn parse(args: &[&str]) -> Result<Parsed, clap::Error> {
    use clap::CommandFactory;
    let command = Parsed::command().mut_args(|arg| {
        match arg
            .get_env()
            .is_some_and(|env| std::env::var_os(env).is_some())
        {
            true => arg.env(None),
            false => arg,
        }
    });
    let mut matches =
        command.try_get_matches_from(std::iter::once("multitoken").chain(args.iter().copied()))?;
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
            tokens: TokenSettings {
                max_clients_per_user: 3,
                ..
            },
            ..
        })
    ));
    let settings = settings.unwrap_or_else(|_| Settings::defaults());
    assert_eq!(settings.tokens.token_ttl, Duration::from_secs(7200));
    assert_eq!(
        settings.tokens.token_max_age,
        Some(Duration::from_secs(30 * 86_400))
    );
}

#[test]
fn invalid_values_name_the_variable() {
    // Every setting's parser, through clap: the message names the variable
    // the setting declares.
    use clap::CommandFactory;
    let command = Parsed::command();
    for (flag, value) in [
        ("--token-ttl", "forever"),
        ("--token-touch-interval", "1x"),
        ("--max-clients-per-user", "0"),
        ("--bind", "nowhere"),
        ("--database-url", "mysql://x"),
        ("--login-throttle", "10"),
        ("--login-throttle", "0/15m"),
        ("--register-throttle", "20"),
        ("--revoke-throttle", "100/soon"),
        ("--password-reset-throttle", "5/never"),
        ("--trusted-proxies", "proxy.internal"),
        ("--registration", "maybe"),
        ("--mail", "pigeon"),
        ("--mail-from", "not an address"),
        ("--mail-max-attempts", "0"),
        ("--password-reset-url", "http://x/reset"),
        ("--password-reset-url", "ftp://x/{uid}/{token}"),
        ("--password-reset-timeout", "soon"),
        ("--email-verification", "always"),
        ("--email-verification-url", "http://x/verify"),
        ("--email-verification-timeout", "a while"),
        ("--email-verification-resend-throttle", "5"),
        ("--token-cache", "sometimes"),
        ("--token-cache-ttl", "soon"),
        ("--token-cache-entries", "0"),
        ("--token-cache-mib", "many"),
        ("--database-statement-timeout", "x"),
        ("--console-session-idle", "soon"),
    ] {
        let variable = command
            .get_arguments()
            .find(|arg| arg.get_long() == flag.strip_prefix("--"))
            .and_then(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .unwrap_or_else(|| panic!("{flag} declares no variable"));
        let error = parse(&[flag, value])
            .map(|_| ())
            .expect_err(flag)
            .to_string();
        assert!(error.contains(&format!("{variable}: ")), "{error}");
    }
}

#[test]
fn account_settings_have_the_contracts_defaults() {
    let settings = parse(&[]).map(|cli| cli.settings);
    let Ok(settings) = settings else {
        panic!("defaults parse: {settings:?}")
    };
    assert_eq!(settings.accounts.registration, Registration::Open);
    assert_eq!(settings.mail.mail, MailSetting::Console);
    // Unset, the link is the hosted page under PUBLIC_URL, whatever the bind.
    assert_eq!(settings.accounts.password_reset_url, None);
    let public_url = crate::domain::PublicUrl::parse("https://auth.example.com/id").unwrap();
    assert_eq!(
        settings.accounts.password_reset_url(&public_url),
        "https://auth.example.com/id/reset?uid={uid}&token={token}"
    );
    let bound = crate::domain::PublicUrl::from_bind("0.0.0.0:9000".parse().unwrap());
    assert_eq!(
        settings.accounts.password_reset_url(&bound),
        "http://0.0.0.0:9000/reset?uid={uid}&token={token}"
    );
    let set = parse(&[
        "--password-reset-url",
        "https://app.example.com/r?u={uid}&t={token}",
    ]);
    assert_eq!(
        set.map(|cli| cli.settings.accounts.password_reset_url(&public_url))
            .ok(),
        Some("https://app.example.com/r?u={uid}&t={token}".to_owned())
    );
    assert_eq!(
        settings.accounts.password_reset_timeout,
        Duration::from_secs(3600)
    );
    assert_eq!(settings.mail.mail_from.to_string(), "webmaster@localhost");
    let defaults = Settings::defaults();
    assert_eq!(defaults.mail.mail_from, settings.mail.mail_from);
    assert_eq!(
        defaults.accounts.password_reset_url,
        settings.accounts.password_reset_url
    );
}

#[test]
fn account_settings_out_of_range_are_refused_naming_the_variable() {
    let mut settings = Settings::defaults();
    settings.accounts.password_reset_timeout = Duration::ZERO;
    assert!(refused(&settings, "PASSWORD_RESET_TIMEOUT"));
    settings.accounts.password_reset_timeout = Duration::from_secs(60);
    // A short secret is refused without being repeated in the message.
    settings.server.secret_key = Some(SecretKey::unchecked("hunter2"));
    assert!(settings
        .validate()
        .is_err_and(|e| e.contains("SECRET_KEY") && !e.contains("hunter2")));
}

#[test]
fn email_verification_settings_have_the_contracts_defaults_and_name_their_variable() {
    let Ok(Parsed { settings }) = parse(&[]) else {
        panic!("defaults parse")
    };
    assert_eq!(
        settings.accounts.email_verification,
        EmailVerification::None
    );
    assert_eq!(settings.accounts.email_verification_url, None);
    let public_url = crate::domain::PublicUrl::parse("https://auth.example.com").unwrap();
    assert_eq!(
        settings.accounts.email_verification_url(&public_url),
        "https://auth.example.com/verify-email?key={key}"
    );
    assert_eq!(
        settings.accounts.email_verification_timeout,
        Duration::from_secs(3 * 86_400)
    );
    assert_eq!(
        settings
            .throttles
            .email_verification_resend_throttle
            .to_string(),
        "5/1h"
    );
    let mandatory = parse(&["--email-verification", "mandatory"]);
    assert!(mandatory
        .is_ok_and(|p| p.settings.accounts.email_verification == EmailVerification::Mandatory));
    let mut settings = settings;
    settings.accounts.email_verification_timeout = Duration::ZERO;
    assert!(refused(&settings, "EMAIL_VERIFICATION_TIMEOUT"));
}

#[test]
fn the_secret_key_never_shows_in_debug_output() {
    let secret = "s3cret-".repeat(6);
    let settings = parse(&["--secret-key", &secret]).map(|cli| cli.settings);
    assert!(matches!(
        settings,
        Ok(Settings {
            server: ServerSettings {
                secret_key: Some(_),
                ..
            },
            ..
        })
    ));
    assert!(!format!("{settings:?}").contains("s3cret"));
}

#[test]
fn the_throttle_and_proxies_default_to_the_contract() {
    let settings = parse(&[]).map(|cli| cli.settings);
    let settings = settings.unwrap_or_else(|_| Settings::defaults());
    assert_eq!(settings.throttles.login_throttle.to_string(), "10/15m");
    assert_eq!(settings.throttles.register_throttle.to_string(), "100/1h");
    assert_eq!(settings.throttles.revoke_throttle.to_string(), "100/1m");
    assert_eq!(settings.tokens.secret_scanning_github_keys, None);
    let github = parse(&["--secret-scanning-github-keys", "/etc/github-keys.json"]);
    assert!(
        github.is_ok_and(|p| p.settings.tokens.secret_scanning_github_keys.as_deref()
            == Some("/etc/github-keys.json"))
    );
    let revoke = parse(&["--revoke-throttle", "3/10s"]);
    assert!(revoke.is_ok_and(|p| p.settings.throttles.revoke_throttle.to_string() == "3/10s"));
    assert_eq!(
        settings.throttles.password_reset_throttle.to_string(),
        "20/1h"
    );
    assert!(settings.server.trusted_proxies.is_empty());
    let defaults = Settings::defaults();
    assert_eq!(
        defaults.throttles.login_throttle,
        settings.throttles.login_throttle
    );
    let cli = parse(&["--trusted-proxies", "10.0.0.0/8,::1"]);
    assert!(cli
        .is_ok_and(|cli| cli.settings.server.trusted_proxies.to_string() == "10.0.0.0/8,::1/128"));
}

#[test]
fn allowed_scopes_default_to_any_and_parse_as_the_contract_says() {
    let defaults = Settings::defaults();
    assert!(!defaults.tokens.allowed_scopes.is_set());
    let settings = parse(&[]).map(|cli| cli.settings.tokens.allowed_scopes);
    assert!(settings.is_ok_and(|allowed| allowed == defaults.tokens.allowed_scopes));
    let cli = parse(&["--allowed-scopes", "orders:read,profile  x"]);
    assert!(
        cli.is_ok_and(
            |cli| cli.settings.tokens.allowed_scopes.to_string() == "orders:read profile x"
        )
    );
    assert!(parse(&["--allowed-scopes", "a/b"]).is_err());
}

#[test]
fn a_touch_interval_as_long_as_the_ttl_is_refused() {
    let mut settings = Settings::defaults();
    assert_eq!(settings.validate(), Ok(()));
    settings.tokens.token_touch_interval = settings.tokens.token_ttl;
    assert!(refused(&settings, "TOKEN_TOUCH_INTERVAL"));
    settings.tokens.token_touch_interval = Duration::ZERO;
    settings.tokens.token_max_age = Some(Duration::ZERO);
    assert!(refused(&settings, "TOKEN_MAX_AGE"));
}

#[test]
fn token_cache_settings_are_checked_and_only_postgresql_caches() {
    let defaults = parse(&[]).map(|cli| cli.settings);
    assert!(defaults.as_ref().is_ok_and(|s| s.token_cache.token_cache
        && s.token_cache.token_cache_ttl == Duration::from_secs(10)
        && s.database.database_statement_timeout == Duration::from_secs(5)));
    assert!(parse(&["--token-cache", "off"]).is_ok_and(|cli| !cli.settings.token_cache.token_cache));
    let mut settings = Settings::defaults();
    assert!(!settings.caches_tokens(), "SQLite never caches");
    settings.database.database_url = Database::Postgres {
        url: "postgres://db/mt".into(),
    };
    assert!(settings.caches_tokens());
    settings.token_cache.token_cache_ttl = Duration::ZERO;
    assert!(refused(&settings, "TOKEN_CACHE_TTL"));
    settings.token_cache.token_cache_ttl = Duration::from_secs(7200);
    assert!(refused(&settings, "TOKEN_CACHE_TTL"));
    settings.token_cache.token_cache_ttl = Duration::from_secs(10);
    settings.database.database_statement_timeout = Duration::from_millis(10);
    assert!(refused(&settings, "DATABASE_STATEMENT_TIMEOUT"));
}

#[test]
fn the_defaults_for_embedders_are_the_flags_defaults() {
    let Ok(Parsed { mut settings }) = parse(&[]) else {
        panic!("defaults parse")
    };
    let defaults = Settings::with_database(settings.database.database_url.clone());
    settings.server.bind = defaults.server.bind;
    assert_eq!(format!("{settings:?}"), format!("{defaults:?}"));
}

#[test]
fn console_session_limits_default_to_an_hour_idle_and_eight_hours_in_all() {
    let defaults = Settings::defaults();
    assert_eq!(
        defaults.console.console_session_idle,
        Duration::from_secs(3600)
    );
    assert_eq!(
        defaults.console.console_session_max_age,
        Duration::from_secs(8 * 3600)
    );
    let mut settings = defaults.clone();
    settings.console.console_session_idle = Duration::ZERO;
    assert!(refused(&settings, "CONSOLE_SESSION_IDLE"));
    settings.console.console_session_idle = Duration::from_secs(7200);
    settings.console.console_session_max_age = Duration::from_secs(3600);
    assert!(refused(&settings, "CONSOLE_SESSION_MAX_AGE"));
}

/// Whether `settings` are refused, naming `variable`.
fn refused(settings: &Settings, variable: &str) -> bool {
    settings.validate().is_err_and(|e| e.contains(variable))
}

fn cookie_secure(args: &[&str]) -> Result<bool, String> {
    parse(args)
        .map(|parsed| parsed.settings.console.cookie_secure)
        .map_err(|e| e.to_string())
}

#[test]
fn legacy_tokens_are_on_unless_turned_off() {
    let legacy = |args: &[&str]| parse(args).map(|parsed| parsed.settings.tokens.legacy_tokens);
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
    assert!(
        cookie_secure(&["--cookie-secure", "maybe"]).is_err_and(|e| e.contains("COOKIE_SECURE"))
    );
}

#[test]
fn sqlite_map_and_page_cache_sizes_are_mebibytes_from_zero_to_a_tebibyte() {
    let parsed = parse(&["--sqlite-mmap-mib", "0", "--sqlite-cache-mib", "16"]);
    let database = parsed.map(|cli| cli.settings.database);
    assert!(matches!(
        database,
        Ok(DatabaseSettings {
            sqlite_mmap_mib: 0,
            sqlite_cache_mib: 16,
            ..
        })
    ));
    let defaults = Settings::defaults().database;
    assert_eq!(defaults.sqlite_mmap_mib, crate::db::SQLITE_MMAP_MIB);
    assert_eq!(defaults.sqlite_cache_mib, crate::db::SQLITE_CACHE_MIB);
    for bad in ["-1", "1.5", "lots", "1048577"] {
        let flag = format!("--sqlite-mmap-mib={bad}");
        let refused = parse(&[&flag]).map_err(|e| e.to_string());
        assert!(
            refused.is_err_and(|e| e.contains("SQLITE_MMAP_MIB") && e.contains("MiB")),
            "{bad} must be refused, naming the variable"
        );
    }
}
