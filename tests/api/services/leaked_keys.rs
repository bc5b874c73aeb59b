//! Leaked keys: `POST /revoke` with a list of keys, `REVOKE_THROTTLE` on
//! `/revoke` whatever its body, and GitHub's secret scanning reports at
//! `POST /secret-scanning/github`.

use crate::helpers::mail::MailApp;
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{assert_bad_request, assert_json, assert_throttled, Backend, Sent, TestApp};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use multitoken::config::Settings;
use reqwest::{Method, Response, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};

/// `POST /revoke` with `body`, and its one answer whatever the keys: 200 `{}`.
async fn revoke(app: &TestApp, body: Value) {
    assert_json(
        app.post_json("/revoke", body).await,
        StatusCode::OK,
        json!({}),
    )
    .await;
}

/// The `revoked` events of alice's own listing, oldest first, as (client, detail).
async fn revocations(app: &TestApp, key: &str) -> Vec<(String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut rows: Vec<_> = app
        .own_events(key)
        .await
        .iter()
        .filter(|event| event["type"] == "revoked")
        .map(|event| (text(&event["client"]), text(&event["detail"])))
        .collect();
    rows.sort();
    rows
}

#[on_both_backends]
async fn a_list_of_keys_ends_every_live_one_and_answers_the_same(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let ios = app.login("alice", "ios").await;
    let tv = app.login("alice", "tv").await;
    let body = json!({"tokens": [ios, "mt_unknown", "garbage \u{0} at all", tv]});
    revoke(&app, body).await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami_status(&tv).await, StatusCode::UNAUTHORIZED);
    app.assert_whoami(&web, StatusCode::OK, "a key not in the list stays")
        .await;
    // The same list again: nothing live in it any more, the same answer.
    let again = json!({"tokens": [ios, tv]});
    revoke(&app, again).await;
    assert_eq!(
        revocations(&app, &web).await,
        [
            ("ios".to_owned(), "revoke_endpoint".to_owned()),
            ("tv".to_owned(), "revoke_endpoint".to_owned()),
        ]
    );
    let metrics = app.scrape().await;
    let line = "multitoken_revocations_total{cause=\"key\"} 2";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    // The single-key form is unchanged.
    revoke(&app, json!({"token": web})).await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);
}

#[on_both_backends]
async fn a_list_that_is_empty_too_long_or_not_of_strings_is_refused(backend: Backend) {
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let mut many: Vec<Value> = (0..1000).map(|i| json!(format!("mt_{i}"))).collect();
    many.push(json!(web));
    let cases = [
        (
            json!({"tokens": many}),
            "Ensure this field has no more than 1000 elements.",
        ),
        (json!({"tokens": []}), "This list may not be empty."),
        (json!({"tokens": [web, 42]}), "Not a valid string."),
        (json!({"tokens": [web, null]}), "Not a valid string."),
        (
            json!({"tokens": web}),
            "Expected a list of items but got type \"str\".",
        ),
        (json!({"tokens": null}), "This field is required."),
    ];
    for (body, message) in cases {
        assert_bad_request(
            app.post_json("/revoke", body).await,
            json!({"tokens": [message]}),
        )
        .await;
    }
    app.assert_whoami(&web, StatusCode::OK, "a refused list revokes nothing")
        .await;
    // Exactly 1000 is allowed.
    let mut thousand: Vec<Value> = (0..999).map(|i| json!(format!("mt_{i}"))).collect();
    thousand.push(json!(web));
    revoke(&app, json!({"tokens": thousand})).await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);
}

#[on_both_backends]
async fn revoke_is_throttled_per_address_whatever_its_body(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.revoke_throttle = throttle("3/1m");
    })
    .await;
    app.create_user("alice", "alice@example.com", true);
    let ios = app.login("alice", "ios").await;
    // Keys that could be live (a checksum that holds) are counted...
    let could_be = |c: &str| crate::auth::key_format::with_checksum(&c.repeat(43));
    for body in [
        json!({"token": could_be("A")}),
        json!({"tokens": [could_be("B"), could_be("C")]}),
        json!({"token": could_be("D")}),
    ] {
        revoke(&app, body).await;
    }
    // ...keys that cannot be need no database, not even for the count.
    revoke(&app, json!({"tokens": ["mt_one", "mt_two"]})).await;
    let wait = assert_throttled(app.post_json("/revoke", json!({"tokens": [ios]})).await).await;
    assert!((55..=60).contains(&wait), "{wait}");
    app.assert_whoami(&ios, StatusCode::OK, "a throttled list revokes nothing")
        .await;
    let single = assert_throttled(app.post_json("/revoke", json!({"token": ios})).await).await;
    assert!((55..=60).contains(&single), "{single}");
    let metrics = app.scrape().await;
    let line = "multitoken_throttled_total{action=\"revoke\"} 2";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
}

