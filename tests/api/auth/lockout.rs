//! Sign-ins that an attacker cannot lock out: every sign-in answers a
//! device proof (and sets it as the `mt_device_proof` cookie); a later
//! sign-in that presents a valid proof of its user is counted against the
//! proof, not the username. The floods come from real loopback addresses
//! (127.0.0.2, 127.0.0.3, …: Linux routes all of 127/8 to the loopback
//! interface), each its own client address for the per-address count.

use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_non_field_error, assert_throttled, header, Backend, Sent, TestApp, PASSWORD,
};
use multitoken::domain::device_proof::{self, KEY_PURPOSE};
use multitoken::domain::{SecretKey, ThrottleLimit, Timestamp};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
const WRONG_PASSWORD: &str = "wrong-password";
/// The server's `SECRET_KEY`, known here so that the tests can sign what
/// only the server could (a proof issued long ago).
const SECRET: &str = "lockout-tests-secret-key-0123456789-abcdef";
/// Failed logins allowed per window, per username, per address, per proof.
const ATTEMPTS: u32 = 3;

/// A server allowing `ATTEMPTS` failed logins a minute, signing with `SECRET`.
async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.throttles.login_throttle = ThrottleLimit {
            attempts: ATTEMPTS,
            window: Duration::from_secs(60),
        };
        s.server.secret_key = Some(SecretKey::parse(SECRET).expect("secret"));
    })
    .await
}

/// An HTTP client whose connections come from `127.0.0.<host>`.
fn from(host: u8) -> Client {
    Client::builder()
        .local_address(IpAddr::from([127, 0, 0, host]))
        .build()
        .expect("client")
}

/// A `/login` of `username` as client `phone`, from `127.0.0.<host>`,
/// presenting `proof` in the body when given.
async fn login(
    app: &TestApp,
    host: u8,
    username: &str,
    password: &str,
    proof: Option<&str>,
) -> Response {
    let mut body = json!({"username": username, "password": password, "client": "phone"});
    if let Some(proof) = proof {
        body["device_proof"] = json!(proof);
    }
    from(host).post(app.url("/login")).json(&body).sent().await
}

/// The device proof of a sign-in that must succeed.
async fn proof_of(response: Response) -> String {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    body["device_proof"]
        .as_str()
        .expect("a device_proof")
        .to_owned()
}

/// Wrong passwords for `username` from `ATTEMPTS` addresses, one each (so
/// that no address reaches its own limit), until the username is locked:
/// then even the right password, from yet another address, is throttled.
async fn flood(app: &TestApp, username: &str) {
    for host in 10..10 + ATTEMPTS as u8 {
        let response = login(app, host, username, WRONG_PASSWORD, None).await;
        assert_non_field_error(response, BAD_CREDENTIALS).await;
    }
    assert_throttled(login(app, 20, username, PASSWORD, None).await).await;
}

#[on_both_backends]
async fn a_flood_locks_the_username_for_strangers_but_not_the_phone_that_signed_in_before(
    backend: Backend,
) {
    let app = app(backend).await;
    app.create_user("alice", "", false);
    let proof = proof_of(login(&app, 2, "alice", PASSWORD, None).await).await;
    flood(&app, "alice").await;
    assert_throttled(login(&app, 21, "alice", PASSWORD, None).await).await;
    // Alice's phone, from its own address: its wrong password is counted
    // against its proof, and the right one signs in.
    let response = login(&app, 2, "alice", WRONG_PASSWORD, Some(&proof)).await;
    assert_non_field_error(response, BAD_CREDENTIALS).await;
    let renewed = proof_of(login(&app, 2, "alice", PASSWORD, Some(&proof)).await).await;
    assert_ne!(renewed, proof, "each sign-in answers a proof of its own");
    // The owner's sign-in did not reopen the username for strangers.
    assert_throttled(login(&app, 22, "alice", PASSWORD, None).await).await;
    // `/token` answers alike, and takes the proof alike.
    let response = from(2)
        .post(app.url("/token"))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "phone", "device_proof": renewed}))
        .sent()
        .await;
    let body: Value = {
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    };
    assert!(body["device_proof"].as_str().is_some(), "{body}");
    let response = from(23)
        .post(app.url("/token"))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "phone"}))
        .sent()
        .await;
    assert_throttled(response).await;
}

#[on_both_backends]
async fn a_proofs_own_failures_lock_that_proof_and_nothing_else(backend: Backend) {
    let app = app(backend).await;
    app.create_user("alice", "", false);
    let phone = proof_of(login(&app, 2, "alice", PASSWORD, None).await).await;
    let tablet = proof_of(login(&app, 2, "alice", PASSWORD, None).await).await;
    // From as many addresses, so that no address reaches its limit.
    for host in 30..30 + ATTEMPTS as u8 {
        let response = login(&app, host, "alice", WRONG_PASSWORD, Some(&phone)).await;
        assert_non_field_error(response, BAD_CREDENTIALS).await;
    }
    let wait = assert_throttled(login(&app, 40, "alice", PASSWORD, Some(&phone)).await).await;
    assert!((58..=60).contains(&wait), "{wait}");
    // Another proof of alice's, and alice without one: the username was
    // never counted.
    proof_of(login(&app, 41, "alice", PASSWORD, Some(&tablet)).await).await;
    proof_of(login(&app, 42, "alice", PASSWORD, None).await).await;
}

