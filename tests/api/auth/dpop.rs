//! Keys bound to the device (DPoP, RFC 9449): binding at sign-in, a proof
//! on every use, the contract's refusals, replay across instances, `htu`
//! from `PUBLIC_URL` or a trusted proxy, `/auth/verify`, `/introspect`,
//! access JWTs and `DPOP_REQUIRED_CLIENTS`. The proofs are made by
//! `helpers::dpop` for each algorithm; `tests/api/services/dpop_proxies.rs`
//! has them made by npm's `dpop` through nginx and Caddy.

use crate::helpers::dpop::{Claims, DeviceKey};
use crate::helpers::on_both_backends;
use crate::helpers::{assert_unauthorized, header, Backend, Sent, TestApp, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::PublicUrl;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const INVALID_PROOF: &str = "Invalid DPoP proof.";
const CHALLENGE: &str =
    r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA Ed25519 RS256 PS256""#;

/// `POST /login` for alice on `client` with a proof by `device`.
async fn login_bound(app: &TestApp, device: &DeviceKey, client: &str) -> Response {
    app.request(Method::POST, "/login")
        .header("DPoP", device.proof("POST", &app.url("/login")))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": client}))
        .sent()
        .await
}

/// A bound key for alice on `client`.
async fn bound_key(app: &TestApp, device: &DeviceKey, client: &str) -> String {
    let response = login_bound(app, device, client).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", device.alg());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body["auth_token"].as_str().expect("auth_token").to_owned()
}

async fn assert_invalid_proof(response: Response, case: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    assert_eq!(
        header(&response, "www-authenticate"),
        Some(CHALLENGE),
        "{case}"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"detail": INVALID_PROOF}), "{case}");
}

#[on_both_backends]
async fn a_key_bound_with_each_algorithm_works_with_its_proofs_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let whoami_url = app.url("/whoami");
    for (index, device) in DeviceKey::every_kind().iter().enumerate() {
        let client = format!("device-{index}");
        let key = bound_key(&app, device, &client).await;
        let proof = device.proof_for("GET", &whoami_url, &key);
        let response = app.whoami_as("DPoP", &key, Some(proof)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", device.alg());
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["username"], "alice");
        // Again, with a new proof: every use has its own.
        let proof = device.proof_for("GET", &whoami_url, &key);
        let again = app.whoami_as("dpop", &key, Some(proof)).await;
        assert_eq!(again.status(), StatusCode::OK, "{}", device.alg());
        assert_invalid_proof(app.whoami_as("Token", &key, None).await, device.alg()).await;
    }
    let unbound = app.login("alice", "web").await;
    let devices = app.devices(&unbound).await;
    for device in &devices {
        let bound = device["client"] != "web";
        assert_eq!(device["dpop"], json!(bound), "{device}");
    }
    assert_eq!(devices.len(), 6);
}

