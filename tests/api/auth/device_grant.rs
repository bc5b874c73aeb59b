//! The OAuth device grant (RFC 8628): a device asks for codes, a signed-in
//! device approves or denies them, the device polls for its key; the
//! OAuth error shapes, slow_down, expiry, the client limit, two-factor at
//! approval, the RFC 8414 metadata, codes stored as digests, two instances.

use crate::helpers::on_both_backends;
use crate::helpers::two_factor::{code, enable, wrong_code};
use crate::helpers::{
    assert_bad_request, assert_detail, assert_json, header, keys_of, lines_of, uncached_json,
    Backend, Sent, TestApp, DENIED,
};
use diesel::prelude::*;
use multitoken::db::schema::{device_grants, events};
use multitoken::domain::messages::{INVALID_CODE, NOT_FOUND, TOO_MANY_CLIENTS};
use multitoken::domain::AllowedScopes;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const NARROWER: &str = "Only scopes that the device asked for can be granted.";

/// `POST /oauth/device_authorization` as a form.
async fn authorize(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.request(Method::POST, "/oauth/device_authorization")
        .header("User-Agent", "tv-app/1.0")
        .form(form)
        .sent()
        .await
}

/// Codes for `client` with `scope` (empty: none); the whole answer.
async fn codes(app: &TestApp, client: &str, scope: &str) -> Value {
    let mut form = vec![("client_id", client)];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    uncached_json(authorize(app, &form).await).await
}

/// `POST /oauth/token` with the device grant.
async fn poll_on(base: &str, http: &reqwest::Client, device_code: &str, client: &str) -> Response {
    http.post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client),
        ])
        .sent()
        .await
}

async fn poll(app: &TestApp, codes: &Value, client: &str) -> Response {
    poll_on(
        &app.address,
        &app.http,
        str_of(codes, "device_code"),
        client,
    )
    .await
}

async fn assert_oauth_error(response: Response, error: &str, why: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], error, "{why}: {body}");
    let mut keys = keys_of(&body);
    keys.retain(|key| key != "error_description");
    assert_eq!(keys, ["error"], "{why}: {body}");
}

/// Polls for `codes` as `client` and asserts the OAuth error it answers.
async fn assert_polled(app: &TestApp, codes: &Value, client: &str, error: &str, why: &str) {
    assert_oauth_error(poll(app, codes, client).await, error, why).await;
}

fn str_of<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

pub(crate) async fn approve(app: &TestApp, key: &str, user_code: &str, body: Value) -> Response {
    let path = format!("/oauth/device/{user_code}/approve");
    app.with_token(Method::POST, &path, key)
        .json(&body)
        .sent()
        .await
}

async fn metric(app: &TestApp, outcome: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.expect("text");
    let prefix = format!("multitoken_device_grants_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix}"))
        .parse()
        .expect("a count")
}

/// alice, the user who approves devices here, signed in on her phone:
/// that phone's key.
async fn alice_and_her_phone(app: &TestApp) -> String {
    app.create_user("alice", "alice@example.com", false);
    app.login("alice", "phone").await
}

pub(crate) fn fast_polls(settings: &mut multitoken::config::Settings) {
    settings.device_grant.device_poll_interval = 1;
}

