//! The device grant's hosted page, `/device`, in Chromium: a person types
//! the code a TV shows, checks what asks, signs in and approves; the TV's
//! next poll gets its key. The page fits a phone's width and passes
//! axe-core like the console's pages.

use super::harness::{Browser, WIDTHS};
use crate::helpers::{in_browser, Backend, Sent, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[in_browser(axe)]
async fn a_person_approves_a_tv_on_the_hosted_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("alice", "alice@example.com", false);
    let codes: Value = app
        .request(Method::POST, "/oauth/device_authorization")
        .header("User-Agent", "tv-app/1.0")
        .form(&[("client_id", "tv"), ("scope", "videos:read")])
        .sent()
        .await
        .json()
        .await
        .expect("json");
    let user_code = codes["user_code"].as_str().expect("user_code");

    // On a phone: the code typed as a person would, in lower case.
    let browser = Browser::open(&app, WIDTHS[0]).await;
    browser.goto("/device").await;
    browser
        .accessible("/device at 390 px")
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    browser.fill("#user_code", &user_code.to_lowercase()).await;
    browser.click("#continue").await;
    browser
        .wait_until(|here| here.starts_with("/device?user_code="), "the request")
        .await;
    assert_eq!(browser.text_of("#client").await, "tv");
    assert_eq!(browser.text_of("#scopes").await, "videos:read");
    assert_eq!(browser.text_of("#ip").await, "127.0.0.1");
    assert_eq!(browser.text_of("#user-agent").await, "tv-app/1.0");
    browser.assert_fits("the request at 390 px").await;
    browser.assert_accessible("the request at 390 px").await;

    browser.fill("#username", "alice").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#approve").await;
    browser.wait_for("/device").await;
    assert_eq!(browser.text_of("#outcome").await, "Device approved");
    browser.close().await;

    let token = app
        .request(Method::POST, "/oauth/token")
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            (
                "device_code",
                codes["device_code"].as_str().expect("device_code"),
            ),
            ("client_id", "tv"),
        ])
        .sent()
        .await;
    assert_eq!(token.status(), StatusCode::OK);
    let token: Value = token.json().await.expect("json");
    assert_eq!(token["scope"], "videos:read");
}