#[on_both_backends]
async fn a_bound_key_without_a_valid_proof_gets_the_contracts_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let device = DeviceKey::es256();
    let key = bound_key(&app, &device, "phone").await;
    let url = app.url("/whoami");
    let other = DeviceKey::es256();
    let replayed = device.proof_for("GET", &url, &key);
    assert_eq!(
        app.whoami_as("DPoP", &key, Some(replayed.clone()))
            .await
            .status(),
        StatusCode::OK
    );
    let with = |claims: Claims| device.proof_with("GET", &url, &claims);
    let for_key = |claims: Claims| Claims {
        access_token: Some(key.clone()),
        ..claims
    };
    let cases: Vec<(&str, &str, Option<String>)> = vec![
        ("Token", "as a Token key", None),
        ("Bearer", "as a Bearer key", None),
        (
            "Bearer",
            "as a Bearer key, even with a proof",
            Some(device.proof_for("GET", &url, &key)),
        ),
        ("DPoP", "without a proof", None),
        ("DPoP", "a replayed proof", Some(replayed)),
        (
            "DPoP",
            "a proof by another key",
            Some(other.proof_for("GET", &url, &key)),
        ),
        (
            "DPoP",
            "another method",
            Some(device.proof_for("POST", &url, &key)),
        ),
        (
            "DPoP",
            "another URL",
            Some(device.proof_for("GET", &app.url("/tokens"), &key)),
        ),
        (
            "DPoP",
            "an iat too old",
            Some(with(for_key(Claims {
                iat_offset: -120,
                ..Claims::default()
            }))),
        ),
        (
            "DPoP",
            "an iat too far ahead",
            Some(with(for_key(Claims {
                iat_offset: 120,
                ..Claims::default()
            }))),
        ),
        ("DPoP", "no ath", Some(with(Claims::default()))),
        (
            "DPoP",
            "the ath of another key",
            Some(device.proof_for("GET", &url, "mt_another_key")),
        ),
        (
            "DPoP",
            "a JWK with its private part",
            Some(with(for_key(Claims {
                jwk_extra: Some(json!({"d": URL_SAFE_NO_PAD.encode([9u8; 32])})),
                ..Claims::default()
            }))),
        ),
        ("DPoP", "not a JWS", Some("not.a.proof".to_owned())),
    ];
    for (scheme, case, proof) in cases {
        assert_invalid_proof(app.whoami_as(scheme, &key, proof).await, case).await;
    }
    // Two DPoP headers are no proof either.
    let twice = app
        .request(Method::GET, "/whoami")
        .header("Authorization", format!("DPoP {key}"))
        .header("DPoP", device.proof_for("GET", &url, &key))
        .header("DPoP", device.proof_for("GET", &url, &key))
        .sent()
        .await;
    assert_invalid_proof(twice, "two DPoP headers").await;
}

#[on_both_backends]
async fn an_unbound_key_with_the_dpop_scheme_is_an_invalid_token(backend: Backend) {
    let (app, key) = TestApp::spawn_with_alice_on_web(backend).await;
    let device = DeviceKey::ed25519("EdDSA");
    let proof = device.proof_for("GET", &app.url("/whoami"), &key);
    assert_unauthorized(
        app.whoami_as("DPoP", &key, Some(proof)).await,
        "Invalid token.",
    )
    .await;
    // As a bearer key it still works, and lists as unbound.
    assert_eq!(
        app.whoami_as("Token", &key, None).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.devices(&key).await[0]["dpop"], false);
}

#[on_both_backends]
async fn a_sign_in_with_a_bad_proof_issues_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let device = DeviceKey::es256();
    let login_url = app.url("/login");
    let used = device.proof("POST", &login_url);
    let bad_proofs = [
        (
            "a proof for another URL",
            device.proof("POST", &app.url("/token")),
        ),
        (
            "a proof for another method",
            device.proof("GET", &login_url),
        ),
        (
            "a private JWK",
            device.proof_with(
                "POST",
                &login_url,
                &Claims {
                    jwk_extra: Some(json!({"d": URL_SAFE_NO_PAD.encode([1u8; 32])})),
                    ..Claims::default()
                },
            ),
        ),
        (
            "an unsigned proof",
            device.sign(
                &json!({"typ": "dpop+jwt", "alg": "none", "jwk": device.jwk()}),
                &json!({"jti": "x", "htm": "POST", "htu": login_url, "iat": 0}),
            ),
        ),
    ];
    let sign_in = |proof: String| {
        app.request(Method::POST, "/login")
            .header("DPoP", proof)
            .json(&json!({"username": "alice", "password": PASSWORD, "client": "phone"}))
            .sent()
    };
    assert_eq!(sign_in(used.clone()).await.status(), StatusCode::OK);
    assert_invalid_proof(sign_in(used).await, "a replayed proof").await;
    for (case, proof) in bad_proofs {
        assert_invalid_proof(sign_in(proof).await, case).await;
    }
    // Registration with a client and a bad proof creates no user.
    let register = app
        .request(Method::POST, "/register")
        .header("DPoP", device.proof("POST", &login_url))
        .json(&json!({"username": "bob", "password": PASSWORD, "client": "phone"}))
        .sent()
        .await;
    assert_invalid_proof(register, "registration").await;
    assert_eq!(
        app.login_status("bob", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );
    // With a good proof, registration binds the key it issues.
    let register = app
        .request(Method::POST, "/register")
        .header("DPoP", device.proof("POST", &app.url("/register")))
        .json(&json!({"username": "bob", "password": PASSWORD, "client": "phone"}))
        .sent()
        .await;
    assert_eq!(register.status(), StatusCode::CREATED);
    let body: Value = register.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let key = body["auth_token"].as_str().expect("key");
    assert_invalid_proof(app.whoami_as("Token", key, None).await, "bob's bound key").await;
}