#[on_both_backends]
async fn an_approved_device_gets_its_key_once_as_an_ordinary_device(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let phone = alice_and_her_phone(&app).await;
    let codes = codes(&app, "tv", "").await;
    assert_eq!(
        keys_of(&codes),
        [
            "device_code",
            "expires_in",
            "interval",
            "user_code",
            "verification_uri",
            "verification_uri_complete"
        ]
    );
    let user_code = str_of(&codes, "user_code");
    assert_eq!(user_code.len(), 9);
    assert!(user_code.chars().enumerate().all(|(i, c)| if i == 4 {
        c == '-'
    } else {
        "BCDFGHJKLMNPQRSTVWXZ".contains(c)
    }));
    assert!(str_of(&codes, "device_code").len() >= 43);
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5);
    let verification = app.url("/device");
    assert_eq!(codes["verification_uri"], verification.as_str());
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{verification}?user_code={user_code}")
    );

    // The codes are stored as digests only.
    let mut conn = app.connection();
    let (device_digest, user_digest): (Vec<u8>, Vec<u8>) = device_grants::table
        .select((
            device_grants::device_code_digest,
            device_grants::user_code_digest,
        ))
        .first(&mut conn)
        .expect("a grant");
    for digest in [&device_digest, &user_digest] {
        assert_eq!(digest.len(), 32);
        let text = String::from_utf8_lossy(digest);
        assert!(!text.contains(str_of(&codes, "device_code")) && !text.contains(user_code));
    }

    // Seen by the approver, typed in lower case without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let seen = app
        .get_with_token(&format!("/oauth/device/{typed}"), &phone)
        .await;
    assert_eq!(seen.status(), StatusCode::OK);
    let seen: Value = seen.json().await.expect("json");
    assert_eq!(
        keys_of(&seen),
        [
            "client",
            "created_at",
            "expires_at",
            "ip",
            "scopes",
            "user_agent"
        ]
    );
    assert_eq!(
        (
            &seen["client"],
            &seen["scopes"],
            &seen["ip"],
            &seen["user_agent"]
        ),
        (
            &json!("tv"),
            &json!([]),
            &json!("127.0.0.1"),
            &json!("tv-app/1.0")
        )
    );
    let approved = approve(&app, &phone, user_code, json!({})).await;
    assert_json(
        approved,
        StatusCode::OK,
        json!({"client": "tv", "scopes": []}),
    )
    .await;
    // Decided: no longer pending.
    let again = approve(&app, &phone, user_code, json!({})).await;
    assert_detail(again, StatusCode::NOT_FOUND, NOT_FOUND).await;

    let token = uncached_json(poll(&app, &codes, "tv").await).await;
    assert_eq!(
        keys_of(&token),
        [
            "access_token",
            "client",
            "expires_at",
            "expires_in",
            "token_type"
        ]
    );
    assert_eq!(
        (&token["token_type"], &token["client"]),
        (&json!("Bearer"), &json!("tv"))
    );
    let expires_in = token["expires_in"].as_i64().expect("seconds");
    assert!(expires_in > 0);
    let key = str_of(&token, "access_token");
    let whoami = app.with_bearer(Method::GET, "/whoami", key).sent().await;
    assert_eq!(whoami.status(), StatusCode::OK);
    let devices = app.devices(&phone).await;
    let tv = devices
        .iter()
        .find(|device| device["client"] == "tv")
        .expect("the tv is a device");
    assert_eq!(tv["via"], "device");

    // Spent: the code is worth nothing any more.
    assert_polled(&app, &codes, "tv", "invalid_grant", "spent").await;

    // The refresh_token grant: an access JWT for the device key.
    let refreshed = app
        .request(Method::POST, "/oauth/token")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", key)])
        .sent()
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.expect("json");
    assert_eq!(
        keys_of(&refreshed),
        ["access_token", "expires_in", "token_type"]
    );
    let jwt = str_of(&refreshed, "access_token");
    let whoami = app.with_bearer(Method::GET, "/whoami", jwt).sent().await;
    assert_eq!(whoami.status(), StatusCode::OK);
    for (bad, why) in [(jwt, "a JWT"), ("mt_nothing", "no key")] {
        let refused = app
            .request(Method::POST, "/oauth/token")
            .form(&[("grant_type", "refresh_token"), ("refresh_token", bad)])
            .sent()
            .await;
        assert_oauth_error(refused, "invalid_grant", why).await;
    }

    // Events and metrics.
    let kinds: Vec<(String, Option<String>, Option<String>)> = events::table
        .filter(events::client.eq("tv"))
        .order(events::id)
        .select((events::kind, events::client, events::detail))
        .load(&mut conn)
        .expect("events");
    assert_eq!(
        kinds,
        [
            ("device_approved".into(), Some("tv".into()), None),
            ("login".into(), Some("tv".into()), Some("device".into())),
        ]
    );
    for (outcome, count) in [
        ("requested", 1),
        ("approved", 1),
        ("issued", 1),
        ("invalid_grant", 1),
    ] {
        assert_eq!(metric(&app, outcome).await, count, "{outcome}");
    }
}

#[on_both_backends]
async fn polling_too_soon_slows_down_and_the_interval_grows(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast_polls).await;
    let codes = codes(&app, "cli", "").await;
    assert_eq!(codes["interval"], 1);
    assert_polled(&app, &codes, "cli", "authorization_pending", "first").await;
    assert_polled(&app, &codes, "cli", "slow_down", "at once").await;
    // Past the first interval but not the grown one (1 + 5 s).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_polled(&app, &codes, "cli", "slow_down", "grown").await;
    let interval: i64 = app.read(device_grants::table.select(device_grants::poll_interval));
    assert_eq!(interval, 11);
    assert_eq!(metric(&app, "slow_down").await, 2);
    assert_eq!(metric(&app, "pending").await, 1);
}