#[on_both_backends]
async fn proofs_of_another_user_tampered_forged_or_expired_count_for_nothing(backend: Backend) {
    let app = app(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("bob", "", false);
    let alices = proof_of(login(&app, 2, "alice", PASSWORD, None).await).await;
    let bobs = proof_of(login(&app, 3, "bob", PASSWORD, None).await).await;
    flood(&app, "alice").await;
    let key = SecretKey::parse(SECRET)
        .expect("secret")
        .derive_key(KEY_PURPOSE);
    let long_ago = Timestamp::now().minus(Duration::from_secs(181 * 86_400));
    let other_key = SecretKey::generate().derive_key(KEY_PURPOSE);
    let (head, client) = alices.rsplit_once('.').expect("a client at the end");
    let cases = [
        ("bob's proof", bobs.clone()),
        ("tampered: another client", format!("{head}.tablet")),
        (
            "tampered: another user",
            alices.replacen(&alice.to_string(), &(alice + 1).to_string(), 1),
        ),
        (
            "expired",
            device_proof::issue(&key, alice, client, long_ago),
        ),
        (
            "signed with another key",
            device_proof::issue(&other_key, alice, client, Timestamp::now()),
        ),
        ("garbage", "not-a-proof".to_owned()),
    ];
    for (case, proof) in cases {
        let response = login(&app, 2, "alice", PASSWORD, Some(&proof)).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{case}");
    }
    // Still a valid proof of one of alice's devices, untouched by the above.
    proof_of(login(&app, 2, "alice", PASSWORD, Some(&alices)).await).await;
    // A proof that is still valid, issued just inside the lifetime.
    let old = device_proof::issue(
        &key,
        alice,
        client,
        long_ago.plus(Duration::from_secs(2 * 86_400)),
    );
    proof_of(login(&app, 2, "alice", PASSWORD, Some(&old)).await).await;
}

#[on_both_backends]
async fn the_limit_per_address_still_applies_to_a_proof_holder(backend: Backend) {
    let app = app(backend).await;
    app.create_user("alice", "", false);
    for name in ["bob", "carol", "dave"] {
        app.create_user(name, "", false);
    }
    let proof = proof_of(login(&app, 2, "alice", PASSWORD, None).await).await;
    // 127.0.0.50 fails for other users up to the limit of its address.
    for name in ["bob", "carol", "dave"] {
        let response = login(&app, 50, name, WRONG_PASSWORD, None).await;
        assert_non_field_error(response, BAD_CREDENTIALS).await;
    }
    // With alice's username locked too, the proof is what lets her in,
    // from any address but the locked one.
    flood(&app, "alice").await;
    assert_throttled(login(&app, 50, "alice", PASSWORD, Some(&proof)).await).await;
    proof_of(login(&app, 51, "alice", PASSWORD, Some(&proof)).await).await;
}

#[on_both_backends]
async fn browsers_get_and_present_the_proof_as_a_cookie(backend: Backend) {
    let app = app(backend).await;
    app.create_user("alice", "", false);
    let response = login(&app, 2, "alice", PASSWORD, None).await;
    let cookie = header(&response, "set-cookie")
        .expect("a cookie")
        .to_owned();
    let proof = proof_of(response).await;
    let max_age = 180 * 86_400;
    assert_eq!(
        cookie,
        format!("mt_device_proof={proof}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}")
    );
    flood(&app, "alice").await;
    let response = from(2)
        .post(app.url("/login"))
        .header("Cookie", format!("mt_device_proof={proof}"))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "web"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // With COOKIE_SECURE, the cookie is for HTTPS only.
    let secure = app.spawn_on_same_database(|s| {
        s.console.cookie_secure = true;
        s.server.secret_key = Some(SecretKey::parse(SECRET).expect("secret"));
    });
    let response = from(2)
        .post(format!("{secure}/login"))
        .header("Cookie", format!("mt_device_proof={proof}"))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "web"}))
        .sent()
        .await;
    let cookie = header(&response, "set-cookie")
        .expect("a cookie")
        .to_owned();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[on_both_backends]
async fn a_wrong_second_factor_with_a_proof_is_counted_against_the_proof(backend: Backend) {
    use crate::helpers::two_factor::{code, enable, wrong_code};
    let app = app(backend).await;
    app.create_user("alice", "", false);
    let (secret, _, _) = enable(&app, "alice").await;
    let body = |otp: String, proof: &str| json!({"username": "alice", "password": PASSWORD, "client": "phone", "otp": otp, "device_proof": proof});
    let response = from(2)
        .post(app.url("/login"))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "phone", "otp": code(&secret, 1)}))
        .sent()
        .await;
    let proof = proof_of(response).await;
    flood(&app, "alice").await;
    for host in 60..60 + ATTEMPTS as u8 {
        let response = from(host)
            .post(app.url("/login"))
            .json(&body(wrong_code(&secret), &proof))
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    // The proof is locked now, whatever the code.
    let response = from(2)
        .post(app.url("/login"))
        .json(&body(code(&secret, 2), &proof))
        .sent()
        .await;
    assert_throttled(response).await;
}

