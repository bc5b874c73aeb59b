//! `POST /password/reset` and `/password/reset/confirm`, with the mails
//! read from the `file:` backend's directory.

use crate::helpers::mail::{
    assert_address_checked, mail_files, wait_for_mail_files, MailApp, ResetLink, NEW_PASSWORD,
};
use crate::helpers::on_both_backends;
use crate::helpers::{
    assert_bad_request, assert_detail, assert_unauthorized, Backend, Sent, TestApp, PASSWORD,
};
use multitoken::domain::SecretKey;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const SENT: &str = "Password reset e-mail has been sent.";
const DONE: &str = "Password has been reset with the new password.";

/// Asserts that `link` no longer resets a password.
async fn assert_spent(app: &TestApp, link: &ResetLink) {
    assert_invalid(app.confirm_link(link, NEW_PASSWORD).await, "token").await;
}

async fn assert_invalid(response: reqwest::Response, field: &str) {
    assert_bad_request(response, json!({ field: ["Invalid value"] })).await;
}

#[on_both_backends]
async fn known_and_unknown_addresses_get_the_same_answer_and_only_known_ones_a_mail(
    backend: Backend,
) {
    let MailApp { app, mail_dir } = MailApp::spawn(backend).await;
    app.create_user("alice", "alice@example.com", false);
    app.create_user("nomail", "", false);
    for email in ["nobody@example.com", "alice@example.com"] {
        assert_detail(app.request_reset(email).await, StatusCode::OK, SENT).await;
    }
    // Mails go out in order: once Alice's is there, the unknown address's
    // turn is long past.
    let files = wait_for_mail_files(mail_dir.path(), 1).await;
    let mail = std::fs::read_to_string(&files[0]).expect("mail");
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mail_files(mail_dir.path()).len(), 1);
}

#[on_both_backends]
async fn the_mail_carries_the_configured_link_and_the_username(backend: Backend) {
    let mail = MailApp::spawn_with(backend, |settings| {
        settings.accounts.password_reset_url =
            Some("https://app.example.com/reset?token={token}&uid={uid}".into());
        settings.mail.mail_from = "Accounts <accounts@example.com>".parse().expect("mailbox");
    })
    .await;
    let id = mail.app.create_user("Alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    assert!(
        link.url.starts_with("https://app.example.com/reset?token="),
        "{}",
        link.url
    );
    assert_eq!(link.uid, multitoken::domain::reset_token::encode_uid(id));
    let files = mail_files(mail.mail_dir.path());
    let text = std::fs::read_to_string(&files[0]).expect("mail");
    let (headers, body) = text
        .split_once("\r\n\r\n")
        .expect("RFC 5322 header and body");
    for header in [
        "From: Accounts <accounts@example.com>",
        "To: alice@example.com",
        "Subject: Password reset",
        "Content-Type: text/plain; charset=utf-8",
        "Date: ",
        "Message-ID: <",
    ] {
        assert!(
            headers.lines().any(|line| line.starts_with(header)),
            "{header} in {headers}"
        );
    }
    assert!(body.contains(&format!("\r\n{}\r\n", link.url)), "{body}");
    assert!(
        body.contains("Your username, in case you've forgotten: Alice"),
        "{body}"
    );
    // Nothing is left behind but the mail itself.
    let names = std::fs::read_dir(mail.mail_dir.path())
        .expect("dir")
        .count();
    assert_eq!(names, 1);
}

#[on_both_backends]
async fn the_address_matches_without_regard_to_case(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "Alice@Example.com", false);
    let link = mail.reset_link("ALICE@example.COM").await;
    assert_detail(
        mail.app.confirm_link(&link, NEW_PASSWORD).await,
        StatusCode::OK,
        DONE,
    )
    .await;
}

/// Every link of a mail, in order, with the username given just above it.
fn links_with_usernames(mail: &str) -> Vec<(String, ResetLink)> {
    let lines: Vec<&str> = mail.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.starts_with("http://"))
        .map(|(n, line)| {
            let username = lines[n - 1]
                .strip_prefix("Username: ")
                .unwrap_or_else(|| panic!("no username above {line}"))
                .to_owned();
            (username, ResetLink::in_mail(line))
        })
        .collect()
}

/// Requests a reset for `email` and returns the text of the one mail it
/// sends, after waiting a little longer to see that no second one comes.
async fn the_one_mail_of_a_reset(mail: &MailApp, email: &str) -> String {
    assert_eq!(mail.app.request_reset(email).await.status(), StatusCode::OK);
    let files = wait_for_mail_files(mail.mail_dir.path(), 1).await;
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mail_files(mail.mail_dir.path()).len(), 1, "one mail");
    std::fs::read_to_string(&files[0]).expect("mail")
}