#[on_both_backends]
async fn oauth_endpoints_answer_errors_in_the_oauth_shape(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tokens.allowed_scopes = AllowedScopes::parse("read write").expect("scopes");
    })
    .await;
    for (form, error, why) in [
        (vec![], "invalid_request", "no client_id"),
        (
            vec![("client_id", "bad name!")],
            "invalid_request",
            "a bad client_id",
        ),
        (
            vec![("client_id", "tv"), ("scope", "r@d")],
            "invalid_scope",
            "a bad scope",
        ),
        (
            vec![("client_id", "tv"), ("scope", "read admin")],
            "invalid_scope",
            "not allowed",
        ),
    ] {
        assert_oauth_error(authorize(&app, &form).await, error, why).await;
    }
    let json = app
        .post_json(
            "/oauth/device_authorization",
            json!({"client_id": "tv", "scope": "read"}),
        )
        .await;
    assert_eq!(json.status(), StatusCode::OK, "JSON is accepted too");
    let codes: Value = json.json().await.expect("json");
    let token = |form: Vec<(&'static str, String)>| {
        app.request(Method::POST, "/oauth/token").form(&form).sent()
    };
    let device_code = str_of(&codes, "device_code").to_owned();
    let grant = || ("grant_type", DEVICE_GRANT.to_owned());
    for (form, error, why) in [
        (vec![], "invalid_request", "no grant_type"),
        (
            vec![("grant_type", "password".to_owned())],
            "unsupported_grant_type",
            "password",
        ),
        (
            vec![grant(), ("client_id", "tv".into())],
            "invalid_request",
            "no device_code",
        ),
        (
            vec![grant(), ("device_code", device_code.clone())],
            "invalid_request",
            "no client_id",
        ),
        (
            vec![
                grant(),
                ("device_code", "nope".into()),
                ("client_id", "tv".into()),
            ],
            "invalid_grant",
            "an unknown code",
        ),
        (
            vec![
                grant(),
                ("device_code", device_code.clone()),
                ("client_id", "other".into()),
            ],
            "invalid_grant",
            "another client_id",
        ),
        (
            vec![("grant_type", "refresh_token".to_owned())],
            "invalid_request",
            "no refresh_token",
        ),
    ] {
        assert_oauth_error(token(form).await, error, why).await;
    }
    for path in ["/oauth/token", "/oauth/device_authorization"] {
        let malformed = app
            .send_raw(Method::POST, path, "application/json", "{")
            .await;
        assert_oauth_error(malformed, "invalid_request", "malformed JSON").await;
    }
    assert_polled(&app, &codes, "tv", "authorization_pending", "still pending").await;
}

#[on_both_backends]
async fn denied_and_expired_requests_give_no_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.device_grant.device_code_ttl = Duration::from_secs(1);
    })
    .await;
    let phone = alice_and_her_phone(&app).await;
    let denied = codes(&app, "tv", "").await;
    let path = format!("/oauth/device/{}/deny", str_of(&denied, "user_code"));
    let answer = app.with_token(Method::POST, &path, &phone).sent().await;
    assert_json(answer, StatusCode::OK, json!({})).await;
    let again = app.with_token(Method::POST, &path, &phone).sent().await;
    assert_detail(again, StatusCode::NOT_FOUND, NOT_FOUND).await;
    assert_polled(&app, &denied, "tv", "access_denied", "denied").await;

    let expired = codes(&app, "tv", "").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_polled(&app, &expired, "tv", "expired_token", "expired").await;
    let late = approve(&app, &phone, str_of(&expired, "user_code"), json!({})).await;
    assert_detail(late, StatusCode::NOT_FOUND, NOT_FOUND).await;
    let kinds: Vec<String> = events::table
        .filter(events::kind.eq("device_denied"))
        .select(events::kind)
        .load(&mut app.connection())
        .expect("events");
    assert_eq!(kinds.len(), 1);
    for (outcome, count) in [("denied", 1), ("access_denied", 1), ("expired", 1)] {
        assert_eq!(metric(&app, outcome).await, count, "{outcome}");
    }
}