#[on_both_backends]
async fn proofs_hold_no_secret_and_the_database_holds_nothing_of_them(backend: Backend) {
    use diesel::prelude::*;
    use multitoken::db::schema::login_failures;
    let app = app(backend).await;
    let alice = app.create_user("alice", "", false);
    let response = login(&app, 2, "alice", PASSWORD, None).await;
    let body: Value = response.json().await.expect("json");
    let proof = body["device_proof"].as_str().expect("proof").to_owned();
    let key = body["auth_token"].as_str().expect("key");
    // Decoded: the user's id, 16 random bytes, the issue time (base 36) and
    // a 32-byte signature, the client's name.
    let parts: Vec<&str> = proof.splitn(4, '.').collect();
    assert_eq!(parts.len(), 4, "{proof}");
    assert_eq!(parts[0], alice.to_string());
    assert_eq!(base64url(parts[1]).len(), 16);
    let (issued, signature) = parts[2].split_once('-').expect("a stamp");
    let issued = i64::from_str_radix(issued, 36).expect("base 36");
    let now = Timestamp::now().millis();
    assert!((now - 60_000..=now).contains(&issued), "{issued}");
    assert_eq!(base64url(signature).len(), 32);
    assert_eq!(parts[3], "phone");
    for secret in [key, &key[3..], PASSWORD, SECRET] {
        assert!(!proof.contains(secret), "{proof}");
    }
    // A failure with the proof is counted under a digest of it.
    let response = login(&app, 2, "alice", WRONG_PASSWORD, Some(&proof)).await;
    assert_non_field_error(response, BAD_CREDENTIALS).await;
    let scopes: Vec<String> = login_failures::table
        .select(login_failures::scope)
        .load(&mut app.connection())
        .expect("throttle rows");
    assert!(scopes.iter().any(|s| s.starts_with("proof:")), "{scopes:?}");
    for scope in &scopes {
        for part in [&proof, parts[1], signature] {
            assert!(!scope.contains(part), "{scope}");
        }
    }
}

fn base64url(text: &str) -> Vec<u8> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

#[on_both_backends]
async fn an_admin_whose_browser_signed_in_before_still_signs_in_to_the_console(backend: Backend) {
    use crate::helpers::console::Console;
    let app = app(backend).await;
    app.create_user("root", "", true);
    let mut before = Console::new(&app);
    let response = before.sign_in("root", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let proof = before.device_proof.clone().expect("the proof's cookie");
    flood(&app, "root").await;
    let response = Console::new(&app).sign_in("root", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let mut returning = Console::new(&app);
    returning.device_proof = Some(proof);
    let response = returning.sign_in("root", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    returning.page("/console/").await;
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn a_social_sign_ins_second_factor_with_a_proof_is_not_refused_for_others_failures(
    backend: Backend,
) {
    use crate::helpers::oidc::{trusting, Provider, CLIENT_ID};
    use crate::helpers::two_factor::enable;
    use multitoken::domain::oidc::LinkByEmail;
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, |s| {
        trusting(&provider, LinkByEmail::Verified)(s);
        s.throttles.login_throttle = ThrottleLimit {
            attempts: ATTEMPTS,
            window: Duration::from_secs(60),
        };
        s.server.secret_key = Some(SecretKey::parse(SECRET).expect("secret"));
    })
    .await;
    let alice = app.create_user("alice.smith", "alice@example.com", false);
    app.mark_email_verified(alice);
    let (secret, recovery_codes, confirmed_at) = enable(&app, "alice.smith").await;
    let sign_in = |host: u8, otp: String, proof: Option<String>| {
        let (app, provider) = (&app, &provider);
        async move {
            // A nonce of its own: two ID tokens of one second would be the
            // same token, which signs in once.
            let nonce = format!("n{host}");
            let id_token = provider.id_token(CLIENT_ID, "alice", Some(&nonce)).await;
            let mut body =
                json!({"client": "phone", "id_token": id_token, "nonce": nonce, "otp": otp});
            if let Some(proof) = proof {
                body["device_proof"] = json!(proof);
            }
            from(host)
                .post(app.url("/login/oidc/corp"))
                .json(&body)
                .sent()
                .await
        }
    };
    let first = secret.code_at(confirmed_at + 30).expect("code");
    let proof = proof_of(sign_in(2, first, None).await).await;
    flood(&app, "alice.smith").await;
    // Her second factor is counted against her username: refused without
    // the proof, taken with it.
    let code = recovery_codes[0].clone();
    assert_throttled(sign_in(3, code.clone(), None).await).await;
    proof_of(sign_in(4, code, Some(proof)).await).await;
}