#[on_both_backends]
async fn one_request_sends_one_mail_with_a_link_for_each_account_of_the_address(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    app.create_user("ann", "shared@example.com", false);
    app.create_user("ben", "Shared@Example.com", false);
    app.create_user("cat", "cat@example.com", false);
    app.login("ben", "web").await;
    let text = the_one_mail_of_a_reset(&mail, "shared@example.com").await;
    let links = links_with_usernames(&text);
    let names: Vec<&str> = links.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["ben", "ann"],
        "the most recently signed in first:\n{text}"
    );
    for (name, link) in &links {
        assert_detail(
            app.confirm_link(link, NEW_PASSWORD).await,
            StatusCode::OK,
            DONE,
        )
        .await;
        app.login_as(name, NEW_PASSWORD, "web").await;
    }
}

#[on_both_backends]
async fn one_mail_lists_at_most_ten_accounts_the_most_recently_signed_in_first(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    for n in 0..12 {
        app.create_user(&format!("user{n:02}"), "many@example.com", false);
    }
    app.login("user11", "web").await;
    let text = the_one_mail_of_a_reset(&mail, "many@example.com").await;
    let names: Vec<String> = links_with_usernames(&text)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let expected: Vec<String> = std::iter::once("user11".to_owned())
        .chain((0..9).map(|n| format!("user{n:02}")))
        .collect();
    assert_eq!(names, expected);
}

#[on_both_backends]
async fn a_reset_sets_the_password_and_signs_out_every_device(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    app.create_user("alice", "alice@example.com", false);
    let devices = [
        app.login("alice", "web").await,
        app.login("alice", "ios").await,
    ];
    let link = mail.reset_link("alice@example.com").await;
    assert_detail(
        app.confirm_link(&link, NEW_PASSWORD).await,
        StatusCode::OK,
        DONE,
    )
    .await;
    for key in &devices {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST
    );
    app.login_as("alice", NEW_PASSWORD, "web").await;
}