#[on_both_backends]
async fn approvers_narrow_scopes_and_give_their_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let phone = alice_and_her_phone(&app).await;
    let codes = codes(&app, "cli", "read write").await;
    let user_code = str_of(&codes, "user_code");
    let wider = approve(
        &app,
        &phone,
        user_code,
        json!({"scopes": ["read", "admin"]}),
    )
    .await;
    assert_bad_request(wider, json!({"scopes": [NARROWER]})).await;
    let narrowed = approve(&app, &phone, user_code, json!({"scopes": ["read"]})).await;
    assert_json(
        narrowed,
        StatusCode::OK,
        json!({"client": "cli", "scopes": ["read"]}),
    )
    .await;
    let token: Value = poll(&app, &codes, "cli").await.json().await.expect("json");
    assert_eq!(token["scope"], "read");
    let key = str_of(&token, "access_token");
    let whoami: Value = app.whoami(key).await.json().await.expect("json");
    assert_eq!(whoami["scopes"], json!(["read"]));
    // A restricted key approves nothing.
    let other = codes_for(&app, "cli2").await;
    let refused = approve(&app, key, str_of(&other, "user_code"), json!({})).await;
    assert_detail(refused, StatusCode::FORBIDDEN, DENIED).await;

    // With two-factor on, approving takes a code, as a login does.
    let (secret, _, _) = enable(&app, "alice").await;
    let user_code = str_of(&other, "user_code");
    let without = approve(&app, &phone, user_code, json!({})).await;
    assert_eq!(without.status(), StatusCode::BAD_REQUEST);
    let body: Value = without.json().await.expect("json");
    assert_eq!(keys_of(&body), ["otp"]);
    let wrong = approve(&app, &phone, user_code, json!({"otp": wrong_code(&secret)})).await;
    assert_bad_request(wrong, json!({"otp": [INVALID_CODE]})).await;
    let failed: Vec<Option<String>> = events::table
        .filter(events::kind.eq("login_failed"))
        .select(events::detail)
        .load(&mut app.connection())
        .expect("events");
    assert_eq!(failed, [Some("device".to_owned())]);
    let with = approve(&app, &phone, user_code, json!({"otp": code(&secret, 1)})).await;
    assert_json(
        with,
        StatusCode::OK,
        json!({"client": "cli2", "scopes": []}),
    )
    .await;
}

async fn codes_for(app: &TestApp, client: &str) -> Value {
    codes(app, client, "").await
}

#[on_both_backends]
async fn unknown_user_codes_count_as_failed_sign_ins_of_the_approver(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = "3/15m".parse_throttle();
    })
    .await;
    let phone = alice_and_her_phone(&app).await;
    let codes = codes_for(&app, "tv").await;
    // A known code is not a failure, however often it is looked at.
    for _ in 0..4 {
        let path = format!("/oauth/device/{}", str_of(&codes, "user_code"));
        assert_eq!(
            app.get_with_token(&path, &phone).await.status(),
            StatusCode::OK
        );
    }
    for guess in ["BBBB-BBBB", "not-a-code", "CCCCCCCC"] {
        let path = format!("/oauth/device/{guess}");
        let answer = app.get_with_token(&path, &phone).await;
        assert_detail(answer, StatusCode::NOT_FOUND, NOT_FOUND).await;
    }
    let path = format!("/oauth/device/{}", str_of(&codes, "user_code"));
    let throttled = app.get_with_token(&path, &phone).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&throttled, "retry-after").is_some());
    // So is alice's next password.
    let login = app
        .post_login("alice", crate::helpers::PASSWORD, "web")
        .await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    let failed: i64 = app.read(
        events::table
            .filter(events::kind.eq("login_failed"))
            .filter(events::detail.eq("device"))
            .count(),
    );
    assert_eq!(failed, 3);
    assert_eq!(metric(&app, "unknown_code").await, 3);
}

trait ParseThrottle {
    fn parse_throttle(self) -> multitoken::domain::ThrottleLimit;
}

impl ParseThrottle for &str {
    fn parse_throttle(self) -> multitoken::domain::ThrottleLimit {
        multitoken::domain::ThrottleLimit::parse(self).expect("a throttle")
    }
}

