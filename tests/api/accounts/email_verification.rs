//! E-mail verification: the mail and its link, `POST /register/verify-email`
//! and `/register/resend-email`, what `EMAIL_VERIFICATION=mandatory` refuses,
//! and `email_verified` in user objects. Mails are read from the `file:`
//! backend's directory, or from an SMTP server and the console log.

use crate::helpers::console::Console;
use crate::helpers::mail::{assert_address_checked, to, MailApp, SmtpServer};
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_non_field_error, keys_of, Backend, Sent,
    ServerProcess, TestApp, PASSWORD,
};
use multitoken::config::Settings;
use multitoken::domain::email_verification::EmailVerification;
use multitoken::mail::MailSetting;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const OK: &str = "ok";
const NOT_VERIFIED: &str = "E-mail is not verified.";
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
const LINK: &str = "https://app.example.com/confirm?key={key}";
const SUBJECT: &str = "Please confirm your e-mail address";

/// A server whose mails land in a directory of its own, verifying e-mail
/// addresses as `mode` says, with links to `LINK`.
async fn verifying(
    backend: Backend,
    mode: EmailVerification,
    configure: impl FnOnce(&mut Settings),
) -> MailApp {
    MailApp::spawn_with(backend, |settings| {
        settings.accounts.email_verification = mode;
        settings.accounts.email_verification_url = Some(LINK.into());
        configure(settings);
    })
    .await
}

