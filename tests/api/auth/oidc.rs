//! Social login against a real OpenID Connect provider: panva's
//! oidc-provider, started from tests/oidc_provider/server.mjs on a loopback
//! port. The tests drive its authorization-code flow with PKCE over HTTP as
//! a browser would (its login and consent forms, with a cookie jar), then
//! post the code, or an ID token from its token endpoint, to
//! `/login/oidc/{provider}`. Without the provider installed (`.ci/run`
//! installs it) those tests are reported ignored; the ones with a provider
//! that is down need no provider and always run.

use crate::helpers::console::Console;
use crate::helpers::oidc::{
    free_port, trusting, with_providers, Provider, CLIENT_ID, CLIENT_SECRET, OTHER_CLIENT_ID,
    REDIRECT_URI,
};
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_json, assert_not_found, assert_throttled, keys_of, Backend, Sent,
    TestApp, PASSWORD,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::oidc::{LinkByEmail, OidcProvider, OidcProviders};
use multitoken::domain::ThrottleLimit;
use rand::distributions::{Alphanumeric, DistString};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const REFUSED: &str = "Unable to log in with the provider.";

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

async fn whoami_body(app: &TestApp, key: &str) -> Value {
    let (status, body) = json_of(app.whoami(key).await).await;
    assert_eq!(status, StatusCode::OK);
    body
}