#[on_both_backends]
async fn clients_in_dpop_required_clients_must_sign_in_with_a_proof(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.dpop.dpop_required_clients = "phone, cli".into();
    })
    .await;
    app.create_user("alice", "", false);
    for client in ["phone", "cli"] {
        let response = app.post_login("alice", PASSWORD, client).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{client}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body,
            json!({"non_field_errors": ["This client must sign in with a DPoP proof."]})
        );
    }
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::OK
    );
    bound_key(&app, &DeviceKey::es256(), "phone").await;
}

#[on_both_backends]
async fn introspection_and_access_jwts_name_the_bound_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_service_user("gateway");
    app.create_user("alice", "", false);
    let gateway = app.login("gateway", "api").await;
    let device = DeviceKey::rs256();
    let key = bound_key(&app, &device, "phone").await;
    let described: Value = app
        .with_token(Method::POST, "/introspect", &gateway)
        .form(&[("token", key.as_str())])
        .sent()
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(described["token_type"], "DPoP");
    assert_eq!(described["cnf"], json!({"jkt": device.thumbprint()}));

    // /token with a proof: the access JWT carries cnf.jkt.
    let response = app
        .request(Method::POST, "/token")
        .header("DPoP", device.proof("POST", &app.url("/token")))
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "cli"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.expect("json");
    assert_eq!(pair["token_type"], "DPoP");
    let access = pair["access"].as_str().expect("access").to_owned();
    let refresh = pair["refresh"].as_str().expect("refresh").to_owned();
    let payload = access.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("claims");
    assert_eq!(claims["cnf"], json!({"jkt": device.thumbprint()}));
    // ... and needs a proof with its own ath at our endpoints.
    let url = app.url("/whoami");
    assert_invalid_proof(app.whoami_as("Bearer", &access, None).await, "bare JWT").await;
    let proof = device.proof_for("GET", &url, &refresh);
    assert_invalid_proof(
        app.whoami_as("DPoP", &access, Some(proof)).await,
        "ath of the key",
    )
    .await;
    let proof = device.proof_for("GET", &url, &access);
    assert_eq!(
        app.whoami_as("DPoP", &access, Some(proof)).await.status(),
        StatusCode::OK
    );

    // /token/refresh of a bound key needs a proof of the same key.
    let refresh_url = app.url("/token/refresh");
    let refresh_with = |proof: Option<String>| {
        let mut request = app
            .request(Method::POST, "/token/refresh")
            .json(&json!({"refresh": refresh}));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.sent()
    };
    assert_invalid_proof(refresh_with(None).await, "refresh without a proof").await;
    let by_other = DeviceKey::es256();
    assert_invalid_proof(
        refresh_with(Some(by_other.proof_for("POST", &refresh_url, &refresh))).await,
        "refresh with another key's proof",
    )
    .await;
    let refreshed = refresh_with(Some(device.proof_for("POST", &refresh_url, &refresh))).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