#[on_both_backends]
async fn the_client_limit_and_replacement_apply_as_at_login(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.tokens.max_clients_per_user = 2;
    })
    .await;
    let phone = alice_and_her_phone(&app).await;
    let old_tv = app.login("alice", "tv").await;
    // Replacing the tv's key is within the limit.
    let codes = codes_for(&app, "tv").await;
    let approved = approve(&app, &phone, str_of(&codes, "user_code"), json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let token: Value = poll(&app, &codes, "tv").await.json().await.expect("json");
    assert_eq!(app.whoami_status(&old_tv).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.whoami_status(str_of(&token, "access_token")).await,
        StatusCode::OK
    );
    // A third client is not.
    let third = codes_for(&app, "laptop").await;
    let refused = approve(&app, &phone, str_of(&third, "user_code"), json!({})).await;
    assert_detail(refused, StatusCode::FORBIDDEN, TOO_MANY_CLIENTS).await;
    assert_polled(&app, &third, "laptop", "access_denied", "over the limit").await;
    assert_eq!(metric(&app, "too_many_clients").await, 1);
}

#[on_both_backends]
async fn device_authorizations_are_limited_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.device_grant.device_code_throttle = "2/15m".parse_throttle();
    })
    .await;
    codes_for(&app, "tv").await;
    codes_for(&app, "tv").await;
    let refused = authorize(&app, &[("client_id", "tv")]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&refused, "retry-after").is_some());
    assert_eq!(metric(&app, "throttled").await, 1);
}

#[on_both_backends]
async fn the_metadata_lists_the_endpoints_under_the_public_url(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.public_url =
            Some(multitoken::domain::PublicUrl::parse("https://auth.example.com/").expect("url"));
    })
    .await;
    let base = "https://auth.example.com";
    let expected = json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth/token"),
        "device_authorization_endpoint": format!("{base}/oauth/device_authorization"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": [DEVICE_GRANT, "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"],
    });
    let answer = app.get("/.well-known/oauth-authorization-server").await;
    assert_json(answer, StatusCode::OK, expected.clone()).await;
    let codes = codes_for(&app, "tv").await;
    assert_eq!(codes["verification_uri"], format!("{base}/device"));

    let scoped = TestApp::spawn_with(backend, |settings| {
        settings.tokens.allowed_scopes = AllowedScopes::parse("write, read").expect("scopes");
    })
    .await;
    let answer: Value = scoped
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["scopes_supported"], json!(["read", "write"]));
}

#[on_both_backends]
async fn a_code_approved_on_one_instance_is_redeemed_on_another(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast_polls).await;
    let other = app.spawn_on_same_database(fast_polls);
    let phone = alice_and_her_phone(&app).await;
    let codes = codes_for(&app, "tv").await;
    let device_code = str_of(&codes, "device_code");
    // Polling state is shared: a poll on A, then at once on B, is too soon.
    assert_polled(&app, &codes, "tv", "authorization_pending", "on A").await;
    let on_b = poll_on(&other, &app.http, device_code, "tv").await;
    assert_oauth_error(on_b, "slow_down", "on B").await;
    let approved = approve(&app, &phone, str_of(&codes, "user_code"), json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let redeemed = poll_on(&other, &app.http, device_code, "tv").await;
    assert_eq!(redeemed.status(), StatusCode::OK);
    let spent = poll(&app, &codes, "tv").await;
    assert_oauth_error(spent, "invalid_grant", "spent on B").await;
}

/// `POST /device` as the page's form sends it, with the two-factor code
/// `otp` when there is one.
async fn decide_on_page(
    browser: &mut crate::helpers::console::Console<'_>,
    page: &str,
    user_code: &str,
    (password, otp): (&str, Option<&str>),
    decision: &str,
) -> Response {
    let csrf = crate::helpers::console::csrf_of(page);
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("user_code", user_code),
        ("username", "alice"),
        ("password", password),
        ("decision", decision),
    ];
    form.extend(otp.map(|otp| ("otp", otp)));
    browser.post("/device", &form).await
}

/// A device `client` asks for codes: they, and the page a person opens
/// with its user code.
async fn codes_and_page(
    app: &TestApp,
    browser: &mut crate::helpers::console::Console<'_>,
    client: &str,
) -> (Value, String) {
    let codes = codes_for(app, client).await;
    let user_code = str_of(&codes, "user_code");
    let page = browser
        .page(&format!("/device?user_code={user_code}"))
        .await;
    (codes, page)
}

