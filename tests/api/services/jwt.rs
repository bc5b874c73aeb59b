//! JWT access tokens: Simple JWT's endpoints (`/token`, `/token/refresh`,
//! `/token/verify`, `/token/blacklist`), the JWKS, access JWTs in place of
//! keys everywhere (with the device re-checked), every kind of bad JWT
//! refused everywhere, and the signing keys across a rotation and across
//! instances.

use crate::helpers::issuer::high_s_twin;
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_json, assert_unauthorized, header, unix_now, Backend,
    Sent, ServerProcess, TestApp, TestDatabase, PASSWORD,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};

const JWKS: &str = "/.well-known/jwks.json";
const INVALID: &str = "Token is invalid or expired";

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).expect("a JWS part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("json")
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

async fn assert_token_not_valid(response: Response) {
    assert_eq!(
        header(&response, "www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
    assert_json(
        response,
        StatusCode::UNAUTHORIZED,
        json!({"detail": INVALID, "code": "token_not_valid"}),
    )
    .await;
}

/// The places an access token is presented, on the server at `base`.
struct Everywhere<'a> {
    http: &'a Client,
    base: &'a str,
    /// A service user's key on that server, for `/introspect`.
    service_key: &'a str,
}

impl<'a> Everywhere<'a> {
    /// The server at `base`, reached with `app`'s client.
    fn at(app: &'a TestApp, base: &'a str, service_key: &'a str) -> Self {
        Everywhere {
            http: &app.http,
            base,
            service_key,
        }
    }

    async fn get_with_bearer(&self, path: &str, token: &str) -> Response {
        let url = format!("{}{path}", self.base);
        self.http.get(url).bearer_auth(token).sent().await
    }

    async fn whoami(&self, token: &str) -> Response {
        self.get_with_bearer("/whoami", token).await
    }

    async fn forward_auth(&self, token: &str) -> Response {
        self.get_with_bearer("/auth/verify", token).await
    }

    async fn introspect(&self, token: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/introspect", self.base))
            .header("Authorization", format!("Token {}", self.service_key))
            .form(&[("token", token)])
            .sent()
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    async fn token_verify(&self, token: &str) -> Response {
        self.http
            .post(format!("{}/token/verify", self.base))
            .json(&json!({ "token": token }))
            .sent()
            .await
    }

    /// Accepted by all four.
    async fn assert_accepted(&self, token: &str, why: &str) {
        assert_eq!(
            self.whoami(token).await.status(),
            StatusCode::OK,
            "whoami: {why}"
        );
        assert_eq!(
            self.forward_auth(token).await.status(),
            StatusCode::OK,
            "auth/verify: {why}"
        );
        assert_eq!(
            self.introspect(token).await["active"],
            json!(true),
            "introspect: {why}"
        );
        assert_eq!(
            self.token_verify(token).await.status(),
            StatusCode::OK,
            "token/verify: {why}"
        );
    }

    /// Refused by all four, each in its own way.
    async fn assert_refused(&self, token: &str, detail: &str, why: &str) {
        let whoami = self.whoami(token).await;
        assert_eq!(whoami.status(), StatusCode::UNAUTHORIZED, "whoami: {why}");
        assert_unauthorized(whoami, detail).await;
        assert_unauthorized(self.forward_auth(token).await, detail).await;
        assert_eq!(
            self.introspect(token).await,
            json!({"active": false}),
            "introspect: {why}"
        );
        assert_token_not_valid(self.token_verify(token).await).await;
    }
}

#[on_both_backends]
async fn the_readme_flow_obtain_use_verify_refresh_blacklist(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let response = app
        .post_json(
            "/token",
            json!({"username": "alice", "password": PASSWORD, "client": "web", "otp": "ignored"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        crate::helpers::keys_of(&body),
        ["access", "device_proof", "refresh"]
    );
    let (refresh, access) = (
        body["refresh"].as_str().expect("refresh").to_owned(),
        body["access"].as_str().expect("access").to_owned(),
    );
    // The refresh token is the device's ordinary key.
    assert_eq!(app.whoami_status(&refresh).await, StatusCode::OK);
    let whoami = app
        .with_bearer(Method::GET, "/whoami", &access)
        .sent()
        .await;
    assert_json(
        whoami,
        StatusCode::OK,
        json!({"id": 1, "username": "alice", "email": "alice@example.com", "email_verified": false,
               "is_admin": false, "client": "web", "scopes": [], "two_factor": false}),
    )
    .await;
    assert_json(app.verify_jwt(&access).await, StatusCode::OK, json!({})).await;

    let refreshed = app.refresh_jwt(&refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
    let refreshed: Value = refreshed.json().await.expect("json");
    assert_eq!(crate::helpers::keys_of(&refreshed), ["access"]);
    let second = refreshed["access"].as_str().expect("access").to_owned();
    assert_ne!(part(&second, 1)["jti"], part(&access, 1)["jti"]);
    assert_eq!(
        part(&second, 1)["sid"],
        part(&access, 1)["sid"],
        "one device, one sid"
    );

    assert_json(app.blacklist_jwt(&refresh).await, StatusCode::OK, json!({})).await;
    for token in [&access, &second] {
        let response = app.with_bearer(Method::GET, "/whoami", token).sent().await;
        assert_unauthorized(response, "Invalid token.").await;
        assert_token_not_valid(app.verify_jwt(token).await).await;
    }
    assert_token_not_valid(app.refresh_jwt(&refresh).await).await;
}

#[on_both_backends]
async fn token_fails_exactly_as_login_does(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |settings| settings.tokens.max_clients_per_user = 1).await;
    app.create_user("bob", "", false);
    for (body, status) in [
        (
            json!({"username": "bob", "password": "wrong password", "client": "web"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"username": "bob", "password": PASSWORD}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"username": "bob", "password": PASSWORD, "client": "a b"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let login = app.post_json("/login", body.clone()).await;
        let token = app.post_json("/token", body.clone()).await;
        assert_eq!(token.status(), status, "{body}");
        assert_eq!(login.status(), status, "{body}");
        let (login, token): (Value, Value) = (
            login.json().await.expect("json"),
            token.json().await.expect("json"),
        );
        assert_eq!(token, login, "{body}");
    }
    app.obtain_jwt("bob", "web").await;
    // The client limit, and the re-login of a held client.
    assert_detail(
        app.post_json(
            "/token",
            json!({"username": "bob", "password": PASSWORD, "client": "ios"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "Maximum number of clients per user exceeded.",
    )
    .await;
    let (refresh, _) = app.obtain_jwt("bob", "web").await;
    assert_eq!(app.devices(&refresh).await.len(), 1);
}

#[on_both_backends]
async fn refresh_verify_and_blacklist_refuse_as_simple_jwt_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("carol", "", false);
    let (refresh, access) = app.obtain_jwt("carol", "web").await;
    for path in ["/token/refresh", "/token/blacklist"] {
        assert_bad_request(
            app.post_json(path, json!({})).await,
            json!({"refresh": ["This field is required."]}),
        )
        .await;
        for bad in ["mt_not-a-key", access.as_str(), "x\u{1}y"] {
            let response = app.post_json(path, json!({ "refresh": bad })).await;
            if bad.contains('\u{1}') {
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{path} {bad:?}"
                );
            } else {
                assert_token_not_valid(response).await;
            }
        }
    }
    assert_bad_request(
        app.post_json("/token/verify", json!({})).await,
        json!({"token": ["This field is required."]}),
    )
    .await;
    // A device key is not an access token.
    assert_token_not_valid(app.verify_jwt(&refresh).await).await;
    assert_token_not_valid(app.verify_jwt("a.b.c").await).await;
    // Form bodies work alike.
    let form = app
        .request(Method::POST, "/token/refresh")
        .form(&[("refresh", refresh.as_str())])
        .sent()
        .await;
    assert_eq!(form.status(), StatusCode::OK);
}

#[on_both_backends]
async fn an_access_token_carries_the_contract_claims_and_header(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.jwt.jwt_issuer = Some("https://auth.example".into());
        settings.jwt.jwt_audience = Some("orders".into());
    })
    .await;
    let id = app.create_user("dave", "", false);
    let response = app
        .post_json(
            "/token",
            json!({"username": "dave", "password": PASSWORD, "client": "cli", "scopes": ["orders:read", "a"]}),
        )
        .await;
    let body: Value = response.json().await.expect("json");
    let (refresh, access) = (
        body["refresh"].as_str().expect("refresh"),
        body["access"].as_str().expect("access"),
    );
    let header = part(access, 0);
    let jwks = jwks_document(&app).await;
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "ES256", "kid": jwks["keys"][0]["kid"]})
    );
    let claims = part(access, 1);
    assert_eq!(
        crate::helpers::keys_of(&claims),
        [
            "aud",
            "client",
            "exp",
            "iat",
            "iss",
            "jti",
            "scope",
            "sid",
            "sub",
            "token_type",
            "user_id",
            "username"
        ]
    );
    assert_eq!(claims["token_type"], "access");
    assert_eq!(claims["user_id"], json!(id));
    assert_eq!(claims["sub"], json!(id.to_string()));
    assert_eq!(claims["username"], "dave");
    assert_eq!(claims["client"], "cli");
    assert_eq!(claims["scope"], "orders:read a");
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(claims["aud"], "orders");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        300
    );
    let jti = claims["jti"].as_str().expect("jti");
    assert_eq!(jti.len(), 32);
    assert!(jti.bytes().all(|b| b.is_ascii_hexdigit()));
    // The sid reveals neither the key nor its digest.
    let sid = claims["sid"].as_str().expect("sid");
    let digest = multitoken::domain::TokenDigest::of(refresh);
    let hex: String = digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!hex.contains(sid) && !refresh.contains(sid) && !sid.contains(&hex[..16]));
    // A restricted token's JWT is restricted as its key is.
    let response = app
        .with_bearer(Method::POST, "/logout/all", access)
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // An unrestricted one has no scope claim.
    let (_, unrestricted) = app.obtain_jwt("dave", "web").await;
    assert!(part(&unrestricted, 1).get("scope").is_none());
}

#[on_both_backends]
async fn a_revoked_or_replaced_device_ends_its_access_tokens_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("erin", "", false);
    let (web_key, web_access) = app.obtain_jwt("erin", "web").await;
    let (_, ios_access) = app.obtain_jwt("erin", "ios").await;
    let whoami = |token: String| {
        let request = app.with_bearer(Method::GET, "/whoami", &token);
        async move { request.sent().await }
    };
    assert_eq!(whoami(web_access.clone()).await.status(), StatusCode::OK);
    // A new login of the client replaces its key, and so its access tokens.
    let (_, new_web_access) = app.obtain_jwt("erin", "web").await;
    assert_unauthorized(whoami(web_access.clone()).await, "Invalid token.").await;
    assert_eq!(
        whoami(new_web_access.clone()).await.status(),
        StatusCode::OK
    );
    assert_unauthorized(app.whoami(&web_key).await, "Invalid token.").await;
    // Revoking a device by name, with a JWT as the credential.
    let response = app
        .with_bearer(Method::DELETE, "/tokens/ios", &new_web_access)
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(whoami(ios_access).await, "Invalid token.").await;
    // /logout with a JWT logs its device out.
    let response = app
        .with_bearer(Method::POST, "/logout", &new_web_access)
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_unauthorized(whoami(new_web_access).await, "Invalid token.").await;
}

