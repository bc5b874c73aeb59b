//! Real JWT verifiers of our access tokens, from the JWKS alone: Simple
//! JWT's `JWTStatelessUserAuthentication` in the Django project of
//! `tests/resource_server/` (`GET /jwt/orders/`), and PyJWT's `PyJWKClient`
//! across a key rotation. Both need the Python of `.venv-tests/` (see
//! `resource_server.rs`); without it they are reported as ignored.

use crate::helpers::on_both_backends;
use crate::helpers::resource_server::{python, ResourceServer};
use crate::helpers::{stdout_of, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const ISSUER: &str = "https://auth.example";
const AUDIENCE: &str = "orders";
const LIFETIME: Duration = Duration::from_secs(3);
const ROTATION_LIFETIME: Duration = Duration::from_secs(10);

async fn app(backend: Backend, lifetime: Duration) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        settings.jwt.jwt_issuer = Some(ISSUER.into());
        settings.jwt.jwt_audience = Some(AUDIENCE.into());
        settings.jwt.access_token_lifetime = lifetime;
    })
    .await
}

#[on_both_backends(needs django_tests, "no Python for the JWT verifiers")]
async fn simple_jwt_accepts_our_access_tokens_and_refuses_tampered_or_expired_ones(
    backend: Backend,
) {
    let app = app(backend, LIFETIME).await;
    let id = app.create_user("alice", "", false);
    let jwks_url = app.url("/.well-known/jwks.json");
    // Its introspection settings are unused by the JWT view.
    let server = ResourceServer::start_with(
        &app.url("/introspect"),
        "unused",
        &[
            ("RESOURCE_SERVER_JWKS_URL", jwks_url.as_str()),
            ("RESOURCE_SERVER_JWT_ISSUER", ISSUER),
            ("RESOURCE_SERVER_JWT_AUDIENCE", AUDIENCE),
        ],
    );
    let (refresh, access) = app.obtain_jwt("alice", "web").await;
    let response = server.get("/jwt/orders/", &access).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", server.log());
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"user_id": id, "username": "alice", "client": "web"})
    );

    // Another user's name in the claims, the signature left as it was.
    let tampered = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let parts: Vec<&str> = access.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64"))
                .expect("json");
        claims["username"] = json!("mallory");
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        format!("{}.{claims}.{}", parts[0], parts[2])
    };
    for (token, why) in [
        (tampered.as_str(), "tampered"),
        (refresh.as_str(), "a device key"),
    ] {
        let response = server.get("/jwt/orders/", token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], "token_not_valid", "{why}: {body}");
    }
    // A token from a server with another issuer is refused too.
    let other = app.spawn_on_same_database(|settings| {
        settings.jwt.jwt_issuer = Some("https://elsewhere".into())
    });
    let (_, foreign) = app.obtain_jwt_at(&other, "alice", "ios").await;
    let response = server.get("/jwt/orders/", &foreign).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "another issuer"
    );

    tokio::time::sleep(LIFETIME + Duration::from_millis(1100)).await;
    let response = server.get("/jwt/orders/", &access).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "expired");
}

/// What PyJWT makes of each token with nothing but the JWKS at `jwks_url`
/// (fetched afresh): `"ok"`, or the exception's class name.
fn pyjwt_verdicts(jwks_url: &str, tokens: &[&str]) -> Vec<String> {
    let script = r#"
import json, sys, jwt
url, tokens = sys.argv[1], sys.argv[2:]
client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False)
verdicts = []
for token in tokens:
    try:
        key = client.get_signing_key_from_jwt(token).key
        jwt.decode(token, key, algorithms=["ES256"], issuer="https://auth.example", audience="orders")
        verdicts.append("ok")
    except Exception as error:
        verdicts.append(type(error).__name__)
print(json.dumps(verdicts))
"#;
    let output = stdout_of(
        Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(jwks_url)
            .args(tokens),
        "PyJWT",
    );
    serde_json::from_slice(&output).expect("verdicts")
}

fn kid(token: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = URL_SAFE_NO_PAD
        .decode(token.split('.').next().expect("header"))
        .expect("base64");
    let header: Value = serde_json::from_slice(&header).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

#[on_both_backends(needs django_tests, "no Python for the JWT verifiers")]
async fn pyjwt_verifies_from_the_jwks_alone_across_a_key_rotation(backend: Backend) {
    // Long enough for the old key's token to outlive the new key's pickup.
    let app = app(backend, ROTATION_LIFETIME).await;
    app.create_user("bob", "", false);
    let (refresh, old) = app.obtain_jwt("bob", "web").await;
    let jwks_url = app.url("/.well-known/jwks.json");
    assert_eq!(pyjwt_verdicts(&jwks_url, &[&old]), ["ok"]);

    let rotated = app.cli(&["jwt", "rotate-key", "--access-token-lifetime", "10s"], "");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let started = Instant::now();
    let new = loop {
        let response = app.refresh_jwt(&refresh).await;
        let body: Value = response.json().await.expect("json");
        let access = body["access"].as_str().expect("access").to_owned();
        if kid(&access) != kid(&old) {
            break access;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Both the token of the retired key and that of the new one verify.
    assert_eq!(pyjwt_verdicts(&jwks_url, &[&old, &new]), ["ok", "ok"]);
    // Once the old key's tokens have all expired, the key leaves the JWKS:
    // PyJWT then cannot even find it.
    let started = Instant::now();
    loop {
        let verdicts = pyjwt_verdicts(&jwks_url, &[&old]);
        if verdicts == ["PyJWKClientError"] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the old key stayed in the JWKS: {verdicts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