/// Registers alice at alice@example.com on the client `web`: asserts the
/// 201 and returns its body.
async fn register_alice_on_web(app: &TestApp) -> Value {
    let response = app
        .register(json!({"username": "alice", "password": PASSWORD,
                         "email": "alice@example.com", "client": "web"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("json")
}

/// Registers `username` at `email` (without a client) and returns the id.
async fn register(app: &TestApp, username: &str, email: &str) -> i64 {
    let response = app
        .register(json!({"username": username, "password": PASSWORD, "email": email}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    body["id"].as_i64().expect("id")
}

/// The link of a verification mail and the key in it.
fn link_in(mail: &str) -> (String, String) {
    let url = mail
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("https://") || line.starts_with("http://"))
        .unwrap_or_else(|| panic!("no link in the mail:\n{mail}"))
        .to_owned();
    let query = url.split_once('?').map(|(_, query)| query).unwrap_or("");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    let key = pairs
        .into_iter()
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("no key in {url}"));
    (url, key)
}

fn key_in(mail: &str) -> String {
    link_in(mail).1
}

/// The key of the one mail of `mails` that does not carry `old`.
fn new_key_in(mails: &[String], old: &str) -> String {
    mails
        .iter()
        .map(|mail| key_in(mail))
        .find(|key| key != old)
        .expect("a new key")
}

async fn assert_invalid_key(response: reqwest::Response) {
    assert_bad_request(response, json!({"key": ["Invalid value"]})).await;
}

async fn assert_verified(response: reqwest::Response) {
    assert_detail(response, StatusCode::OK, OK).await;
}

async fn email_verified_in_whoami(app: &TestApp, key: &str) -> Value {
    let body: Value = app.whoami(key).await.json().await.expect("json");
    body["email_verified"].clone()
}

#[on_both_backends]
async fn registering_mails_a_link_whose_key_verifies_the_address_once(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    let registered = register_alice_on_web(app).await;
    let token = registered["auth_token"]
        .as_str()
        .expect("optional gives a token");
    let text = mail.mail_to("alice@example.com", 1).await;
    assert!(text.contains(&format!("Subject: {SUBJECT}\r\n")), "{text}");
    assert!(text.contains("user alice"), "{text}");
    let (url, key) = link_in(&text);
    assert_eq!(url, format!("https://app.example.com/confirm?key={key}"));
    assert_eq!(email_verified_in_whoami(app, token).await, json!(false));

    assert_verified(app.verify_email(&key).await).await;
    assert_eq!(email_verified_in_whoami(app, token).await, json!(true));
    assert_invalid_key(app.verify_email(&key).await).await;

    let admin = app.admin_key().await;
    let id = registered["id"].as_i64().expect("id");
    let user: Value = app
        .admin_get(&format!("/admin/users/{id}"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(user["email_verified"], json!(true));
    assert_eq!(mail.mail_count(), 1, "one mail for one registration");
}

#[on_both_backends]
async fn without_verification_nothing_is_mailed(backend: Backend) {
    let mail = verifying(backend, EmailVerification::None, |_| {}).await;
    let app = &mail.app;
    register(&mail.app, "alice", "alice@example.com").await;
    assert_detail(
        app.resend_email("alice@example.com").await,
        StatusCode::OK,
        OK,
    )
    .await;
    // A password reset goes to the same directory: once it is there, a
    // verification mail asked for before it would have had its time.
    assert_eq!(
        app.request_reset("alice@example.com").await.status(),
        StatusCode::OK
    );
    let first = mail.mail_to("alice@example.com", 1).await;
    assert!(first.contains("Subject: Password reset"), "{first}");
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mail.mail_count(), 1, "no verification mail with `none`");
}

#[on_both_backends]
async fn a_key_expires_after_the_timeout(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |settings| {
        settings.accounts.email_verification_timeout = Duration::from_secs(1);
    })
    .await;
    register(&mail.app, "alice", "alice@example.com").await;
    let key = key_in(&mail.mail_to("alice@example.com", 1).await);
    actix_web::rt::time::sleep(Duration::from_millis(1300)).await;
    assert_invalid_key(mail.app.verify_email(&key).await).await;
    // A fresh key still works: only the old one expired.
    mail.app.resend_email("alice@example.com").await;
    let mails = mail.mails(2).await;
    let fresh = key_in(mails.iter().find(|m| key_in(m) != key).expect("a new mail"));
    assert_verified(mail.app.verify_email(&fresh).await).await;
}

#[on_both_backends]
async fn tampered_garbled_and_missing_keys_are_refused(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    register(&mail.app, "alice", "alice@example.com").await;
    let bob = register(&mail.app, "bob", "bob@example.com").await;
    let key = key_in(&mail.mail_to("alice@example.com", 2).await);
    assert!(bob < 10, "one base-36 digit, as in decimal");
    let (user, rest) = key.split_once('-').expect("user-issued-signature");
    let (issued, signature) = rest.split_once('-').expect("issued-signature");
    let mut flipped = signature.to_owned().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{user}-{issued}-{}", String::from_utf8_lossy(&flipped));
    let for_bob = format!("{bob}-{issued}-{signature}");
    let later = format!("{user}-{issued}0-{signature}");
    for bad in [
        flipped.as_str(),
        for_bob.as_str(),
        later.as_str(),
        &key[..key.len() - 2],
        "nonsense",
        "1-2-3",
        &"k".repeat(500),
    ] {
        assert_invalid_key(app.verify_email(bad).await).await;
    }
    for missing in [json!({}), json!({"key": ""}), json!({"key": null})] {
        assert_bad_request(
            app.post_json("/register/verify-email", missing).await,
            json!({"key": ["This field is required."]}),
        )
        .await;
    }
    assert_address_checked(app, "/register/resend-email").await;
    // Nothing above spent the real key.
    assert_verified(app.verify_email(&key).await).await;
}

#[on_both_backends]
async fn resend_answers_alike_for_every_address_and_mails_only_unverified_users(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    register(&mail.app, "alice", "alice@example.com").await;
    register(&mail.app, "vera", "vera@example.com").await;
    let vera = mail.mail_to("vera@example.com", 2).await;
    assert_verified(app.verify_email(&key_in(&vera)).await).await;
    let first_for_alice = key_in(&mail.mail_to("alice@example.com", 2).await);
    for address in [
        "nobody@example.com",
        "vera@example.com",
        "ALICE@example.com",
    ] {
        assert_detail(app.resend_email(address).await, StatusCode::OK, OK).await;
    }
    // One worker sends the queued mails in order: alice's is the last
    // asked for, so once it is written the others had their turn.
    let mails = mail.mails(3).await;
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mail.mail_count(), 3, "nothing for unknown or verified");
    let to_alice = to(&mails, "alice@example.com");
    assert_eq!(to_alice.len(), 2, "{mails:?}");
    let key = new_key_in(&to_alice, &first_for_alice);
    assert_verified(app.verify_email(&key).await).await;
    assert_invalid_key(app.verify_email(&first_for_alice).await).await;
}

#[on_both_backends]
async fn resends_are_throttled_per_address(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |settings| {
        settings.throttles.email_verification_resend_throttle = throttle("2/1h");
    })
    .await;
    let app = &mail.app;
    // Created directly: no registration mail.
    app.create_user("alice", "alice@example.com", false);
    app.create_user("bob", "bob@example.com", false);
    for _ in 0..4 {
        assert_detail(
            app.resend_email("Alice@example.com").await,
            StatusCode::OK,
            OK,
        )
        .await;
    }
    app.resend_email("bob@example.com").await;
    let mails = mail.mails(3).await;
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mail.mail_count(), 3, "two for alice, then bob's");
    assert_eq!(to(&mails, "alice@example.com").len(), 2, "{mails:?}");
    assert_eq!(to(&mails, "bob@example.com").len(), 1, "{mails:?}");
    app.scrape_with_line("multitoken_throttled_total{action=\"email_resend\"} 2")
        .await;
}

