//! The hosted pages of the mails' links, `/reset` and `/verify-email`, in
//! Chromium on a phone's width: a person opens the link of the mail, is
//! told what is wrong with a weak password, sets a good one and confirms
//! an address. The pages fit the window and pass axe-core like the
//! console's pages.

use super::harness::{Browser, WIDTHS};
use crate::helpers::mail::{MailApp, NEW_PASSWORD};
use crate::helpers::{in_browser, Backend, PASSWORD};
use multitoken::domain::email_verification::EmailVerification;
use reqwest::StatusCode;
use serde_json::json;

#[in_browser(axe)]
async fn a_person_follows_the_reset_and_verification_links_of_the_mails() {
    let mail = MailApp::spawn_with(Backend::Sqlite, |settings| {
        settings.accounts.email_verification = EmailVerification::Optional;
    })
    .await;
    let app = &mail.app;
    let registered = app
        .register(json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"}))
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let verification = mail.mail_to("alice@example.com", 1).await;
    let reset = mail.reset_link("alice@example.com").await;
    let path_of = |url: &str| {
        url.strip_prefix(&app.address)
            .expect("a link to the app")
            .to_owned()
    };

    let browser = Browser::open(app, WIDTHS[0]).await;
    browser.goto(&path_of(&reset.url)).await;
    browser.assert_fits("/reset at 390 px").await;
    browser.assert_accessible("/reset at 390 px").await;
    browser.fill("#new_password1", "12345678").await;
    browser.fill("#new_password2", "12345678").await;
    browser.click("#set-password").await;
    browser.wait_for("/reset").await;
    let problems = browser.text_of("#problems").await;
    assert!(
        problems.contains("This password is entirely numeric."),
        "{problems}"
    );
    browser.assert_accessible("/reset refused at 390 px").await;
    browser.fill("#new_password1", NEW_PASSWORD).await;
    browser.fill("#new_password2", NEW_PASSWORD).await;
    browser.click("#set-password").await;
    assert_eq!(
        browser.text_of("#outcome").await,
        "Your password has been changed"
    );

    let link = verification
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("http://"))
        .expect("a link in the mail");
    browser.goto(&path_of(link)).await;
    assert_eq!(browser.text_of("#email").await, "alice@example.com");
    browser.assert_fits("/verify-email at 390 px").await;
    browser.assert_accessible("/verify-email at 390 px").await;
    browser.click("#confirm").await;
    assert_eq!(
        browser.text_of("#outcome").await,
        "Your e-mail address is confirmed"
    );
    browser.close().await;
    app.login_as("alice", NEW_PASSWORD, "web").await;
}