#[on_both_backends]
async fn expired_access_tokens_are_refused_everywhere(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        // `exp` counts whole seconds, so a one-second token issued late in a
        // second could expire before the "fresh" checks are done.
        settings.jwt.access_token_lifetime = Duration::from_secs(3);
    })
    .await;
    app.create_service_user("gateway");
    let service_key = app.login("gateway", "svc").await;
    app.create_user("frank", "", false);
    let (_, access) = app.obtain_jwt("frank", "web").await;
    let everywhere = Everywhere::at(&app, &app.address, &service_key);
    everywhere.assert_accepted(&access, "fresh").await;
    let expires_at = part(&access, 1)["exp"].as_u64().expect("exp");
    let until_expired = Duration::from_secs(expires_at).saturating_sub(unix_now());
    tokio::time::sleep(until_expired + Duration::from_millis(200)).await;
    everywhere
        .assert_refused(&access, "Token has expired.", "expired")
        .await;
}

#[on_both_backends]
async fn forged_access_tokens_are_refused_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_service_user("gateway");
    let service_key = app.login("gateway", "svc").await;
    app.create_user("grace", "", false);
    app.create_user("mallory", "", false);
    let (_, access) = app.obtain_jwt("grace", "web").await;
    let (_, mallory) = app.obtain_jwt("mallory", "web").await;
    let everywhere = Everywhere::at(&app, &app.address, &service_key);
    everywhere.assert_accepted(&access, "as issued").await;
    let (header, claims, signature) = (
        part(&access, 0),
        part(&access, 1),
        access.split('.').nth(2).expect("signature"),
    );

    let mut other_user = claims.clone();
    other_user["user_id"] = json!(1);
    other_user["sub"] = json!("1");
    other_user["username"] = json!("gateway");
    let tampered = format!("{}.{}.{signature}", encode(&header), encode(&other_user));

    let mut other_kid = header.clone();
    other_kid["kid"] = json!("c29tZSBvdGhlciBrZXk");
    let wrong_kid = format!("{}.{}.{signature}", encode(&other_kid), encode(&claims));

    let none = format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "typ": "JWT"})),
        encode(&claims)
    );

    // HS256 keyed with our own public key (as fetched from the JWKS).
    let jwks = jwks_document(&app).await;
    let jwk = &jwks["keys"][0];
    let mut point = vec![4u8];
    for coordinate in ["x", "y"] {
        point.extend(
            URL_SAFE_NO_PAD
                .decode(jwk[coordinate].as_str().expect("coordinate"))
                .expect("base64url"),
        );
    }
    let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]});
    let mut forged = Vec::new();
    for key in [point.clone(), serde_json::to_vec(jwk).expect("json")] {
        let signing_input = format!("{}.{}", encode(&hs_header), encode(&claims));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("hmac");
        mac.update(signing_input.as_bytes());
        forged.push(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        ));
    }

    // Another user's signature on this user's claims.
    let swapped = format!(
        "{}.{}.{}",
        encode(&header),
        encode(&claims),
        mallory.split('.').nth(2).expect("signature")
    );

    for (token, why) in [
        (&tampered, "claims changed after signing"),
        (&wrong_kid, "an unknown kid"),
        (&none, "alg none"),
        (&forged[0], "HS256 keyed with the public point"),
        (&forged[1], "HS256 keyed with the public JWK"),
        (&swapped, "another token's signature"),
        // (r, n - s) verifies as (r, s) does; only the low-S one is taken
        // (and high_s_twin checks that the one issued is that one).
        (&high_s_twin(&access), "the high-S twin of its signature"),
    ] {
        everywhere
            .assert_refused(token, "Invalid token.", why)
            .await;
    }
    everywhere
        .assert_accepted(&access, "the original still")
        .await;
}

