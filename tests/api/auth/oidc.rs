//! Social login against a real OpenID Connect provider: panva's
//! oidc-provider, started from tests/oidc_provider/server.mjs on a loopback
//! port. The tests drive its authorization-code flow with PKCE over HTTP as
//! a browser would (its login and consent forms, with a cookie jar), then
//! post the code, or an ID token from its token endpoint, to
//! `/login/oidc/{provider}`. Without the provider installed (`.ci/run`
//! installs it) those tests are reported ignored; the ones with a provider
//! that is down need no provider and always run.

use crate::helpers::console::Console;
use crate::helpers::issuer::{high_s_twin, Issuer};
use crate::helpers::oidc::{
    free_port, trusting, with_providers, Provider, CLIENT_ID, CLIENT_SECRET, OTHER_CLIENT_ID,
    REDIRECT_URI,
};
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{
    assert_bad_request, assert_json, assert_not_found, assert_throttled, signed_in_body, Backend,
    Sent, TestApp, PASSWORD,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::oidc::{LinkByEmail, OidcProvider, OidcProviders};
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
    let body = signed_in_body(response, "web").await;
    let key = body["auth_token"].as_str().unwrap().to_owned();
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
    // (A nonce of its own: within one second the provider would give the
    // very token already used, which signs in once.)
    let again = provider.authorize(CLIENT_ID, "alice", Some("again")).await;
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
        app.read(
            users::table
                .filter(users::username.eq("alice"))
                .select(users::password_hash),
        )
    };
    assert!(hash.starts_with('!') && hash.len() > 20, "unusable: {hash}");
}