#[on_both_backends]
async fn a_reset_link_works_once(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "alice@example.com", false);
    let first = mail.reset_link("alice@example.com").await;
    let second = mail.reset_link("alice@example.com").await;
    assert_eq!(
        mail.app.confirm_link(&first, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_invalid(
        mail.app.confirm_link(&first, "another-Kettle-77").await,
        "token",
    )
    .await;
    // Any other link sent before the new password is spent with it.
    assert_invalid(
        mail.app.confirm_link(&second, "another-Kettle-77").await,
        "token",
    )
    .await;
    mail.app.login_as("alice", NEW_PASSWORD, "web").await;
}

#[on_both_backends]
async fn concurrent_uses_of_one_link_succeed_once(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    let passwords = ["first-Kettle-11", "second-Kettle-22", "third-Kettle-33"];
    let responses = futures_util::future::join_all(
        passwords
            .iter()
            .map(|password| mail.app.confirm_link(&link, password)),
    )
    .await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    let winners: Vec<&str> = statuses
        .iter()
        .zip(passwords)
        .filter(|(status, _)| **status == StatusCode::OK)
        .map(|(_, password)| password)
        .collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    for response in responses {
        if response.status() != StatusCode::OK {
            assert_invalid(response, "token").await;
        }
    }
    mail.app.login_as("alice", winners[0], "web").await;
}

#[on_both_backends]
async fn a_reset_link_expires(backend: Backend) {
    let mail = MailApp::spawn_with(backend, |settings| {
        settings.accounts.password_reset_timeout = Duration::from_secs(2)
    })
    .await;
    mail.app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_spent(&mail.app, &link).await;
    mail.app.login_as("alice", PASSWORD, "web").await;
}

#[on_both_backends]
async fn a_login_since_the_mail_spends_the_link(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    mail.app.login("alice", "web").await;
    assert_spent(&mail.app, &link).await;
}

/// A link is bound to the address as it was, not to its text: an address
/// changed away and back spends it (it worked again before). A new
/// password set by an admin spends it too.
#[on_both_backends]
async fn a_new_address_even_changed_back_or_a_new_password_spends_the_link(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    let admin = app.admin_key().await;
    let alice = app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    for email in ["alice@example.org", "alice@example.com"] {
        let response = app
            .admin_patch(alice, &admin, json!({"email": email}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_spent(app, &link).await;

    let link = mail.reset_link("alice@example.com").await;
    let response = app
        .admin_patch(
            alice,
            &admin,
            json!({"password": "admin-Chosen-Passw0rd-31"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_spent(app, &link).await;
    app.login_as("alice", "admin-Chosen-Passw0rd-31", "web")
        .await;
}

#[on_both_backends]
async fn a_deactivated_user_cannot_reset(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    assert!(mail
        .app
        .cli(&["user", "deactivate", "alice"], "")
        .status
        .success());
    assert_spent(&mail.app, &link).await;
    // And a deactivated user gets no mail at all.
    assert_eq!(
        mail.app.request_reset("alice@example.com").await.status(),
        StatusCode::OK
    );
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail_files(mail.mail_dir.path()).len(), 1);
}

#[on_both_backends]
async fn garbled_tokens_and_uids_are_refused(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "alice@example.com", false);
    let bob = mail.app.create_user("bob", "bob@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    let (issued, signature) = link.token.split_once('-').expect("issued-signature");
    let tampered_signature = format!(
        "{issued}-{}{}",
        if signature.starts_with('A') { "B" } else { "A" },
        &signature[1..]
    );
    let other_time = format!("{}0-{signature}", issued);
    let bob_uid = multitoken::domain::reset_token::encode_uid(bob);
    for (uid, token, field, case) in [
        (link.uid.as_str(), "garbage", "token", "not a token at all"),
        (
            link.uid.as_str(),
            tampered_signature.as_str(),
            "token",
            "a changed signature",
        ),
        (
            link.uid.as_str(),
            other_time.as_str(),
            "token",
            "a changed issue time",
        ),
        (
            link.uid.as_str(),
            &link.token[..link.token.len() - 2],
            "token",
            "a cut token",
        ),
        (
            bob_uid.as_str(),
            link.token.as_str(),
            "token",
            "another user's uid",
        ),
        ("!!", link.token.as_str(), "uid", "a uid that is not base64"),
        (
            "YWxpY2U",
            link.token.as_str(),
            "uid",
            "a uid that is not a number",
        ),
        ("OTk5OTk", link.token.as_str(), "uid", "the uid of nobody"),
    ] {
        let response = mail.app.confirm_reset(uid, token, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert_invalid(response, field).await;
    }
    // None of that spent the real link.
    assert_eq!(
        mail.app.confirm_link(&link, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[on_both_backends]
async fn a_weak_new_password_is_refused_and_the_link_still_works(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("margaret", "m@example.com", false);
    let link = mail.reset_link("m@example.com").await;
    assert_bad_request(mail.app.confirm_link(&link, "Margaret").await, json!({"new_password": ["The password is too similar to the username.", "This password is too common."]})).await;
    assert_bad_request(
        mail.app.confirm_link(&link, "7041").await,
        json!({"new_password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is entirely numeric.",
        ]}),
    )
    .await;
    assert_eq!(
        mail.app.confirm_link(&link, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[on_both_backends]
async fn missing_and_malformed_fields_are_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_address_checked(&app, "/password/reset").await;
    assert_bad_request(
        app.post_json("/password/reset/confirm", json!({"token": ""}))
            .await,
        json!({
            "uid": ["This field is required."],
            "token": ["This field is required."],
            "new_password": ["This field is required."],
        }),
    )
    .await;
}

#[on_both_backends]
async fn a_generated_secret_key_survives_a_restart(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    mail.app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    // Another server on the same database: a restart, or a second instance.
    let restarted = mail.app.spawn_on_same_database(|_| {});
    let response = mail
        .app
        .http
        .post(format!("{restarted}/password/reset/confirm"))
        .json(&json!({"uid": link.uid, "token": link.token, "new_password": NEW_PASSWORD}))
        .sent()
        .await;
    assert_detail(response, StatusCode::OK, DONE).await;
}

#[on_both_backends]
async fn links_are_signed_with_the_configured_secret_key(backend: Backend) {
    let first = SecretKey::parse(&"first-secret-".repeat(4)).expect("secret");
    let second = SecretKey::parse(&"second-secret-".repeat(4)).expect("secret");
    let configured = first.clone();
    let mail = MailApp::spawn_with(backend, |settings| {
        settings.server.secret_key = Some(configured)
    })
    .await;
    mail.app.create_user("alice", "alice@example.com", false);
    let link = mail.reset_link("alice@example.com").await;
    let confirm_on = |address: String| {
        let http = mail.app.http.clone();
        let body = json!({"uid": link.uid, "token": link.token, "new_password": NEW_PASSWORD});
        async move {
            http.post(format!("{address}/password/reset/confirm"))
                .json(&body)
                .sent()
                .await
        }
    };
    let other_key = mail
        .app
        .spawn_on_same_database(|s| s.server.secret_key = Some(second));
    assert_invalid(confirm_on(other_key).await, "token").await;
    let generated = mail.app.spawn_on_same_database(|_| {});
    assert_invalid(confirm_on(generated).await, "token").await;
    let same_key = mail
        .app
        .spawn_on_same_database(|s| s.server.secret_key = Some(first));
    assert_eq!(confirm_on(same_key).await.status(), StatusCode::OK);
}

#[on_both_backends]
async fn without_a_secret_key_only_a_loopback_server_starts(backend: Backend) {
    use multitoken::config::Settings;
    use multitoken::startup::Application;
    let db = crate::helpers::TestDatabase::create(backend);
    let mut settings = Settings::with_database(db.database.clone());
    settings.server.bind = "0.0.0.0:0".parse().expect("address");
    let refused = Application::build(settings.clone()).map(|_| ());
    let message = refused.expect_err("no SECRET_KEY off loopback").to_string();
    assert!(message.contains("SECRET_KEY must be set"), "{message}");
    assert!(message.contains("MULTITOKEN_BIND"), "{message}");
    // Configured, it starts anywhere.
    let mut configured = settings.clone();
    configured.server.secret_key = Some(SecretKey::generate());
    assert!(Application::build(configured).is_ok());
    // Once a loopback server has generated and stored one, it is used anywhere.
    let mut loopback = settings.clone();
    loopback.server.bind = "127.0.0.1:0".parse().expect("address");
    assert!(Application::build(loopback).is_ok());
    assert!(Application::build(settings).is_ok());
}