#[on_both_backends]
async fn wrong_issuer_or_audience_is_refused_everywhere(backend: Backend) {
    let configure = |issuer: &'static str, audience: &'static str| {
        move |settings: &mut multitoken::config::Settings| {
            settings.jwt.jwt_issuer = Some(issuer.into());
            settings.jwt.jwt_audience = Some(audience.into());
        }
    };
    let app = TestApp::spawn_with(backend, configure("https://auth.example", "orders")).await;
    app.create_service_user("gateway");
    let service_key = app.login("gateway", "svc").await;
    app.create_user("heidi", "", false);
    let (_, access) = app.obtain_jwt("heidi", "web").await;
    // Instances on the same database share the keys, so only the claims differ.
    let other_issuer = app.spawn_on_same_database(configure("https://other.example", "orders"));
    let other_audience = app.spawn_on_same_database(configure("https://auth.example", "billing"));
    let same = app.spawn_on_same_database(configure("https://auth.example", "orders"));
    for (base, why) in [(&same, "the same claims expected")] {
        Everywhere::at(&app, base, &service_key)
            .assert_accepted(&access, why)
            .await;
    }
    for (base, why) in [
        (&other_issuer, "another issuer"),
        (&other_audience, "another audience"),
    ] {
        Everywhere::at(&app, base, &service_key)
            .assert_refused(&access, "Invalid token.", why)
            .await;
    }
    // A server that expects no issuer or audience ignores them; one that
    // expects them refuses a token without them.
    let unset = app.spawn_on_same_database(|_| {});
    Everywhere::at(&app, &unset, &service_key)
        .assert_accepted(&access, "nothing expected")
        .await;
    let (_, plain) = app.obtain_jwt_at(&unset, "heidi", "ios").await;
    Everywhere::at(&app, &app.address, &service_key)
        .assert_refused(&plain, "Invalid token.", "no iss or aud")
        .await;
}