#[on_both_backends(needs oidc_tests, "tests/oidc_provider is not installed (npm ci there, or run .ci/run)")]
async fn an_id_token_from_the_app_signs_in_and_its_nonce_is_checked(backend: Backend) {
    let provider = Provider::start();
    let app = TestApp::spawn_with(backend, trusting(&provider, LinkByEmail::Never)).await;
    let id_token = provider.id_token(CLIENT_ID, "carol", Some("nonce-1")).await;
    let post = |id_token: &str, nonce: Option<&str>, client: &str| {
        let mut body = json!({"client": client, "id_token": id_token});
        if let Some(nonce) = nonce {
            body["nonce"] = json!(nonce);
        }
        app.login_oidc("corp", body)
    };
    assert_refused(
        post(&id_token, Some("nonce-2"), "ios").await,
        "another nonce",
    )
    .await;
    let (status, body) = json_of(post(&id_token, Some("nonce-1"), "ios").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = whoami_body(&app, body["auth_token"].as_str().unwrap()).await;
    // No preferred_username: the e-mail's local part.
    assert_eq!(me["username"], "carol");
    // Accepted once: the same token again is refused, on any device.
    assert_refused(post(&id_token, Some("nonce-1"), "ios").await, "a replay").await;
    assert_refused(post(&id_token, None, "android").await, "a replay").await;
    // Without a nonce field the token's nonce is not checked.
    let another = provider.id_token(CLIENT_ID, "carol", Some("nonce-3")).await;
    let (status, _) = json_of(post(&another, None, "android").await).await;
    assert_eq!(status, StatusCode::OK);
    // Scopes are taken as at /login.
    let third = provider.id_token(CLIENT_ID, "carol", None).await;
    let response = app
        .login_oidc(
            "corp",
            json!({"client": "cli", "id_token": third, "scopes": ["read"]}),
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

fn email_verified_in_db(app: &TestApp, user: i64) -> bool {
    use diesel::prelude::*;
    use multitoken::db::schema::users;
    app.read(users::table.find(user).select(users::email_verified))
}

/// Signs `login` in with an ID token of its own (a nonce tells it from
/// another made in the same second); the new device's key.
async fn sign_in(provider: &Provider, app: &TestApp, login: &str) -> String {
    let nonce = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
    let id_token = provider.id_token(CLIENT_ID, login, Some(&nonce)).await;
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
    linking.mark_email_verified(alice);
    let bob = linking.create_user("bobby", "bob@example.com", false);
    linking.mark_email_verified(bob);
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
    app.mark_email_verified(alice);
    app.login("alice", "laptop").await;
    for (name, issuer, client) in [("corp", &provider, "web"), ("google", &second, "ios")] {
        let id_token = issuer.id_token(CLIENT_ID, "alice", None).await;
        let response = app
            .login_oidc(name, json!({"client": client, "id_token": id_token}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    let mut console = Console::signed_in(&app, "root").await;
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(page.contains("Linked identities"), "{page}");
    for provider in ["corp", "google"] {
        assert!(
            page.contains(&format!(
                "<td class=\"provider\" data-label=\"Provider\">{provider}</td>"
            )),
            "{page}"
        );
    }
    assert!(page.contains("<td class=\"subject\" data-label=\"Subject\"><code>alice</code></td>"));
    for via in ["oidc:corp", "oidc:google", "password"] {
        assert!(
            page.contains(&format!(
                "<td class=\"via\" data-label=\"Signed in via\">{via}</td>"
            )),
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
    app.mark_email_verified(alice);
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
    let id_token = provider.id_token(CLIENT_ID, "alice", Some("second")).await;
    let response = app
        .login_oidc("corp", json!({"client": "web", "id_token": &id_token}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.admin_patch(alice, &admin_key, json!({"is_active": false}))
        .await;
    // A fresh token: a used one would be refused as used.
    let id_token = provider.id_token(CLIENT_ID, "alice", Some("third")).await;
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
    app.mark_email_verified(alice);
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
        settings.throttles.login_throttle = throttle("3/1h");
    })
    .await;
    let alice = app.create_user("alice.smith", "alice@example.com", false);
    app.mark_email_verified(alice);
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
    // Six sign-ins, each with its own ID token (told apart by their nonces:
    // one token signs in once).
    let mut id_tokens = Vec::new();
    for n in 0..6 {
        let nonce = format!("nonce-{n}");
        id_tokens.push(provider.id_token(CLIENT_ID, "carol", Some(&nonce)).await);
    }
    let attempts = id_tokens.iter().enumerate().map(|(n, id_token)| {
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

// What follows uses the minimal provider of helpers/issuer.rs, whose ID
// tokens the tests mint with any claims: it needs nothing installed.

async fn sign_in_with(app: &TestApp, id_token: &str, client: &str) -> (StatusCode, Value) {
    json_of(
        app.login_oidc("corp", json!({"client": client, "id_token": id_token}))
            .await,
    )
    .await
}

fn used_id_token_rows(app: &TestApp) -> Vec<(Vec<u8>, i64)> {
    use diesel::prelude::*;
    use multitoken::db::schema::used_id_tokens;
    used_id_tokens::table
        .select((used_id_tokens::digest, used_id_tokens::expires_at))
        .load(&mut app.connection())
        .expect("used ID tokens")
}

/// H1 of security round three: whoever registers an address first must not
/// own the account its owner later signs into with a provider that vouches
/// for it; and an admin's address links nobody to the admin.
#[on_both_backends]
async fn a_verified_address_links_only_to_a_non_admin_whose_own_address_is_verified(
    backend: Backend,
) {
    let issuer = Issuer::start();
    let app = TestApp::spawn_with(
        backend,
        with_providers(vec![issuer.configured("corp")], LinkByEmail::Verified),
    )
    .await;
    // Mallory registers first, with the victim's address, never verified.
    let response = app
        .register(json!({"username": "mallory", "password": "Mallory-pass-99!", "email": "victim@corp.example"}))
        .await;
    let (status, registered) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let mallory = registered["id"].as_i64().expect("an id");
    // The victim's first sign-in with the provider.
    let mut claims = issuer.claims("victim-sub-42");
    claims["email"] = json!("Victim@Corp.example");
    claims["email_verified"] = json!(true);
    claims["preferred_username"] = json!("victim");
    let (status, body) = sign_in_with(&app, &issuer.mint(&claims), "phone").await;
    println!("H1: the victim's sign-in: {status} {body}");
    assert_eq!(status, StatusCode::OK, "{body}");
    let victim_key = body["auth_token"].as_str().expect("a key").to_owned();
    let me = whoami_body(&app, &victim_key).await;
    println!("H1: the victim's /whoami: {me}");
    assert_ne!(
        me["id"],
        json!(mallory),
        "the victim landed on mallory's account"
    );
    assert_eq!(
        (&me["username"], &me["email"], &me["email_verified"]),
        (
            &json!("victim"),
            &json!("Victim@Corp.example"),
            &json!(true)
        )
    );
    // Mallory's account is as it was: unverified, and without the victim's device.
    assert!(!email_verified_in_db(&app, mallory));
    let mallory_key = app.login_as("mallory", "Mallory-pass-99!", "laptop").await;
    let clients = app.device_clients(&mallory_key).await;
    println!("H1: mallory's devices: {clients:?}");
    assert_eq!(clients, ["laptop"]);

    // An admin's verified address: a new user, never the admin.
    let boss = app.create_user("boss", "boss@corp.example", true);
    app.mark_email_verified(boss);
    let mut claims = issuer.claims("boss-at-provider");
    claims["email"] = json!("boss@CORP.example");
    claims["email_verified"] = json!(true);
    let (status, body) = sign_in_with(&app, &issuer.mint(&claims), "web").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = whoami_body(&app, body["auth_token"].as_str().expect("a key")).await;
    assert_ne!(me["id"], json!(boss), "an admin was linked by e-mail");
    assert_eq!(me["username"], "boss2");

    // A non-admin whose own address is verified is linked, and left as it was.
    let walt = app.create_user("walt", "walt@corp.example", false);
    app.mark_email_verified(walt);
    let mut claims = issuer.claims("walt-at-provider");
    claims["email"] = json!("walt@corp.example");
    claims["email_verified"] = json!(true);
    let (status, body) = sign_in_with(&app, &issuer.mint(&claims), "web").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = whoami_body(&app, body["auth_token"].as_str().expect("a key")).await;
    assert_eq!(me["id"], json!(walt));
    let password_still_works = app.post_login("walt", PASSWORD, "laptop").await;
    assert_eq!(password_still_works.status(), StatusCode::OK);
}

#[on_both_backends]
async fn an_id_token_signs_in_once_on_every_instance_and_is_remembered_by_digest(backend: Backend) {
    let issuer = Issuer::start();
    let configure = || {
        let provider = issuer.configured("corp");
        move |settings: &mut multitoken::config::Settings| {
            with_providers(vec![provider], LinkByEmail::Never)(settings);
            settings.server.sweep_interval = Duration::from_millis(200);
        }
    };
    let app = TestApp::spawn_with(backend, configure()).await;
    let other = app.spawn_on_same_database(configure());
    let id_token = issuer.mint(&issuer.claims("carol-sub"));
    let (status, body) = sign_in_with(&app, &id_token, "web").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_refused(
        app.login_oidc("corp", json!({"client": "ios", "id_token": id_token}))
            .await,
        "a replay on the same instance",
    )
    .await;
    let replayed = app
        .http
        .post(format!("{other}/login/oidc/corp"))
        .json(&json!({"client": "ios", "id_token": id_token}))
        .send()
        .await
        .expect("the other instance");
    assert_refused(replayed, "a replay on another instance").await;
    // Kept as a digest, not the token, for no longer than it could be accepted.
    let rows = used_id_token_rows(&app);
    assert_eq!(rows.len(), 1);
    let (digest, expires_at) = &rows[0];
    assert_eq!(digest.len(), 32);
    assert!(!id_token
        .as_bytes()
        .windows(8)
        .any(|w| digest.windows(8).any(|d| d == w)));
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        *expires_at > now && *expires_at <= now + 13 * 60 * 1000,
        "{expires_at}"
    );

    // The same token at once from six devices: one sign-in.
    let fresh = issuer.mint(&issuer.claims("carol-sub"));
    let attempts = (0..6).map(|n| sign_in_with(&app, &fresh, ["a", "b", "c", "d", "e", "f"][n]));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );

    // The sweep forgets those past their time, and only those.
    {
        use diesel::prelude::*;
        use multitoken::db::schema::used_id_tokens;
        diesel::insert_into(used_id_tokens::table)
            .values((
                used_id_tokens::digest.eq(vec![7u8; 32]),
                used_id_tokens::expires_at.eq(now - 1000),
            ))
            .execute(&mut app.connection())
            .expect("an expired row");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while used_id_token_rows(&app).len() != 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = used_id_token_rows(&app);
    assert_eq!(left.len(), 2, "the expired row is swept, the live two stay");
    assert!(left.iter().all(|(digest, _)| digest != &vec![7u8; 32]));
}

#[on_both_backends]
async fn id_tokens_issued_over_ten_minutes_ago_or_in_the_future_are_refused(backend: Backend) {
    let issuer = Issuer::start();
    let app = TestApp::spawn_with(
        backend,
        with_providers(vec![issuer.configured("corp")], LinkByEmail::Never),
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    let with_times = |sub: &str, iat: i64, exp: i64| {
        let mut claims = issuer.claims(sub);
        claims["iat"] = json!(iat);
        claims["exp"] = json!(exp);
        issuer.mint(&claims)
    };
    for (why, token) in [
        ("iat 11 minutes ago", with_times("s1", now - 660, now + 300)),
        (
            "iat a day ago, exp ten years ahead",
            with_times("s2", now - 86_400, now + 315_360_000),
        ),
        (
            "iat an hour ahead",
            with_times("s3", now + 3600, now + 7200),
        ),
        (
            "iat a day ahead",
            with_times("s4", now + 86_400, now + 90_000),
        ),
    ] {
        let (status, body) = sign_in_with(&app, &token, "web").await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                json!({"non_field_errors": [REFUSED]})
            ),
            "{why}"
        );
    }
    for (why, token) in [
        (
            "iat nine minutes ago",
            with_times("s5", now - 540, now + 300),
        ),
        (
            "iat 20 s ahead (clock skew)",
            with_times("s6", now + 20, now + 300),
        ),
        (
            "a fresh iat and an exp ten years ahead",
            with_times("s7", now, now + 315_360_000),
        ),
    ] {
        let (status, body) = sign_in_with(&app, &token, "web").await;
        assert_eq!(status, StatusCode::OK, "{why}: {body}");
    }
    // The ten-year token is remembered only as long as its iat lets it in.
    let latest = used_id_token_rows(&app)
        .into_iter()
        .map(|(_, until)| until)
        .max();
    assert!(latest.expect("rows") <= (now + 13 * 60) * 1000);
}

/// L3 of security round three: a NUL in `sub` was a 500 on PostgreSQL.
#[on_both_backends]
async fn control_characters_in_the_claims_are_refused_or_dropped_never_a_500(backend: Backend) {
    let issuer = Issuer::start();
    let app = TestApp::spawn_with(
        backend,
        with_providers(vec![issuer.configured("corp")], LinkByEmail::Verified),
    )
    .await;
    for (why, sub) in [
        ("a NUL in sub", "victim\u{0}sub".to_owned()),
        ("a line break in sub", "victim\nsub".to_owned()),
        ("a 256-character sub", "s".repeat(256)),
    ] {
        let (status, body) = sign_in_with(&app, &issuer.mint(&issuer.claims(&sub)), "web").await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                json!({"non_field_errors": [REFUSED]})
            ),
            "{why}"
        );
    }
    // A NUL in the e-mail drops the address; in the name, the character.
    let mut claims = issuer.claims("nul-elsewhere");
    claims["email"] = json!("nul\u{0}@corp.example");
    claims["email_verified"] = json!(true);
    claims["preferred_username"] = json!("ni\u{0}na");
    let (status, body) = sign_in_with(&app, &issuer.mint(&claims), "web").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = whoami_body(&app, body["auth_token"].as_str().expect("a key")).await;
    assert_eq!(
        (&me["username"], &me["email"]),
        (&json!("nina"), &json!(""))
    );
    // 255 characters is a subject.
    let (status, body) =
        sign_in_with(&app, &issuer.mint(&issuer.claims(&"s".repeat(255))), "web").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// I6 of security round three, for ID tokens: (r, n - s) verifies as (r, s) does.
#[on_both_backends]
async fn only_the_low_s_signature_of_an_es256_id_token_is_accepted(backend: Backend) {
    let issuer = Issuer::start();
    let app = TestApp::spawn_with(
        backend,
        with_providers(vec![issuer.configured("corp")], LinkByEmail::Never),
    )
    .await;
    let low = issuer.mint(&issuer.claims("dora-sub"));
    // The twin first: it must not sign in (nor spend the token).
    assert_refused(
        app.login_oidc(
            "corp",
            json!({"client": "web", "id_token": high_s_twin(&low)}),
        )
        .await,
        "the high-S twin",
    )
    .await;
    let (status, body) = sign_in_with(&app, &low, "web").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