#[on_both_backends]
async fn mandatory_refuses_every_sign_in_after_the_password_check(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Mandatory, |_| {}).await;
    let app = &mail.app;
    let body = register_alice_on_web(app).await;
    assert_eq!(keys_of(&body), ["email", "id", "username"], "no token");
    assert_bad_request(
        app.register(json!({"username": "nomail", "password": PASSWORD, "client": "web"}))
            .await,
        json!({"email": ["This field is required."]}),
    )
    .await;

    assert_non_field_error(
        app.post_login("alice", "wrong-password", "web").await,
        BAD_CREDENTIALS,
    )
    .await;
    let refused = json!({"non_field_errors": [NOT_VERIFIED]});
    assert_bad_request(
        app.post_login("alice", PASSWORD, "web").await,
        refused.clone(),
    )
    .await;
    let basic = app
        .request(Method::POST, "/login")
        .basic_auth("alice", Some(PASSWORD))
        .json(&json!({"client": "web"}))
        .sent()
        .await;
    assert_bad_request(basic, refused.clone()).await;
    let wrong_basic = app
        .request(Method::POST, "/login")
        .basic_auth("alice", Some("wrong-password"))
        .json(&json!({"client": "web"}))
        .sent()
        .await;
    assert_eq!(wrong_basic.status(), StatusCode::UNAUTHORIZED);

    // An admin with an unverified address cannot use the console either;
    // one without any address has nothing to verify.
    app.create_user("root", "root@example.com", true);
    let mut console = Console::new(app);
    let page = console.sign_in("root", "wrong-password").await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let page = console.sign_in("root", PASSWORD).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.expect("page").contains(NOT_VERIFIED));
    assert_eq!(
        console.get("/console/users").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in"
    );
    app.create_user("ops", "", true);
    let mut console = Console::new(app);
    assert_eq!(
        console.sign_in("ops", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.login("ops", "web").await;

    let text = mail.mail_to("alice@example.com", 1).await;
    assert_verified(app.verify_email(&key_in(&text)).await).await;
    let key = app.login("alice", "web").await;
    assert_eq!(email_verified_in_whoami(app, &key).await, json!(true));
}

#[on_both_backends]
async fn optional_verification_does_not_hold_up_sign_in(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    register(&mail.app, "alice", "alice@example.com").await;
    let key = app.login("alice", "web").await;
    assert_eq!(email_verified_in_whoami(app, &key).await, json!(false));
    app.create_user("root", "root@example.com", true);
    assert_eq!(
        Console::new(app).sign_in("root", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[on_both_backends]
async fn an_admin_changing_the_address_unverifies_it_and_mails_the_new_one(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    let admin = app.admin_key().await;
    let alice = register(&mail.app, "alice", "alice@example.com").await;
    app.resend_email("alice@example.com").await;
    let mails = mail.mails(2).await;
    let (first, unused) = (key_in(&mails[0]), key_in(&mails[1]));
    assert_verified(app.verify_email(&first).await).await;

    let same = app
        .admin_patch(alice, &admin, json!({"email": "alice@example.com"}))
        .await;
    let same: Value = same.json().await.expect("json");
    assert_eq!(
        same["email_verified"],
        json!(true),
        "the same address stays"
    );

    let response = app
        .admin_patch(alice, &admin, json!({"email": "alice@example.org"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed["email"], json!("alice@example.org"));
    assert_eq!(changed["email_verified"], json!(false));
    let text = mail.mail_to("alice@example.org", 3).await;
    assert_eq!(mail.mail_count(), 3, "no mail for the unchanged address");
    assert_invalid_key(app.verify_email(&first).await).await;
    assert_invalid_key(app.verify_email(&unused).await).await;
    assert_verified(app.verify_email(&key_in(&text)).await).await;

    // A user an admin creates with an address gets the mail too.
    let created = app
        .admin_request(
            Method::POST,
            "/admin/users",
            &admin,
            Some(json!({"username": "dora", "password": PASSWORD, "email": "dora@example.com"})),
        )
        .await;
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["email_verified"], json!(false));
    mail.mail_to("dora@example.com", 4).await;
}

/// A key is bound to the address as it was, not to its text: once an admin
/// changed it away and back, the keys mailed before stay spent (they
/// verified again before), and the one mailed for the address now works.
#[on_both_backends]
async fn changing_the_address_away_and_back_does_not_revive_an_old_key(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    let admin = app.admin_key().await;
    let alice = register(&mail.app, "alice", "alice@example.com").await;
    let old = key_in(&mail.mail_to("alice@example.com", 1).await);
    for email in ["alice@example.org", "alice@example.com"] {
        let response = app
            .admin_patch(alice, &admin, json!({"email": email}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let mails = to(&mail.mails(3).await, "alice@example.com");
    assert_eq!(
        mails.len(),
        2,
        "the first mail and the one after the change back"
    );
    let current = new_key_in(&mails, &old);
    assert_invalid_key(app.verify_email(&old).await).await;
    assert_verified(app.verify_email(&current).await).await;
    let user = app
        .admin_get(&format!("/admin/users/{alice}"), &admin)
        .await;
    let user: Value = user.json().await.expect("json");
    assert_eq!(user["email_verified"], json!(true));
}

#[on_both_backends]
async fn the_console_shows_whether_the_address_is_verified(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    app.create_user("root", "", true);
    let alice = register(&mail.app, "alice", "alice@example.com").await;
    let mut console = Console::new(app);
    assert_eq!(
        console.sign_in("root", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let path = format!("/console/users/{alice}");
    let page = console.page(&path).await;
    assert!(page.contains("<dd id=\"email-verified\">no</dd>"), "{page}");
    let text = mail.mail_to("alice@example.com", 1).await;
    assert_verified(app.verify_email(&key_in(&text)).await).await;
    let page = console.page(&path).await;
    assert!(
        page.contains("<dd id=\"email-verified\">yes</dd>"),
        "{page}"
    );
}

#[on_both_backends]
async fn the_mail_goes_through_smtp(backend: Backend) {
    let smtp = SmtpServer::start(false);
    let port = smtp.port;
    let app = TestApp::spawn_with(backend, |settings| {
        settings.accounts.email_verification = EmailVerification::Optional;
        settings.mail.mail = MailSetting::Smtp {
            host: "127.0.0.1".into(),
            port,
        };
    })
    .await;
    let response = app
        .register(json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message = smtp.next_message().await;
    assert!(message.contains("To: alice@example.com\r\n"), "{message}");
    let (url, key) = link_in(&message);
    assert!(
        url.starts_with(&app.url("/verify-email?key=")),
        "the default link, the hosted page at the bound address: {url}"
    );
    assert_verified(app.verify_email(&key).await).await;
}

#[on_both_backends]
async fn control_characters_in_the_fields_are_field_errors(backend: Backend) {
    let mail = verifying(backend, EmailVerification::Optional, |_| {}).await;
    let app = &mail.app;
    let nul = "Null characters are not allowed.";
    assert_bad_request(
        app.verify_email("1-2-a\u{0}b").await,
        json!({ "key": [nul] }),
    )
    .await;
    assert_bad_request(
        app.resend_email("al\u{0}ice@example.com").await,
        json!({ "email": [nul] }),
    )
    .await;
    let form = app
        .request(Method::POST, "/register/verify-email")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("key=1-2-%00")
        .sent()
        .await;
    assert_bad_request(form, json!({ "key": [nul] })).await;
    assert_bad_request(
        app.resend_email("al\u{7}ice@example.com").await,
        json!({"email": ["Enter a valid email address."]}),
    )
    .await;
}

/// The console backend, in the real binary's log: the link works, and no
/// key of any kind but the link's is logged.
#[actix_web::test]
async fn the_console_backend_logs_the_verification_mail() {
    let db = crate::helpers::TestDatabase::create(Backend::Sqlite);
    let mut server = ServerProcess::start(&db.url(), &[("EMAIL_VERIFICATION", "mandatory")]);
    let http = reqwest::Client::new();
    let response = http
        .post(server.url("/register"))
        .json(&json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"}))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let log = server.console_mail("email_verification mail #", SUBJECT);
    let (_, key) = link_in(&log);
    let response = http
        .post(server.url("/register/verify-email"))
        .form(&[("key", key.as_str())])
        .sent()
        .await;
    assert_verified(response).await;
    assert!(
        !server.log().contains(PASSWORD),
        "never a password in the log"
    );
}