/// `GET /.well-known/jwks.json`, as JSON.
async fn jwks_document(app: &TestApp) -> Value {
    app.get(JWKS).await.json().await.expect("json")
}

/// The JWKS response, and the key ids of a second fetch.
async fn jwks(app: &TestApp) -> (Response, Vec<String>) {
    let response = app.get(JWKS).await;
    let copy = jwks_document(app).await;
    let kids = copy["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect();
    (response, kids)
}

/// Polls `check` every 250 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[on_both_backends]
async fn the_jwks_lists_the_signer_and_a_rotated_key_until_its_tokens_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.jwt.access_token_lifetime = Duration::from_secs(2);
    })
    .await;
    app.create_user("ivan", "", false);
    let (response, kids) = jwks(&app).await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body: Value = response.json().await.expect("json");
    let key = &body["keys"][0];
    assert_eq!(
        crate::helpers::keys_of(key),
        ["alg", "crv", "kid", "kty", "use", "x", "y"]
    );
    assert_eq!(
        (&key["kty"], &key["crv"], &key["use"], &key["alg"]),
        (
            &json!("EC"),
            &json!("P-256"),
            &json!("sig"),
            &json!("ES256")
        )
    );
    assert_eq!(kids.len(), 1);
    let old_kid = kids[0].clone();
    let (refresh, old_access) = app.obtain_jwt("ivan", "web").await;

    let rotated = app.cli(&["jwt", "rotate-key", "--access-token-lifetime", "2s"], "");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let listed = app.cli(&["jwt", "keys", "--access-token-lifetime", "2s"], "");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed
            .lines()
            .nth(1)
            .expect("old key")
            .starts_with(&old_kid),
        "{listed}"
    );
    assert!(
        listed.lines().next().expect("new key").ends_with("signing"),
        "{listed}"
    );

    // The server picks up the new signer without a restart.
    let new_kid = || async {
        let response = app.refresh_jwt(&refresh).await;
        let body: Value = response.json().await.expect("json");
        part(body["access"].as_str().expect("access"), 0)["kid"] != json!(old_kid)
    };
    eventually(
        Duration::from_secs(8),
        "new tokens signed by the new key",
        new_kid,
    )
    .await;
    let (_, kids) = jwks(&app).await;
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&old_kid));
    // The old key leaves once no token it signed can be unexpired.
    eventually(
        Duration::from_secs(15),
        "the old key leaves the JWKS",
        || async { !jwks(&app).await.1.contains(&old_kid) },
    )
    .await;
    assert_token_not_valid(app.verify_jwt(&old_access).await).await;
}