#[on_both_backends]
async fn a_proof_is_accepted_once_on_every_instance_of_one_public_url(backend: Backend) {
    let public = |settings: &mut multitoken::config::Settings| {
        settings.server.public_url =
            Some(PublicUrl::parse("https://Auth.Example.com:443/").expect("url"));
    };
    let app = TestApp::spawn_with(backend, public).await;
    let second = app.spawn_on_same_database(public);
    app.create_user("alice", "", false);
    let device = DeviceKey::ed25519("Ed25519");
    let response = app
        .request(Method::POST, "/login")
        .header(
            "DPoP",
            device.proof("POST", "https://auth.example.com/login"),
        )
        .json(&json!({"username": "alice", "password": PASSWORD, "client": "phone"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let key = response.json::<Value>().await.expect("json")["auth_token"]
        .as_str()
        .expect("key")
        .to_owned();
    // The URL the client used is PUBLIC_URL's, not the address it reached.
    let local = device.proof_for("GET", &app.url("/whoami"), &key);
    assert_invalid_proof(app.whoami_as("DPoP", &key, Some(local)).await, "local URL").await;
    let proof = device.proof_for("GET", "https://AUTH.example.com/whoami", &key);
    assert_eq!(
        app.whoami_as("DPoP", &key, Some(proof.clone()))
            .await
            .status(),
        StatusCode::OK
    );
    let on_second = app
        .http
        .get(format!("{second}/whoami"))
        .header("Authorization", format!("DPoP {key}"))
        .header("DPoP", proof)
        .sent()
        .await;
    assert_invalid_proof(on_second, "the same proof at another instance").await;
    let fresh = device.proof_for("GET", "https://auth.example.com/whoami", &key);
    let on_second = app
        .http
        .get(format!("{second}/whoami"))
        .header("Authorization", format!("DPoP {key}"))
        .header("DPoP", fresh)
        .sent()
        .await;
    assert_eq!(on_second.status(), StatusCode::OK);
}

#[on_both_backends]
async fn htu_is_the_scheme_and_host_a_trusted_proxy_forwards(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("proxies");
    })
    .await;
    let untrusting = TestApp::spawn(backend).await;
    for app in [&app, &untrusting] {
        app.create_user("alice", "", false);
    }
    let device = DeviceKey::es256();
    let forwarded_whoami = |app: &TestApp, key: &str| {
        app.request(Method::GET, "/whoami")
            .header("Authorization", format!("DPoP {key}"))
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "api.example.com")
            .header(
                "DPoP",
                device.proof_for("GET", "https://api.example.com/whoami", key),
            )
            .sent()
    };
    let key = bound_key(&app, &device, "phone").await;
    assert_eq!(forwarded_whoami(&app, &key).await.status(), StatusCode::OK);
    let key = bound_key(&untrusting, &device, "phone").await;
    assert_invalid_proof(
        forwarded_whoami(&untrusting, &key).await,
        "forwarded headers from a proxy not trusted",
    )
    .await;
}

#[on_both_backends]
async fn forward_auth_checks_the_proof_against_the_original_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "", false);
    let device = DeviceKey::ps256();
    let key = bound_key(&app, &device, "phone").await;
    let original = "https://orders.example.com/orders/7";
    let verify = |headers: &[(&str, &str)], proof: String| {
        let mut request = app
            .request(Method::GET, "/auth/verify")
            .header("Authorization", format!("DPoP {key}"))
            .header("DPoP", proof);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.sent()
    };
    let nginx = [
        ("X-Original-Method", "DELETE"),
        (
            "X-Original-URL",
            "https://orders.example.com/orders/7?force=1",
        ),
    ];
    let traefik = [
        ("X-Forwarded-Method", "DELETE"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "orders.example.com"),
        ("X-Forwarded-Uri", "/orders/7?force=1"),
    ];
    for headers in [&nginx[..], &traefik[..]] {
        let passed = verify(headers, device.proof_for("DELETE", original, &key)).await;
        assert_eq!(passed.status(), StatusCode::OK, "{headers:?}");
        assert_eq!(header(&passed, "x-multitoken-client"), Some("phone"));
        assert!(passed.headers().get("dpop").is_none());
        let wrong_method = verify(headers, device.proof_for("GET", original, &key)).await;
        assert_invalid_proof(wrong_method, "a proof for another method").await;
    }
    // Without the original request, no proof can be checked.
    assert_invalid_proof(
        verify(&[], device.proof_for("DELETE", original, &key)).await,
        "no original request",
    )
    .await;
    // A bound key as a bearer key is refused here too.
    let bearer = app
        .request(Method::GET, "/auth/verify")
        .header("X-Api-Key", key.as_str())
        .sent()
        .await;
    assert_invalid_proof(bearer, "X-Api-Key").await;
}
