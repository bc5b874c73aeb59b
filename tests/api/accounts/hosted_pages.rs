//! The hosted pages of the default links, `/reset` and `/verify-email`,
//! driven as a person's browser would: the link read from the mail (the
//! `file:` backend), the page fetched with its cookie, the form posted
//! with its CSRF token.

use crate::helpers::console::{csrf_of, Console};
use crate::helpers::mail::{MailApp, ResetLink, NEW_PASSWORD};
use crate::helpers::on_both_backends;
use crate::helpers::{content_type, header, Backend, TestApp, PASSWORD};
use multitoken::domain::email_verification::EmailVerification;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const ENTIRELY_NUMERIC: &str = "This password is entirely numeric.";
const TOO_SIMILAR: &str = "The password is too similar to the username.";
const MISMATCH: &str = "The two password fields didn’t match.";
const RESET_DEAD: &str = "This password-reset link is invalid or has expired";
const RESET_DONE: &str = "Your password has been changed";
const VERIFY_DEAD: &str = "This verification link is invalid or has expired";
const VERIFY_DONE: &str = "Your e-mail address is confirmed";
const CSRF_REFUSED: &str = "its security token is missing or out of date";

/// A page's status and HTML, with the headers every hosted page carries.
async fn page_of(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status, "{:?}", response.url());
    assert_eq!(content_type(&response), Some("text/html; charset=utf-8"));
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
    let csp = header(&response, "content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = response.text().await.expect("html");
    assert!(!html.contains("<script"), "no script: {html}");
    html
}

/// The path and query of a mail's link to this app: the link's base is
/// the address the server bound, since PUBLIC_URL is unset.
fn path_of<'a>(app: &TestApp, url: &'a str) -> &'a str {
    url.strip_prefix(&app.address)
        .unwrap_or_else(|| panic!("{url} is not under {}", app.address))
}

/// Alice (alice@example.com) and the link of the reset mail she asked for.
async fn alice_with_reset_link(mail: &MailApp) -> ResetLink {
    mail.app.create_user("alice", "alice@example.com", false);
    reset_link_of_alice(mail).await
}

/// The link of a reset mail alice asks for now. A sign-in after it spends it.
async fn reset_link_of_alice(mail: &MailApp) -> ResetLink {
    let link = mail.reset_link("alice@example.com").await;
    assert!(
        link.url.starts_with(&mail.app.url("/reset?uid=")),
        "the default link is the hosted page: {}",
        link.url
    );
    link
}

/// The page `browser` gets from the reset mail's `link`, which must
/// answer `status`.
async fn open_reset_link(
    browser: &mut Console<'_>,
    app: &TestApp,
    link: &ResetLink,
    status: StatusCode,
) -> String {
    page_of(browser.get(path_of(app, &link.url)).await, status).await
}

async fn post_new_password(
    browser: &mut Console<'_>,
    csrf: &str,
    link: &ResetLink,
    first: &str,
    second: &str,
) -> Response {
    browser
        .post(
            "/reset",
            &[
                ("csrf_token", csrf),
                ("uid", &link.uid),
                ("token", &link.token),
                ("new_password1", first),
                ("new_password2", second),
            ],
        )
        .await
}