/// GitHub's side of the partner program: a P-256 key pair, its public key
/// in GitHub's key document, and signed reports.
struct Github {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    keys_file: tempfile::NamedTempFile,
}

/// The DER header of a P-256 SubjectPublicKeyInfo, before the SEC1 point.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl Github {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key pair");
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(key.public_key().as_ref());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        );
        let document = json!({"public_keys": [
            {"key_identifier": "old", "key": pem, "is_current": false},
            {"key_identifier": "current", "key": pem, "is_current": true},
        ]});
        let keys_file = tempfile::NamedTempFile::new().expect("keys file");
        std::fs::write(keys_file.path(), document.to_string()).expect("written");
        Github {
            key,
            rng,
            keys_file,
        }
    }

    /// Settings that read GitHub's public keys from this one's file.
    fn trusted(&self) -> impl FnOnce(&mut Settings) {
        let keys = self.keys_file.path().display().to_string();
        move |settings| settings.tokens.secret_scanning_github_keys = Some(keys)
    }

    fn sign(&self, body: &[u8]) -> String {
        let signature = self.key.sign(&self.rng, body).expect("signed");
        STANDARD.encode(signature.as_ref())
    }

    async fn report(&self, app: &TestApp, identifier: &str, body: &str) -> Response {
        let signature = self.sign(body.as_bytes());
        self.report_signed(app, identifier, &signature, body).await
    }

    async fn report_signed(
        &self,
        app: &TestApp,
        identifier: &str,
        signature: &str,
        body: &str,
    ) -> Response {
        app.request(Method::POST, "/secret-scanning/github")
            .header("Content-Type", "application/json")
            .header("Github-Public-Key-Identifier", identifier)
            .header("Github-Public-Key-Signature", signature)
            .body(body.to_owned())
            .sent()
            .await
    }
}

fn item(token: &str, url: &str) -> Value {
    json!({"token": token, "type": "multitoken_device_key", "url": url, "source": "content"})
}

#[on_both_backends]
async fn github_reports_revoke_live_keys_label_each_and_mail_the_owner(backend: Backend) {
    let github = Github::new();
    let mail = MailApp::spawn_with(backend, github.trusted()).await;
    let app = &mail.app;
    app.create_user("alice", "alice@example.com", false);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let url = "https://github.com/octo/leak";
    let body = json!([item(&ios, url), item("mt_unknown", url)]).to_string();
    let answer = github.report(app, "current", &body).await;
    assert_json(
        answer,
        StatusCode::OK,
        json!([
            {"token_raw": ios, "token_type": "multitoken_device_key", "label": "true_positive"},
            {"token_raw": "mt_unknown", "token_type": "multitoken_device_key", "label": "false_positive"},
        ]),
    )
    .await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::UNAUTHORIZED);
    app.assert_whoami(&web, StatusCode::OK, "an unreported key stays")
        .await;
    assert_eq!(
        revocations(app, &web).await,
        [("ios".to_owned(), "leaked".to_owned())]
    );
    let text = mail.mail_to("alice@example.com", 1).await;
    assert!(text.contains("\"ios\""), "names the device: {text}");
    assert!(text.contains(url), "names the URL: {text}");
    assert!(text.contains("last use"), "names its last use: {text}");
    // Reported again: no longer live, so a false positive, and no mail.
    let again = github.report(app, "old", &body).await;
    let labels: Value = again.json().await.expect("json");
    assert_eq!(labels[0]["label"], "false_positive", "{labels}");
    let metrics = app.scrape().await;
    let line = "multitoken_revocations_total{cause=\"leaked\"} 1";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    assert_eq!(mail.mail_count(), 1);
}