#[on_both_backends]
async fn access_tokens_pass_forward_auth_and_introspection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_service_user("gateway");
    let service_key = app.login("gateway", "svc").await;
    let id = app.create_user("judy", "judy@example.com", false);
    let response = app
        .post_json(
            "/token",
            json!({"username": "judy", "password": PASSWORD, "client": "cli", "scopes": "orders:read"}),
        )
        .await;
    let access = response.json::<Value>().await.expect("json")["access"]
        .as_str()
        .expect("access")
        .to_owned();
    let claims = part(&access, 1);
    let forward = app
        .with_bearer(Method::GET, "/auth/verify?scope=orders:read", &access)
        .sent()
        .await;
    assert_eq!(forward.status(), StatusCode::OK);
    assert_eq!(forward.headers()["x-auth-request-user"], "judy");
    assert_eq!(forward.headers()["x-multitoken-client"], "cli");
    assert_eq!(forward.headers()["x-multitoken-scopes"], "orders:read");
    let missing_scope = app
        .with_bearer(Method::GET, "/auth/verify?scope=orders:write", &access)
        .sent()
        .await;
    assert_eq!(missing_scope.status(), StatusCode::FORBIDDEN);
    let everywhere = Everywhere::at(&app, &app.address, &service_key);
    assert_eq!(
        everywhere.introspect(&access).await,
        json!({"active": true, "token_type": "Token", "client_id": "cli", "username": "judy",
               "sub": id.to_string(), "is_admin": false, "exp": claims["exp"], "iat": claims["iat"],
               "scope": "orders:read"})
    );
}

/// Instances started at the same moment on one empty PostgreSQL database
/// agree on one signer, and accept each other's tokens.
#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn instances_started_at_once_agree_on_the_signer() {
    let database = TestDatabase::create(Backend::Postgres);
    multitoken::db::migrate(&database.database).expect("migrate");
    let url = database.url();
    let env = [(
        "SECRET_KEY",
        "a shared secret key for both of these instances",
    )];
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| ServerProcess::start(&url, &env));
        let second = scope.spawn(|| ServerProcess::start(&url, &env));
        (first.join().expect("first"), second.join().expect("second"))
    });
    let http = Client::new();
    let get_jwks = |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/.well-known/jwks.json"))
                .send()
                .await
                .expect("jwks")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let (a, b) = (
        get_jwks(first.address.clone()).await,
        get_jwks(second.address.clone()).await,
    );
    assert_eq!(a["keys"].as_array().expect("keys").len(), 1, "{a}");
    assert_eq!(a, b);
    let output = crate::helpers::run_cli(
        &url,
        &["user", "create", "kim", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(output.status.success());
    let body: Value = http
        .post(first.url("/token"))
        .json(&json!({"username": "kim", "password": PASSWORD, "client": "web"}))
        .sent()
        .await
        .json()
        .await
        .expect("json");
    let verified = http
        .post(second.url("/token/verify"))
        .json(&json!({ "token": body["access"] }))
        .sent()
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
}
