//! Two-factor authentication (TOTP) over HTTP: set-up, confirmation with
//! recovery codes, sign-in with a code (once only), recovery codes, the
//! throttle, turning it off, `REQUIRE_2FA_FOR_ADMINS`, and what is stored.

use crate::helpers::console::Console;
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::two_factor::{code, enable, login_with_otp, post, wrong_code};
use crate::helpers::{
    assert_bad_request, assert_detail, assert_non_field_error, assert_throttled, Backend, Sent,
    TestApp, PASSWORD,
};
use diesel::prelude::*;
use multitoken::config::Settings;
use multitoken::db::schema::{recovery_codes, users};
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::two_factor::TotpSecret;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn two_factor_of(app: &TestApp, key: &str) -> Value {
    let me: Value = app.whoami(key).await.json().await.expect("json");
    me["two_factor"].clone()
}

#[on_both_backends]
async fn setting_up_needs_the_password_and_enables_nothing_until_confirmed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let key = app.login("alice", "web").await;
    assert_eq!(two_factor_of(&app, &key).await, json!(false));

    let wrong = post(&app, "/2fa/totp/setup", &key, json!({"password": "not-it"})).await;
    assert_bad_request(wrong, json!({"password": ["Invalid password."]})).await;
    let missing = post(&app, "/2fa/totp/setup", &key, json!({})).await;
    assert_bad_request(missing, json!({"password": ["This field is required."]})).await;

    let response = post(&app, "/2fa/totp/setup", &key, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let setup: Value = response.json().await.expect("json");
    let secret_text = setup["secret"].as_str().expect("secret");
    let uri = setup["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/multitoken:alice?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret_text}")), "{uri}");
    assert!(setup["qr_svg"].as_str().expect("svg").contains("<svg"));
    let secret = TotpSecret::from_base32(secret_text).expect("base32");

    // Not enabled yet: a login needs no code.
    assert_eq!(two_factor_of(&app, &key).await, json!(false));
    assert_eq!(
        login_with_otp(&app, "alice", None).await.status(),
        StatusCode::OK
    );

    let wrong = post(
        &app,
        "/2fa/totp/confirm",
        &key,
        json!({"code": wrong_code(&secret)}),
    )
    .await;
    assert_bad_request(wrong, json!({"code": ["Invalid code."]})).await;
    let response = post(
        &app,
        "/2fa/totp/confirm",
        &key,
        json!({"code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    let codes = body["recovery_codes"].as_array().expect("codes");
    assert_eq!(codes.len(), 10);
    assert_eq!(two_factor_of(&app, &key).await, json!(true));

    // On already: neither a new set-up nor a second confirmation.
    let again = post(&app, "/2fa/totp/setup", &key, json!({"password": PASSWORD})).await;
    assert_non_field_error(again, "Two-factor authentication is already enabled.").await;
    let admin = app.admin_key().await;
    let user: Value = app
        .admin_get("/admin/users?search=alice", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(user["results"][0]["two_factor"], json!(true), "{user}");
}

#[on_both_backends]
async fn a_confirmed_user_signs_in_with_a_code_once_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let (secret, _, confirmed_at) = enable(&app, "alice").await;

    assert_bad_request(
        login_with_otp(&app, "alice", None).await,
        json!({"otp": ["This field is required."]}),
    )
    .await;
    assert_bad_request(
        login_with_otp(&app, "alice", Some(&wrong_code(&secret))).await,
        json!({"otp": ["Invalid code."]}),
    )
    .await;
    // The confirming code is spent.
    let confirming = secret.code_at(confirmed_at).expect("code");
    assert_bad_request(
        login_with_otp(&app, "alice", Some(&confirming)).await,
        json!({"otp": ["Invalid code."]}),
    )
    .await;
    // The step after the confirming one is within the skew (whatever step
    // the clock is in now): accepted once.
    let next = secret.code_at(confirmed_at + 30).expect("code");
    let response = login_with_otp(&app, "alice", Some(&next)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let key = body["auth_token"].as_str().expect("key");
    assert_eq!(app.whoami_status(key).await, StatusCode::OK);
    assert_bad_request(
        login_with_otp(&app, "alice", Some(&next)).await,
        json!({"otp": ["Invalid code."]}),
    )
    .await;
    // A wrong password still says only that, code or not.
    let response = app
        .post_json(
            "/login",
            json!({"username": "alice", "password": "wrong", "client": "web", "otp": code(&secret, 1)}),
        )
        .await;
    assert_non_field_error(response, "Unable to log in with provided credentials.").await;
}

#[on_both_backends]
async fn recovery_codes_sign_in_once_each(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let (_, codes, _) = enable(&app, "alice").await;
    assert_eq!(
        login_with_otp(&app, "alice", Some(&codes[0]))
            .await
            .status(),
        StatusCode::OK
    );
    assert_bad_request(
        login_with_otp(&app, "alice", Some(&codes[0])).await,
        json!({"otp": ["Invalid code."]}),
    )
    .await;
    // Typed without the dash and in capitals, as from paper.
    let typed = codes[1].replace('-', "").to_uppercase();
    assert_eq!(
        login_with_otp(&app, "alice", Some(&typed)).await.status(),
        StatusCode::OK
    );
    assert_bad_request(
        login_with_otp(&app, "alice", Some("abcde-fghjk")).await,
        json!({"otp": ["Invalid code."]}),
    )
    .await;
}

/// A login throttle of three failures an hour, with `configure` on top,
/// and alice (without two-factor yet).
async fn alice_allowing_three(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = TestApp::spawn_with(backend, |s| {
        s.throttles.login_throttle = throttle("3/1h");
        configure(s);
    })
    .await;
    app.create_user("alice", "alice@example.com", false);
    app
}

#[on_both_backends]
async fn wrong_codes_count_against_the_login_throttle(backend: Backend) {
    let app = alice_allowing_three(backend, |_| {}).await;
    let (secret, _, _) = enable(&app, "alice").await;
    let wrong = wrong_code(&secret);
    for _ in 0..3 {
        let response = login_with_otp(&app, "alice", Some(&wrong)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let response = login_with_otp(&app, "alice", Some(&code(&secret, 1))).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

/// A login throttle of three failures an hour, behind a proxy on loopback
/// that it trusts, and alice with two-factor on: her secret and a key of hers.
async fn alice_with_two_factor_allowing_three(backend: Backend) -> (TestApp, TotpSecret, String) {
    let app = alice_allowing_three(backend, |s| {
        s.server.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").expect("proxies");
    })
    .await;
    let (secret, codes, _) = enable(&app, "alice").await;
    let key = app.login_as_with_otp("alice", &codes[0]).await;
    (app, secret, key)
}

/// Security finding M2: `/2fa/disable` reset the username's count on every
/// right password, so codes could be guessed there without limit.
#[on_both_backends]
async fn wrong_codes_at_disable_count_whatever_the_right_password(backend: Backend) {
    let (app, secret, key) = alice_with_two_factor_allowing_three(backend).await;
    let wrong = wrong_code(&secret);
    for _ in 0..3 {
        let guess = json!({"password": PASSWORD, "code": wrong});
        let refused = post(&app, "/2fa/disable", &key, guess).await;
        assert_bad_request(refused, json!({"code": ["Invalid code."]})).await;
    }
    let right = json!({"password": PASSWORD, "code": code(&secret, 1)});
    assert_throttled(post(&app, "/2fa/disable", &key, right).await).await;
    assert_eq!(two_factor_of(&app, &key).await, json!(true));
    // The count is the user's: her own sign-in waits too.
    assert_throttled(login_with_otp(&app, "alice", Some(&code(&secret, 1))).await).await;
}

/// A right password alone, wherever it is checked, leaves the wrong codes
/// counted before it.
#[on_both_backends]
async fn a_right_password_alone_never_resets_the_count_of_wrong_codes(backend: Backend) {
    let (app, secret, key) = alice_with_two_factor_allowing_three(backend).await;
    let wrong = wrong_code(&secret);
    // A new address for every sign-in, so that only the username's count matters.
    let sign_in_from = |address: &'static str, otp: String| {
        let app = &app;
        async move {
            let body =
                json!({"username": "alice", "password": PASSWORD, "client": "phone", "otp": otp});
            let request = app.request(Method::POST, "/login").json(&body);
            request.header("X-Forwarded-For", address).sent().await
        }
    };
    for address in ["198.51.100.1", "198.51.100.2"] {
        let refused = sign_in_from(address, wrong.clone()).await;
        assert_bad_request(refused, json!({"otp": ["Invalid code."]})).await;
        let set_up = post(&app, "/2fa/totp/setup", &key, json!({"password": PASSWORD})).await;
        assert_non_field_error(set_up, "Two-factor authentication is already enabled.").await;
        let changed = app.change_password(&key, PASSWORD, "12345678").await;
        assert_eq!(
            changed.status(),
            StatusCode::BAD_REQUEST,
            "a refused new password"
        );
    }
    let refused = sign_in_from("198.51.100.3", wrong.clone()).await;
    assert_bad_request(refused, json!({"otp": ["Invalid code."]})).await;
    assert_throttled(sign_in_from("198.51.100.4", code(&secret, 1)).await).await;
}

/// Security finding L1: `/2fa/totp/confirm` was not throttled, and whoever
/// guesses the code of a pending set-up gets the recovery codes.
#[on_both_backends]
async fn wrong_codes_at_confirmation_are_throttled(backend: Backend) {
    let app = alice_allowing_three(backend, |_| {}).await;
    let key = app.login("alice", "web").await;
    let response = post(&app, "/2fa/totp/setup", &key, json!({"password": PASSWORD})).await;
    let setup: Value = response.json().await.expect("json");
    let secret =
        TotpSecret::from_base32(setup["secret"].as_str().expect("secret")).expect("base32");
    let wrong = wrong_code(&secret);
    for _ in 0..3 {
        let refused = post(&app, "/2fa/totp/confirm", &key, json!({"code": wrong})).await;
        assert_bad_request(refused, json!({"code": ["Invalid code."]})).await;
    }
    let right = json!({"code": code(&secret, 0)});
    assert_throttled(post(&app, "/2fa/totp/confirm", &key, right).await).await;
    assert_eq!(two_factor_of(&app, &key).await, json!(false));
    assert_throttled(app.post_login("alice", PASSWORD, "phone").await).await;
}

#[on_both_backends]
async fn turning_it_off_needs_the_password_then_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let (secret, codes, _) = enable(&app, "alice").await;
    let key = app.login_as_with_otp("alice", &codes[0]).await;

    let missing = post(&app, "/2fa/disable", &key, json!({})).await;
    assert_bad_request(
        missing,
        json!({"password": ["This field is required."], "code": ["This field is required."]}),
    )
    .await;
    let wrong_password = post(
        &app,
        "/2fa/disable",
        &key,
        json!({"password": "nope", "code": "000000"}),
    )
    .await;
    assert_bad_request(wrong_password, json!({"password": ["Invalid password."]})).await;
    let wrong_code = post(
        &app,
        "/2fa/disable",
        &key,
        json!({"password": PASSWORD, "code": "abcde-fghjk"}),
    )
    .await;
    assert_bad_request(wrong_code, json!({"code": ["Invalid code."]})).await;
    assert_eq!(two_factor_of(&app, &key).await, json!(true));

    let response = post(
        &app,
        "/2fa/disable",
        &key,
        json!({"password": PASSWORD, "code": code(&secret, 1)}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(two_factor_of(&app, &key).await, json!(false));
    assert_eq!(
        login_with_otp(&app, "alice", None).await.status(),
        StatusCode::OK
    );
    // The recovery codes went with it.
    let left: i64 = app.read(recovery_codes::table.count());
    assert_eq!(left, 0);
    let off_again = post(
        &app,
        "/2fa/disable",
        &key,
        json!({"password": PASSWORD, "code": "000000"}),
    )
    .await;
    assert_non_field_error(off_again, "Two-factor authentication is not enabled.").await;
}

#[on_both_backends]
async fn the_secret_and_recovery_codes_are_not_stored_in_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let (secret, codes, _) = enable(&app, "alice").await;
    let mut conn = app.connection();
    let stored: Option<Vec<u8>> = users::table
        .filter(users::username.eq("alice"))
        .select(users::totp_secret)
        .first(&mut conn)
        .expect("user");
    let stored = stored.expect("a sealed secret");
    let raw = secret.as_bytes();
    assert!(
        !stored.windows(raw.len()).any(|part| part == raw),
        "raw secret stored"
    );
    let encoded = secret.base32();
    assert!(!String::from_utf8_lossy(&stored).contains(&encoded[..8]));
    let digests: Vec<Vec<u8>> = recovery_codes::table
        .select(recovery_codes::digest)
        .load(&mut conn)
        .expect("digests");
    assert_eq!(digests.len(), 10);
    for code in &codes {
        let plain = code.replace('-', "");
        assert!(digests.iter().all(|digest| {
            !String::from_utf8_lossy(digest).contains(&plain)
                && digest.as_slice() != code.as_bytes()
        }));
    }
}

#[on_both_backends]
async fn admins_without_two_factor_are_refused_when_it_is_required(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.two_factor.require_2fa_for_admins = true).await;
    app.create_user("root", "root@example.com", true);
    let key = app.login("root", "cli").await;
    let refused = app.admin_get("/admin/users", &key).await;
    assert_detail(
        refused,
        StatusCode::FORBIDDEN,
        "Two-factor authentication is required for administrators.",
    )
    .await;
    let mut console = Console::new(&app);
    let page = console.sign_in("root", PASSWORD).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Two-factor authentication is required"));

    let (secret, _, _) = enable(&app, "root").await;
    let new_key = app.login_as_with_otp("root", &code(&secret, 1)).await;
    assert_eq!(
        app.admin_get("/admin/users", &new_key).await.status(),
        StatusCode::OK
    );
    // The key from before too: the requirement is about the admin, not the key.
    assert_eq!(
        app.admin_get("/admin/users", &key).await.status(),
        StatusCode::OK
    );
}

#[on_both_backends]
async fn the_console_asks_for_the_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "root@example.com", true);
    let (secret, _, _) = enable(&app, "root").await;
    let mut console = Console::new(&app);
    let login_page = console.page("/console/login").await;
    assert!(
        login_page.contains("name=\"otp\""),
        "the form has a code field"
    );

    let without = console.sign_in("root", PASSWORD).await;
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert!(without
        .text()
        .await
        .unwrap()
        .contains("Enter the code from your authenticator app"));
    assert_eq!(
        console.get("/console/users").await.status(),
        StatusCode::SEE_OTHER
    );

    let csrf = console.csrf("/console/login").await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "root"),
        ("password", PASSWORD),
        ("otp", "abcde-fghjk"),
    ];
    let wrong = console.post("/console/login", &form).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("Invalid code."));

    let csrf = console.csrf("/console/login").await;
    let right = code(&secret, 1);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "root"),
        ("password", PASSWORD),
        ("otp", right.as_str()),
    ];
    let signed_in = console.post("/console/login", &form).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(console.get("/console/users").await.status(), StatusCode::OK);
}

#[on_both_backends]
async fn restricted_tokens_cannot_change_two_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let key = app
        .login_with_scopes("alice", "ci", json!(["orders:read"]))
        .await;
    for path in ["/2fa/totp/setup", "/2fa/totp/confirm", "/2fa/disable"] {
        let response = post(
            &app,
            path,
            &key,
            json!({"password": PASSWORD, "code": "000000"}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let anonymous = app
        .post_json("/2fa/totp/setup", json!({"password": PASSWORD}))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[on_both_backends]
async fn the_jwt_endpoint_asks_for_the_code_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let (secret, _, confirmed_at) = enable(&app, "alice").await;
    let body = json!({"username": "alice", "password": PASSWORD, "client": "svc"});
    assert_bad_request(
        app.post_json("/token", body.clone()).await,
        json!({"otp": ["This field is required."]}),
    )
    .await;
    let mut with_code = body;
    with_code["otp"] = json!(secret.code_at(confirmed_at + 30).expect("code"));
    let response = app.post_json("/token", with_code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.expect("json");
    assert!(pair["access"]
        .as_str()
        .is_some_and(|jwt| jwt.split('.').count() == 3));
}
