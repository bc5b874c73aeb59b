//! Leaked keys: `POST /revoke` with a list of keys, and `REVOKE_THROTTLE`
//! on `/revoke` whatever its body.

use crate::helpers::on_both_backends;
use crate::helpers::{assert_bad_request, assert_json, assert_throttled, Backend, TestApp};
use multitoken::domain::ThrottleLimit;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// The `revoked` events of alice's own listing, oldest first, as (client, detail).
async fn revocations(app: &TestApp, key: &str) -> Vec<(String, String)> {
    let page: Value = app
        .get_with_token("/events", key)
        .await
        .json()
        .await
        .expect("json");
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let mut rows: Vec<_> = page["results"]
        .as_array()
        .expect("results")
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
    assert_json(
        app.post_json("/revoke", body).await,
        StatusCode::OK,
        json!({}),
    )
    .await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami_status(&tv).await, StatusCode::UNAUTHORIZED);
    app.assert_whoami(&web, StatusCode::OK, "a key not in the list stays")
        .await;
    // The same list again: nothing live in it any more, the same answer.
    let again = json!({"tokens": [ios, tv]});
    assert_json(
        app.post_json("/revoke", again).await,
        StatusCode::OK,
        json!({}),
    )
    .await;
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
    assert_json(
        app.post_json("/revoke", json!({"token": web})).await,
        StatusCode::OK,
        json!({}),
    )
    .await;
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
    assert_json(
        app.post_json("/revoke", json!({"tokens": thousand})).await,
        StatusCode::OK,
        json!({}),
    )
    .await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);
}

#[on_both_backends]
async fn revoke_is_throttled_per_address_whatever_its_body(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.revoke_throttle = ThrottleLimit {
            attempts: 3,
            window: Duration::from_secs(60),
        };
    })
    .await;
    app.create_user("alice", "alice@example.com", true);
    let ios = app.login("alice", "ios").await;
    for body in [
        json!({"token": "mt_one"}),
        json!({"tokens": ["mt_two", "mt_three"]}),
        json!({"tokens": []}),
    ] {
        let answer = app.post_json("/revoke", body).await;
        assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    }
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