/// A key that a rotation retired stands for its device (see
/// `auth::rotation`): reported, it ends the device as the current key does.
#[on_both_backends]
async fn a_reported_key_that_a_rotation_retired_ends_its_device(backend: Backend) {
    let github = Github::new();
    let app = TestApp::spawn_with(backend, github.trusted()).await;
    app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let old = app.login("alice", "ios").await;
    let rotated = app.post_with_token("/tokens/rotate", &old).await;
    let rotated: Value = rotated.json().await.expect("json");
    let new = rotated["auth_token"].as_str().expect("new key");
    let body = json!([item(&old, "https://github.com/octo/leak")]).to_string();
    let answer = github.report(&app, "current", &body).await;
    let labels: Value = answer.json().await.expect("json");
    assert_eq!(labels[0]["label"], "true_positive", "{labels}");
    assert_eq!(app.whoami_status(new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        revocations(&app, &web).await,
        [("ios".to_owned(), "leaked".to_owned())]
    );
}

#[on_both_backends]
async fn github_reports_need_a_good_signature_and_an_array(backend: Backend) {
    let github = Github::new();
    let app = TestApp::spawn_with(backend, github.trusted()).await;
    app.create_user("alice", "alice@example.com", false);
    let ios = app.login("alice", "ios").await;
    let body = json!([item(&ios, "https://github.com/octo/leak")]).to_string();
    let invalid = json!({"detail": "Invalid signature."});
    let other_body = github.sign(b"[]");
    for answer in [
        github.report(&app, "unknown", &body).await,
        github
            .report_signed(&app, "current", &other_body, &body)
            .await,
        github
            .report_signed(&app, "current", "not base64", &body)
            .await,
        app.post_json("/secret-scanning/github", json!([])).await,
    ] {
        assert_json(answer, StatusCode::UNAUTHORIZED, invalid.clone()).await;
    }
    app.assert_whoami(&ios, StatusCode::OK, "nothing was revoked")
        .await;
    for body in [
        json!({"token": ios}).to_string(),
        json!([{"token": ios}]).to_string(),
        "[".to_owned(),
    ] {
        let answer = github.report(&app, "current", &body).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    app.assert_whoami(&ios, StatusCode::OK, "nothing was revoked")
        .await;
}

#[on_both_backends]
async fn github_reports_are_not_found_unless_configured(backend: Backend) {
    let github = Github::new();
    let (app, web) = TestApp::spawn_with_alice_on_web(backend).await;
    let body = json!([item(&web, "https://github.com/octo/leak")]).to_string();
    let answer = github.report(&app, "current", &body).await;
    assert_json(
        answer,
        StatusCode::NOT_FOUND,
        json!({"detail": "Not found."}),
    )
    .await;
    app.assert_whoami(&web, StatusCode::OK, "nothing was revoked")
        .await;
    // The document describes both new bodies as they are sent.
    let doc: Value = app
        .request(Method::GET, "/openapi.json")
        .sent()
        .await
        .json()
        .await
        .expect("json");
    let item = &doc["components"]["schemas"]["ReportedKeySchema"]["properties"];
    for field in ["token", "type", "url", "source"] {
        assert!(item[field].is_object(), "{field} in {item}");
    }
    let revoke = &doc["paths"]["/revoke"]["post"];
    assert!(revoke["responses"]["429"].is_object(), "{revoke}");
    let many = &doc["components"]["schemas"]["TokensBody"]["properties"]["tokens"];
    assert_eq!(many["maxItems"], 1000, "{many}");
}

/// With the token cache on (PostgreSQL), a key just used and cached is
/// refused at once after a bulk revocation or a GitHub report.
#[on_both_backends]
async fn cached_keys_are_refused_at_once_after_a_list_or_a_report(backend: Backend) {
    let github = Github::new();
    let trusted = github.trusted();
    let app = TestApp::spawn_with(backend, |settings| {
        settings.token_cache.token_cache = true;
        trusted(settings);
    })
    .await;
    app.create_user("alice", "", false);
    let ios = app.login("alice", "ios").await;
    let tv = app.login("alice", "tv").await;
    for key in [&ios, &tv] {
        assert_eq!(app.whoami_status(key).await, StatusCode::OK);
    }
    let listed = app.post_json("/revoke", json!({"tokens": [ios]})).await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(app.whoami_status(&ios).await, StatusCode::UNAUTHORIZED);
    let body = json!([item(&tv, "https://github.com/octo/leak")]).to_string();
    let reported = github.report(&app, "current", &body).await;
    assert_eq!(reported.status(), StatusCode::OK);
    assert_eq!(app.whoami_status(&tv).await, StatusCode::UNAUTHORIZED);
}