async fn assert_refused(response: reqwest::Response, why: &str) {
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"non_field_errors": [REFUSED]})
        ),
        "{why}"
    );
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn the_code_flow_signs_a_new_user_in_with_a_device_token(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Never)).await;
    let authorized = provider.authorize(CLIENT_ID, "alice", None).await;
    let response = app.login_oidc("corp", authorized.body("web")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys_of(&body),
        ["auth_token", "client", "expires_at", "scopes"]
    );
    assert_eq!(body["client"], "web");
    let key = body["auth_token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mt_"));
    let me = whoami_body(&app, &key).await;
    assert_eq!(
        (&me["username"], &me["email"], &me["client"]),
        (&json!("alice"), &json!("Alice@Example.com"), &json!("web"))
    );
    // The code is spent: posting it again is refused by the provider.
    assert_refused(
        app.login_oidc("corp", authorized.body("web2")).await,
        "a replayed code",
    )
    .await;
    // A wrong verifier for a fresh code is refused too (PKCE).
    let mut wrong_verifier = provider.authorize(CLIENT_ID, "alice", None).await;
    wrong_verifier.verifier = Alphanumeric.sample_string(&mut rand::thread_rng(), 64);
    assert_refused(
        app.login_oidc("corp", wrong_verifier.body("web2")).await,
        "a wrong PKCE verifier",
    )
    .await;
    // Signing in again lands on the same user, on another device.
    let again = provider.authorize(CLIENT_ID, "alice", None).await;
    let (status, body) = json_of(app.login_oidc("corp", again.body("ios")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ios = body["auth_token"].as_str().unwrap();
    assert_eq!(whoami_body(&app, ios).await["id"], me["id"]);
    let devices = app.devices(ios).await;
    let via: Vec<(&str, &str)> = devices
        .iter()
        .map(|d| (d["client"].as_str().unwrap(), d["via"].as_str().unwrap()))
        .collect();
    assert_eq!(via, [("ios", "oidc:corp"), ("web", "oidc:corp")]);
    // The new user has no usable password.
    let response = app.post_login("alice", "", "web").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let hash: String = {
        use diesel::prelude::*;
        use multitoken::db::schema::users;
        users::table
            .filter(users::username.eq("alice"))
            .select(users::password_hash)
            .first(&mut app.connection())
            .unwrap()
    };
    assert!(hash.starts_with('!') && hash.len() > 20, "unusable: {hash}");
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn an_id_token_from_the_app_signs_in_and_its_nonce_is_checked(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Never)).await;
    let id_token = provider.id_token(CLIENT_ID, "carol", Some("nonce-1")).await;
    let post = |nonce: Option<&str>, client: &str| {
        let mut body = json!({"client": client, "id_token": id_token});
        if let Some(nonce) = nonce {
            body["nonce"] = json!(nonce);
        }
        app.login_oidc("corp", body)
    };
    assert_refused(post(Some("nonce-2"), "ios").await, "another nonce").await;
    let (status, body) = json_of(post(Some("nonce-1"), "ios").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = whoami_body(&app, body["auth_token"].as_str().unwrap()).await;
    // No preferred_username: the e-mail's local part.
    assert_eq!(me["username"], "carol");
    // Without a nonce field the token's nonce is not checked.
    let (status, _) = json_of(post(None, "android").await).await;
    assert_eq!(status, StatusCode::OK);
    // Scopes are taken as at /login.
    let response = app
        .login_oidc(
            "corp",
            json!({"client": "cli", "id_token": id_token, "scopes": ["read"]}),
        )
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, &body["scopes"]),
        (StatusCode::OK, &json!(["read"]))
    );
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn tokens_from_another_issuer_client_or_time_and_tampered_ones_are_refused(backend: Backend) {
    let provider = Provider::start();
    // Another instance: another issuer (with the same development keys, so
    // only the `iss` check can refuse its tokens).
    let other_issuer = Provider::start();
    let short_lived = Provider::start_with(json!({"id_token_ttl": 1}));
    let app = TestApp::spawn_with(
        backend,
        with_providers(
            vec![provider.configured("corp"), short_lived.configured("short")],
            LinkByEmail::Never,
        ),
    )
    .await;
    let post = |provider: &'static str, id_token: String| {
        app.login_oidc(provider, json!({"client": "ios", "id_token": id_token}))
    };
    let expiring = short_lived.id_token(CLIENT_ID, "alice", None).await;
    let started = Instant::now();

    let foreign = other_issuer.id_token(CLIENT_ID, "alice", None).await;
    assert_refused(post("corp", foreign).await, "another issuer").await;
    let for_another_app = provider.id_token(OTHER_CLIENT_ID, "alice", None).await;
    assert_refused(post("corp", for_another_app).await, "another audience").await;
    let genuine = provider.id_token(CLIENT_ID, "alice", None).await;
    let (header_and_claims, signature) = genuine.rsplit_once('.').unwrap();
    let mut flipped = signature.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{header_and_claims}.{}",
        String::from_utf8(flipped).unwrap()
    );
    assert_refused(post("corp", tampered).await, "a tampered signature").await;
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("mallory");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_refused(post("corp", parts.join(".")).await, "changed claims").await;
    assert_refused(post("corp", "not-a-jwt".into()).await, "garbage").await;

    // The short-lived provider's token, checked by us once it has expired.
    let lifetime = Duration::from_millis(2100);
    if let Some(left) = lifetime.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    assert_refused(post("short", expiring).await, "an expired token").await;
    // And the genuine one still works: the refusals were the checks.
    let (status, body) = json_of(post("corp", genuine).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Signs `login` in with an ID token; the new device's key.
async fn sign_in(provider: &Provider, app: &TestApp, login: &str) -> String {
    let id_token = provider.id_token(CLIENT_ID, login, None).await;
    let response = app
        .login_oidc("corp", json!({"client": "web", "id_token": id_token}))
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["auth_token"].as_str().unwrap().to_owned()
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn a_verified_email_links_to_its_user_only_when_configured(backend: Backend) {
    let provider = Provider::start();
    let linking = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Verified)).await;
    let alice = linking.create_user("alice.smith", "alice@EXAMPLE.com", false);
    let bob = linking.create_user("bobby", "bob@example.com", false);
    // Verified, and the address matches without regard to case.
    let key = sign_in(&provider, &linking, "alice").await;
    assert_eq!(whoami_body(&linking, &key).await["id"], alice);
    // Unverified: a new user, not bob's account.
    let key = sign_in(&provider, &linking, "bob").await;
    let me = whoami_body(&linking, &key).await;
    assert_ne!(me["id"], bob);
    assert_eq!(me["username"], "bob");

    // With the default (never), the same verified address is a new user,
    // whose name is made unique.
    let never = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Never)).await;
    let existing = never.create_user("alice", "alice@example.com", false);
    let key = sign_in(&provider, &never, "alice").await;
    let me = whoami_body(&never, &key).await;
    assert_ne!(me["id"], existing);
    assert_eq!(me["username"], "alice2");
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn identities_and_via_show_on_the_console(backend: Backend) {
    let provider = Provider::start();
    let second = Provider::start();
    let app = TestApp::spawn_with(
        backend,
        with_providers(
            vec![provider.configured("corp"), second.configured("google")],
            LinkByEmail::Verified,
        ),
    )
    .await;
    let admin_key = app.admin_key().await;
    let alice = app.create_user("alice", "alice@example.com", false);
    app.login("alice", "laptop").await;
    for (name, issuer, client) in [("corp", &provider, "web"), ("google", &second, "ios")] {
        let id_token = issuer.id_token(CLIENT_ID, "alice", None).await;
        let response = app
            .login_oidc(name, json!({"client": client, "id_token": id_token}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    let mut console = Console::new(&app);
    console.sign_in("root", PASSWORD).await;
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(page.contains("Linked identities"), "{page}");
    for provider in ["corp", "google"] {
        assert!(
            page.contains(&format!("<td class=\"provider\">{provider}</td>")),
            "{page}"
        );
    }
    assert!(page.contains("<td class=\"subject\"><code>alice</code></td>"));
    for via in ["oidc:corp", "oidc:google", "password"] {
        assert!(
            page.contains(&format!("<td class=\"via\">{via}</td>")),
            "{via}: {page}"
        );
    }
    let (status, tokens) = json_of(
        app.admin_get(&format!("/admin/users/{alice}/tokens"), &admin_key)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut via: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["via"].as_str().unwrap())
        .collect();
    via.sort_unstable();
    assert_eq!(via, ["oidc:corp", "oidc:google", "password"]);
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn a_deactivated_user_cannot_sign_in_with_the_provider(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Verified)).await;
    let admin_key = app.admin_key().await;
    let alice = app.create_user("alice", "alice@example.com", false);
    let response = app
        .admin_patch(alice, &admin_key, json!({"is_active": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id_token = provider.id_token(CLIENT_ID, "alice", None).await;
    // Neither through the verified e-mail of the deactivated user ...
    assert_refused(
        app.login_oidc("corp", json!({"client": "web", "id_token": id_token}))
            .await,
        "inactive, by e-mail",
    )
    .await;
    // ... nor once linked.
    app.admin_patch(alice, &admin_key, json!({"is_active": true}))
        .await;
    let id_token = provider.id_token(CLIENT_ID, "alice", None).await;
    let response = app
        .login_oidc("corp", json!({"client": "web", "id_token": &id_token}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.admin_patch(alice, &admin_key, json!({"is_active": false}))
        .await;
    assert_refused(
        app.login_oidc("corp", json!({"client": "web", "id_token": id_token}))
            .await,
        "inactive, linked",
    )
    .await;
}

#[on_both_backends]
async fn unknown_providers_and_missing_fields_are_answered_as_the_contract_says(backend: Backend) {
    let configured = OidcProvider {
        name: "corp".into(),
        issuer: format!("http://127.0.0.1:{}", free_port()),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
    };
    let app = TestApp::spawn_with(
        backend,
        with_providers(vec![configured], LinkByEmail::Never),
    )
    .await;
    let body = json!({"client": "web", "id_token": "x.y.z"});
    for unknown in ["google", "CORP", "%00"] {
        assert_not_found(app.login_oidc(unknown, body.clone()).await).await;
        // Whatever the body: the provider is looked at first.
        assert_not_found(app.login_oidc(unknown, json!({})).await).await;
    }
    assert_bad_request(
        app.login_oidc("corp", json!({})).await,
        json!({"client": ["This field is required."], "id_token": ["This field is required."]}),
    )
    .await;
    assert_bad_request(app.login_oidc("corp", json!({"client": "web", "code": "abc"}))
            .await, json!({"code_verifier": ["This field is required."], "redirect_uri": ["This field is required."]})).await;
    assert_bad_request(
        app.login_oidc("corp", json!({"client": "bad client", "id_token": "x"}))
            .await,
        json!({"client": ["Enter a valid client name: 1-64 letters, digits, '.', '_' or '-'."]}),
    )
    .await;
}

#[on_both_backends]
async fn a_provider_that_does_not_answer_is_a_quick_503(backend: Backend) {
    // One port that accepts connections and never answers, one closed.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let closed_port = free_port();
    let provider = |name: &str, port: u16| OidcProvider {
        name: name.into(),
        issuer: format!("http://127.0.0.1:{port}"),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
    };
    let app = TestApp::spawn_with(backend, |settings| {
        settings.oidc.oidc_providers = OidcProviders(vec![
            provider("silent", silent_port),
            provider("closed", closed_port),
        ]);
        settings.oidc.oidc_http_timeout = Duration::from_secs(1);
    })
    .await;
    for name in ["silent", "closed", "silent"] {
        let started = Instant::now();
        let response = app
            .login_oidc(name, json!({"client": "web", "id_token": "x.y.z"}))
            .await;
        let took = started.elapsed();
        assert_eq!(response.headers()["retry-after"], "1");
        assert_json(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"detail": "Service temporarily unavailable, try again later."}),
        )
        .await;
        assert!(took < Duration::from_secs(3), "{name} took {took:?}");
    }
    let code =
        json!({"client": "web", "code": "c", "redirect_uri": REDIRECT_URI, "code_verifier": "v"});
    let response = app.login_oidc("closed", code).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(silent);
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn two_factor_and_mandatory_verification_apply_as_for_login(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, |settings| {
        trusting(&provider, LinkByEmail::Verified)(settings);
        settings.accounts.email_verification =
            multitoken::domain::email_verification::EmailVerification::Mandatory;
    })
    .await;
    // A new user whose provider vouches for the address is verified.
    let key = sign_in(&provider, &app, "carol").await;
    assert_eq!(whoami_body(&app, &key).await["email_verified"], json!(true));

    // alice, linked by her verified address, has two-factor on.
    let alice = app.create_user("alice.smith", "alice@example.com", false);
    {
        use diesel::prelude::*;
        use multitoken::db::schema::users;
        diesel::update(users::table.find(alice))
            .set(users::email_verified.eq(true))
            .execute(&mut app.connection())
            .expect("verified");
    }
    let (secret, _, confirmed_at) = crate::helpers::two_factor::enable(&app, "alice.smith").await;
    let id_token = provider.id_token(CLIENT_ID, "alice", None).await;
    let without = app
        .login_oidc("corp", json!({"client": "web", "id_token": id_token}))
        .await;
    assert_bad_request(without, json!({"otp": ["This field is required."]})).await;
    let otp = secret.code_at(confirmed_at + 30).expect("code");
    let with_code = app
        .login_oidc(
            "corp",
            json!({"client": "web", "id_token": id_token, "otp": otp}),
        )
        .await;
    let (status, body) = json_of(with_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Security finding M2: a wrong code at an OpenID sign-in was counted per
/// address only, so guesses were limited only by how many addresses one had.
#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn wrong_codes_count_against_the_user_whatever_the_address(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, |settings| {
        trusting(&provider, LinkByEmail::Verified)(settings);
        settings.server.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").expect("proxies");
        settings.throttles.login_throttle = ThrottleLimit {
            attempts: 3,
            window: Duration::from_secs(3600),
        };
    })
    .await;
    let alice = app.create_user("alice.smith", "alice@example.com", false);
    {
        use diesel::prelude::*;
        use multitoken::db::schema::users;
        diesel::update(users::table.find(alice))
            .set(users::email_verified.eq(true))
            .execute(&mut app.connection())
            .expect("verified");
    }
    let (secret, _, confirmed_at) = crate::helpers::two_factor::enable(&app, "alice.smith").await;
    let wrong = crate::helpers::two_factor::wrong_code(&secret);
    let sign_in_from = |address: &'static str, otp: String| {
        let app = &app;
        let provider = &provider;
        async move {
            // A fresh ID token each time: only the code is guessed.
            let id_token = provider.id_token(CLIENT_ID, "alice", None).await;
            app.request(Method::POST, "/login/oidc/corp")
                .header("X-Forwarded-For", address)
                .json(&json!({"client": "web", "id_token": id_token, "otp": otp}))
                .sent()
                .await
        }
    };
    for address in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let refused = sign_in_from(address, wrong.clone()).await;
        assert_bad_request(refused, json!({"otp": ["Invalid code."]})).await;
    }
    let right = secret.code_at(confirmed_at + 30).expect("code");
    assert_throttled(sign_in_from("198.51.100.4", right.clone()).await).await;
    // The count is alice's: her password sign-in waits too.
    let login = app
        .request(Method::POST, "/login")
        .header("X-Forwarded-For", "198.51.100.5")
        .json(&json!({"username": "alice.smith", "password": PASSWORD, "client": "web", "otp": right}))
        .sent()
        .await;
    assert_throttled(login).await;
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn a_provider_that_rotated_its_keys_is_followed(backend: Backend) {
    let before = Provider::start_with(json!({"fresh_keys": true}));
    let port = before.issuer.rsplit(':').next().expect("port").to_owned();
    let app = TestApp::spawn_with(backend, trusting(&before, LinkByEmail::Never)).await;
    let carol = whoami_body(&app, &sign_in(&before, &app, "carol").await).await["id"].clone();
    // The same issuer, restarted with a key of another kid.
    drop(before);
    let after = Provider::start_with(
        json!({"fresh_keys": true, "port": port.parse::<u16>().expect("port")}),
    );
    let key = sign_in(&after, &app, "carol").await;
    assert_eq!(whoami_body(&app, &key).await["id"], carol);
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn concurrent_first_sign_ins_make_one_user(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Never)).await;
    let id_token = provider.id_token(CLIENT_ID, "carol", None).await;
    let attempts = (0..6).map(|n| {
        app.login_oidc(
            "corp",
            json!({"client": format!("device-{n}"), "id_token": id_token}),
        )
    });
    let mut ids = Vec::new();
    for response in futures_util::future::join_all(attempts).await {
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(whoami_body(&app, body["auth_token"].as_str().expect("key")).await["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one user for one subject: {ids:?}");
}