#[on_both_backends]
async fn the_hosted_page_signs_in_and_approves_or_denies(backend: Backend) {
    use crate::helpers::console::Console;
    use crate::helpers::PASSWORD;
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    let codes = codes(&app, "tv", "videos:read").await;
    let user_code = str_of(&codes, "user_code");
    let mut browser = Console::new(&app);

    let empty = browser.get("/device").await;
    assert_eq!(empty.status(), StatusCode::OK);
    let csp = header(&empty, "content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let unknown = browser.get("/device?user_code=BBBB-BBBB").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // A page, not the API's JSON error.
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("No device is waiting with this code."));

    let page = browser
        .page(&format!("/device?user_code={}", user_code.to_lowercase()))
        .await;
    for shown in [
        "tv",
        "videos:read",
        "127.0.0.1",
        "tv-app/1.0",
        "id=\"approve\"",
        "id=\"deny\"",
    ] {
        assert!(page.contains(shown), "{shown} on the page");
    }
    // Without the CSRF token: refused before anything else.
    let forged = browser
        .post(
            "/device",
            &[("user_code", user_code), ("username", "alice")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wrong = decide_on_page(
        &mut browser,
        &page,
        user_code,
        ("wrong-password", None),
        "approve",
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let approved =
        decide_on_page(&mut browser, &page, user_code, (PASSWORD, None), "approve").await;
    assert_eq!(approved.status(), StatusCode::OK);
    assert!(approved
        .text()
        .await
        .expect("html")
        .contains("Device approved"));
    let token: Value = poll(&app, &codes, "tv").await.json().await.expect("json");
    assert_eq!(token["scope"], "videos:read", "{token}");

    let (other, page) = codes_and_page(&app, &mut browser, "laptop").await;
    let other_code = str_of(&other, "user_code");
    let denied = decide_on_page(&mut browser, &page, other_code, (PASSWORD, None), "deny").await;
    assert_eq!(denied.status(), StatusCode::OK);
    assert!(denied.text().await.expect("html").contains("Device denied"));
    assert_polled(&app, &other, "laptop", "access_denied", "on the page").await;
    // With two-factor on, the page's sign-in takes the code too.
    let (secret, _, _) = enable(&app, "alice").await;
    let (third, page) = codes_and_page(&app, &mut browser, "watch").await;
    let third_code = str_of(&third, "user_code");
    let without =
        decide_on_page(&mut browser, &page, third_code, (PASSWORD, None), "approve").await;
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let otp = code(&secret, 1);
    let signed_in = (PASSWORD, Some(otp.as_str()));
    let with = decide_on_page(&mut browser, &page, third_code, signed_in, "approve").await;
    assert_eq!(with.status(), StatusCode::OK);
    let token = poll(&app, &third, "watch").await;
    assert_eq!(token.status(), StatusCode::OK);
}

/// A device client (oauth4webapi's or oauthlib's) run as a process: its
/// JSON lines, read off the async workers so the server keeps answering.
pub(crate) struct DeviceProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl DeviceProcess {
    pub(crate) fn start(program: &std::path::Path, script: &str, args: &[&str]) -> Self {
        let repository = std::path::Path::new(env!("MULTITOKEN_REPOSITORY"));
        let mut child = std::process::Command::new(program)
            .arg(repository.join(script))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("stdout");
        let lines = lines_of(stdout);
        DeviceProcess { child, lines }
    }

    pub(crate) async fn next(&self, within: Duration) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            match self.lines.try_recv() {
                Ok(line) => return serde_json::from_str(&line).expect("a JSON line"),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => panic!("the client ended"),
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no line from the client"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for DeviceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real OAuth client signs a device in: it discovers the endpoints,
/// asks for codes, polls (twice at once, so the server slows it down and
/// it waits 5 s more), and uses the key; alice approves after its slow_down.
async fn a_real_client_signs_in(backend: Backend, client: DeviceProcess, app: TestApp) -> Value {
    let phone = app.login("alice", "phone").await;
    let codes = client.next(Duration::from_secs(20)).await;
    let user_code = str_of(&codes, "user_code");
    assert!(str_of(&codes, "verification_uri_complete").ends_with(user_code));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(&app, "slow_down").await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no slow_down ({backend:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let approved = approve(&app, &phone, user_code, json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let outcome = client.next(Duration::from_secs(20)).await;
    assert_eq!(outcome["whoami"]["username"], "alice", "{outcome}");
    assert_eq!(outcome["whoami"]["client"], "cli", "{outcome}");
    assert_eq!(
        (&outcome["polls"], &outcome["slow_downs"]),
        (&json!(3), &json!(1)),
        "{outcome}"
    );
    assert_eq!(outcome["scope"], "orders:read", "{outcome}");
    outcome
}

/// A server whose device codes may be polled quickly, with alice to
/// approve them: what a real device client (here or in the guides) signs in to.
pub(crate) async fn app_for_real_clients(backend: Backend) -> TestApp {
    let app = TestApp::spawn_with(backend, fast_polls).await;
    app.create_user("alice", "alice@example.com", false);
    app
}

#[on_both_backends(needs device_client_tests, "tests/device_client is not installed (npm ci there, or run .ci/run)")]
async fn oauth4webapi_signs_a_device_in(backend: Backend) {
    let app = app_for_real_clients(backend).await;
    let node = std::path::PathBuf::from("node");
    let client = DeviceProcess::start(
        &node,
        "tests/device_client/client.mjs",
        &[&app.address, "cli", "orders:read"],
    );
    let outcome = a_real_client_signs_in(backend, client, app).await;
    assert_eq!(
        outcome["token_type"], "bearer",
        "oauth4webapi lower-cases it"
    );
}

#[on_both_backends(needs oauthlib_tests, "no oauthlib in .venv-tests (run .ci/run)")]
async fn oauthlib_signs_a_device_in(backend: Backend) {
    let app = app_for_real_clients(backend).await;
    let python = crate::helpers::resource_server::python();
    let client = DeviceProcess::start(
        &python,
        "tests/device_client/device_client.py",
        &[&app.address, "cli", "orders:read"],
    );
    let outcome = a_real_client_signs_in(backend, client, app).await;
    assert_eq!(outcome["token_type"], "Bearer");
}

#[on_both_backends]
async fn the_sweep_deletes_grants_an_hour_after_they_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let now = multitoken::domain::Timestamp::now().millis();
    let mut conn = app.connection();
    let mut issued = Vec::new();
    for (client, expired_ago_ms) in [("old", 2 * 3_600_000), ("recent", 1_800_000)] {
        issued.push(codes_for(&app, client).await);
        diesel::update(device_grants::table.filter(device_grants::client.eq(client)))
            .set(device_grants::expires_at.eq(now - expired_ago_ms))
            .execute(&mut conn)
            .expect("backdate");
    }
    let live = codes_for(&app, "live").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left: Vec<String>;
    loop {
        left = device_grants::table
            .select(device_grants::client)
            .order(device_grants::client)
            .load(&mut conn)
            .expect("grants");
        if !left.contains(&"old".to_owned()) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        left,
        ["live", "recent"],
        "the old one swept, the others kept"
    );
    // Kept past its expiry, a late poll is told why; a swept one is unknown.
    assert_polled(&app, &issued[1], "recent", "expired_token", "kept").await;
    assert_polled(&app, &issued[0], "old", "invalid_grant", "swept").await;
    assert_polled(&app, &live, "live", "authorization_pending", "live").await;
}

#[on_both_backends]
async fn new_device_mail_tells_of_a_device_signed_in_by_the_grant(backend: Backend) {
    use crate::helpers::mail::{wait_for_mail_files, MailApp};
    let MailApp { app, mail_dir } = MailApp::spawn_with(backend, |settings| {
        settings.accounts.new_device_mail = true;
    })
    .await;
    let phone = alice_and_her_phone(&app).await;
    wait_for_mail_files(mail_dir.path(), 1).await;
    let codes = codes_for(&app, "tv").await;
    let approved = approve(&app, &phone, str_of(&codes, "user_code"), json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let token: Value = poll(&app, &codes, "tv").await.json().await.expect("json");
    let files = wait_for_mail_files(mail_dir.path(), 2).await;
    let mails: Vec<String> = files
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("read mail"))
        .collect();
    let tv = mails
        .iter()
        .find(|mail| mail.contains("Client: tv"))
        .unwrap_or_else(|| panic!("a mail about the tv: {mails:?}"));
    assert!(tv.contains("To: alice@example.com"), "{tv}");
    assert!(
        !tv.contains(str_of(&token, "access_token")),
        "the key in the mail"
    );
}