#[on_both_backends]
async fn the_reset_mails_link_opens_a_form_that_sets_the_new_password(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    app.create_user("alice", "alice@example.com", false);
    let web = app.login("alice", "web").await;
    let link = reset_link_of_alice(&mail).await;
    let mut browser = Console::new(app);
    let form = open_reset_link(&mut browser, app, &link, StatusCode::OK).await;
    assert!(
        form.contains(r#"<strong id="username">alice</strong>"#),
        "{form}"
    );
    assert!(
        form.contains(r#"type="password" id="new_password2""#),
        "{form}"
    );
    let csrf = csrf_of(&form);
    let done = post_new_password(&mut browser, &csrf, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    let done = page_of(done, StatusCode::OK).await;
    assert!(done.contains(RESET_DONE), "{done}");
    assert!(done.contains("(1) was signed out"), "{done}");
    // The same use case as the API's: the password is new, every device out.
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );
    app.login_as("alice", NEW_PASSWORD, "web").await;
    // A link works once.
    let again = open_reset_link(&mut browser, app, &link, StatusCode::BAD_REQUEST).await;
    assert!(again.contains(RESET_DEAD), "{again}");
    let replay = post_new_password(
        &mut browser,
        &csrf,
        &link,
        "another-Fine-pass-9",
        "another-Fine-pass-9",
    )
    .await;
    assert!(page_of(replay, StatusCode::BAD_REQUEST)
        .await
        .contains(RESET_DEAD));
    app.login_as("alice", NEW_PASSWORD, "web").await;
}

#[on_both_backends]
async fn a_weak_or_mistyped_password_shows_the_rules_and_changes_nothing(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    let link = alice_with_reset_link(&mail).await;
    let mut browser = Console::new(app);
    let csrf = csrf_of(&open_reset_link(&mut browser, app, &link, StatusCode::OK).await);
    let weak = post_new_password(&mut browser, &csrf, &link, "1234", "1234").await;
    let weak = page_of(weak, StatusCode::BAD_REQUEST).await;
    for message in [TOO_SHORT, ENTIRELY_NUMERIC] {
        assert!(weak.contains(message), "{message} in {weak}");
    }
    assert!(!weak.contains(TOO_SIMILAR), "{weak}");
    // The form comes back, ready for another try.
    assert_eq!(csrf_of(&weak), csrf);
    let similar = post_new_password(&mut browser, &csrf, &link, "alice123", "alice123").await;
    assert!(page_of(similar, StatusCode::BAD_REQUEST)
        .await
        .contains(TOO_SIMILAR));
    let mistyped = post_new_password(
        &mut browser,
        &csrf,
        &link,
        NEW_PASSWORD,
        "fresh-Violet-Kettle-43",
    )
    .await;
    let mistyped = page_of(mistyped, StatusCode::BAD_REQUEST).await;
    assert!(mistyped.contains(MISMATCH), "{mistyped}");
    assert!(
        !mistyped.contains(NEW_PASSWORD),
        "a password is never shown back"
    );
    // The link is bound to the password as it was: that it still works
    // shows that none of the refused ones was set.
    let done = post_new_password(&mut browser, &csrf, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert!(page_of(done, StatusCode::OK).await.contains(RESET_DONE));
}

#[on_both_backends]
async fn a_broken_forged_or_expired_reset_link_shows_a_clear_page(backend: Backend) {
    let mail = MailApp::spawn_with(backend, |settings| {
        settings.accounts.password_reset_timeout = Duration::from_secs(2)
    })
    .await;
    let app = &mail.app;
    let link = alice_with_reset_link(&mail).await;
    let mut browser = Console::new(app);
    let forged = format!("/reset?uid={}&token={}x", link.uid, link.token);
    for path in [
        "/reset",
        "/reset?uid=&token=",
        "/reset?uid=MQ",
        "/reset?uid=%FF%00&token=%FE",
        "/reset?uid=zzzz&token=abc&uid=MQ",
        forged.as_str(),
    ] {
        let page = page_of(browser.get(path).await, StatusCode::BAD_REQUEST).await;
        assert!(page.contains(RESET_DEAD), "{path}: {page}");
    }
    let csrf = csrf_of(&open_reset_link(&mut browser, app, &link, StatusCode::OK).await);
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let expired = open_reset_link(&mut browser, app, &link, StatusCode::BAD_REQUEST).await;
    assert!(expired.contains(RESET_DEAD), "{expired}");
    let posted = post_new_password(&mut browser, &csrf, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert!(page_of(posted, StatusCode::BAD_REQUEST)
        .await
        .contains(RESET_DEAD));
    app.login_as("alice", PASSWORD, "web").await;
}

#[on_both_backends]
async fn a_reset_form_without_its_csrf_token_is_refused(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    let link = alice_with_reset_link(&mail).await;
    let mut browser = Console::new(app);
    open_reset_link(&mut browser, app, &link, StatusCode::OK).await;
    for csrf in ["", "not-the-token"] {
        let refused =
            post_new_password(&mut browser, csrf, &link, NEW_PASSWORD, NEW_PASSWORD).await;
        assert!(page_of(refused, StatusCode::FORBIDDEN)
            .await
            .contains(CSRF_REFUSED));
    }
    // Another browser's token is not this one's, nor is a cookie-less post.
    let mut other = Console::new(app);
    let foreign = csrf_of(&open_reset_link(&mut other, app, &link, StatusCode::OK).await);
    let refused =
        post_new_password(&mut browser, &foreign, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let mut stranger = Console::new(app);
    let refused =
        post_new_password(&mut stranger, &foreign, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    app.login_as("alice", PASSWORD, "web").await;
}

#[on_both_backends]
async fn the_hosted_pages_are_not_in_the_openapi_document(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for path in ["/reset", "/verify-email"] {
        assert!(doc["paths"].get(path).is_none(), "{path} is a page");
    }
    assert!(doc["paths"].get("/password/reset/confirm").is_some());
}

/// A server that mails verification links (optional verification), with
/// alice registered at alice@example.com: the app's mail and her link.
async fn alice_with_verification_link(backend: Backend) -> (MailApp, String) {
    let mail = MailApp::spawn_with(backend, |settings| {
        settings.accounts.email_verification = EmailVerification::Optional;
    })
    .await;
    let response = mail
        .app
        .register(json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = mail.mail_to("alice@example.com", 1).await;
    let url = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("http://"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    assert!(
        url.starts_with(&mail.app.url("/verify-email?key=")),
        "the default link is the hosted page: {url}"
    );
    (mail, url)
}

async fn email_verified(app: &TestApp) -> Value {
    let key = app.login("alice", "web").await;
    let body: Value = app.whoami(&key).await.json().await.expect("json");
    body["email_verified"].clone()
}

#[on_both_backends]
async fn the_verification_link_opens_a_page_whose_button_verifies_once(backend: Backend) {
    let (mail, url) = alice_with_verification_link(backend).await;
    let app = &mail.app;
    let mut browser = Console::new(app);
    let page = page_of(browser.get(path_of(app, &url)).await, StatusCode::OK).await;
    assert!(
        page.contains(r#"<strong id="email">alice@example.com</strong>"#),
        "{page}"
    );
    assert!(page.contains(r#"id="confirm""#), "{page}");
    // Opening the link (as a mail scanner would) verifies nothing.
    assert_eq!(email_verified(app).await, json!(false));
    let key = url.split_once("key=").map(|(_, key)| key).expect("key");
    let refused = browser.post("/verify-email", &[("key", key)]).await;
    assert!(page_of(refused, StatusCode::FORBIDDEN)
        .await
        .contains(CSRF_REFUSED));
    assert_eq!(email_verified(app).await, json!(false));
    let csrf = csrf_of(&page);
    let done = browser
        .post("/verify-email", &[("csrf_token", &csrf), ("key", key)])
        .await;
    assert!(page_of(done, StatusCode::OK).await.contains(VERIFY_DONE));
    assert_eq!(email_verified(app).await, json!(true));
    // A key works once: the link and the button now say so.
    let again = page_of(
        browser.get(path_of(app, &url)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(again.contains(VERIFY_DEAD), "{again}");
    let replay = browser
        .post("/verify-email", &[("csrf_token", &csrf), ("key", key)])
        .await;
    assert!(page_of(replay, StatusCode::BAD_REQUEST)
        .await
        .contains(VERIFY_DEAD));
}

#[on_both_backends]
async fn a_bad_verification_key_shows_a_clear_page(backend: Backend) {
    let (mail, url) = alice_with_verification_link(backend).await;
    let app = &mail.app;
    let mut browser = Console::new(app);
    let key = url.split_once("key=").map(|(_, key)| key).expect("key");
    let forged = format!("/verify-email?key={key}x");
    for path in [
        "/verify-email",
        "/verify-email?key=",
        "/verify-email?key=nope",
        "/verify-email?key=%FF%00",
        forged.as_str(),
    ] {
        let page = page_of(browser.get(path).await, StatusCode::BAD_REQUEST).await;
        assert!(page.contains(VERIFY_DEAD), "{path}: {page}");
    }
    let csrf = csrf_of(&page_of(browser.get(path_of(app, &url)).await, StatusCode::OK).await);
    for bad in ["", "nope", &format!("{key}x")] {
        let posted = browser
            .post("/verify-email", &[("csrf_token", &csrf), ("key", bad)])
            .await;
        assert!(
            page_of(posted, StatusCode::BAD_REQUEST)
                .await
                .contains(VERIFY_DEAD),
            "{bad}"
        );
    }
    assert_eq!(email_verified(app).await, json!(false));
}
