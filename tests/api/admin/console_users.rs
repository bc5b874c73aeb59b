//! The console's users: the list and its columns, creating a user, and
//! every action on one user's page, each asked for on a confirmation page
//! (which changes nothing) and done by its form, with its event by
//! `admin:<id>`. What changed is read back over the API.

use crate::helpers::console::{csrf_of, Console};
use crate::helpers::mail::{to, MailApp, ResetLink, NEW_PASSWORD};
use crate::helpers::on_both_backends;
use crate::helpers::two_factor::enable;
use crate::helpers::{header, insert_token_row, Backend, TestApp, PASSWORD};
use multitoken::domain::Timestamp;
use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// An app with `root` (admin, with an API key) signed in to the console.
async fn signed_in(app: &TestApp) -> (Console<'_>, String, i64) {
    let key = app.admin_key().await;
    let root = app.admin_user_id(&key).await;
    let mut console = Console::new(app);
    let response = console.sign_in("root", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    (console, key, root)
}

trait AdminReads {
    async fn admin_user_id(&self, key: &str) -> i64;
    async fn user_json(&self, key: &str, id: i64) -> Value;
    async fn events_of(&self, key: &str, id: i64, kind: &str) -> Vec<Value>;
    async fn newest_by_admin(&self, key: &str, id: i64, kind: &str, admin: i64) -> Value;
}

impl AdminReads for TestApp {
    async fn admin_user_id(&self, key: &str) -> i64 {
        let whoami: Value = self.whoami(key).await.json().await.unwrap();
        whoami["id"].as_i64().expect("an id")
    }

    /// `GET /admin/users/{id}`.
    async fn user_json(&self, key: &str, id: i64) -> Value {
        let response = self.admin_get(&format!("/admin/users/{id}"), key).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The user's events of that type, as `GET /admin/events` lists them.
    async fn events_of(&self, key: &str, id: i64, kind: &str) -> Vec<Value> {
        let path = format!("/admin/events?user={id}&type={kind}");
        let response = self.admin_get(&path, key).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page: Value = response.json().await.unwrap();
        page["results"].as_array().expect("results").clone()
    }

    /// The user's newest event of that type, asserted to be by `admin:{admin}`.
    async fn newest_by_admin(&self, key: &str, id: i64, kind: &str, admin: i64) -> Value {
        let events = self.events_of(key, id, kind).await;
        let event = events.first().unwrap_or_else(|| panic!("a {kind} event"));
        assert_eq!(event["actor"], format!("admin:{admin}"), "{kind}: {event}");
        event.clone()
    }
}

/// The text of the page's `button#confirm`.
fn confirm_button(page: &str) -> String {
    let start = page.find("id=\"confirm\"").expect("a #confirm button");
    let text_start = page[start..].find('>').unwrap() + start + 1;
    let end = page[text_start..].find("</button>").unwrap() + text_start;
    page[text_start..end].to_owned()
}

/// Opens an action's confirmation page: a `Confirm …` button posting to
/// the same path. Returns the form's CSRF token.
async fn ask(console: &mut Console<'_>, path: &str) -> String {
    let page = console.page(path).await;
    let button = confirm_button(&page);
    assert!(button.starts_with("Confirm"), "{path}: {button}");
    let action = path.split('?').next().unwrap();
    assert!(
        page.contains(&format!("action=\"{action}\"")),
        "{path} posts to itself: {page}"
    );
    csrf_of(&page)
}

fn location(response: &Response) -> Option<&str> {
    header(response, LOCATION)
}

/// The row of the users list for `id`.
fn row_of(page: &str, id: i64) -> String {
    let start = page
        .find(&format!("data-user=\"{id}\""))
        .unwrap_or_else(|| panic!("user {id} listed: {page}"));
    let end = page[start..].find("</tr>").unwrap() + start;
    page[start..end].to_owned()
}

fn cell(row: &str, label: &str) -> String {
    let start = row
        .find(&format!("data-label=\"{label}\""))
        .unwrap_or_else(|| panic!("{label} in {row}"));
    let text_start = row[start..].find('>').unwrap() + start + 1;
    let end = row[text_start..].find("</td>").unwrap() + text_start;
    row[text_start..end].to_owned()
}

#[on_both_backends]
async fn the_list_shows_status_role_two_factor_devices_and_last_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    app.login("alice", "web").await;
    enable(&app, "alice").await; // signs in a second device, "setup"
                                 // An expired token is no device.
    insert_token_row(
        &mut app.connection(),
        alice,
        "old",
        Timestamp::now().minus(Duration::from_secs(60)),
    );
    let bob = app.create_user("bob", "", false);
    let gateway = app.create_service_user("gateway");
    let response = app
        .admin_patch(bob, &key, serde_json::json!({"is_active": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let page = console.page("/console/users").await;
    assert!(page.contains("id=\"new-user\""), "{page}");
    assert!(page.contains("href=\"/console/users/new\""), "{page}");
    let alice_row = row_of(&page, alice);
    assert_eq!(cell(&alice_row, "Status"), "active");
    assert_eq!(cell(&alice_row, "Role"), "—");
    assert_eq!(cell(&alice_row, "Two-factor"), "on");
    assert_eq!(cell(&alice_row, "Devices"), "2");
    assert!(
        cell(&alice_row, "Last sign-in").contains("just now"),
        "{alice_row}"
    );
    assert!(cell(&alice_row, "E-mail").contains("alice@example.com"));
    let bob_row = row_of(&page, bob);
    assert!(cell(&bob_row, "Status").contains("inactive"), "{bob_row}");
    assert_eq!(cell(&bob_row, "Two-factor"), "off");
    assert_eq!(cell(&bob_row, "Devices"), "0");
    assert_eq!(cell(&bob_row, "Last sign-in"), "never");
    assert!(cell(&row_of(&page, root), "Role").contains("admin"));
    assert!(cell(&row_of(&page, gateway), "Role").contains("service"));
    assert!(cell(&row_of(&page, gateway), "Status").contains("active"));
}

#[on_both_backends]
async fn creating_a_user_follows_the_admin_api_rules_and_records_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    let page = console.page("/console/users/new").await;
    assert_eq!(confirm_create_button(&page), "Confirm: create user");
    for id in ["username", "email", "password", "is_admin", "is_service"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "#{id}");
    }
    let csrf = csrf_of(&page);

    // Invalid: each field's message, what was typed again but the password.
    let response = console
        .post(
            "/console/users/new",
            &[
                ("csrf_token", &csrf),
                ("username", "carol smith"),
                ("email", "not-an-address"),
                ("password", "s3cret-typed-once"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains("class=\"field-error\""), "{page}");
    assert!(page.contains("Enter a valid username."), "{page}");
    assert!(page.contains("Enter a valid email address."), "{page}");
    assert!(page.contains("value=\"carol smith\""), "{page}");
    assert!(
        !page.contains("s3cret-typed-once"),
        "the password is not echoed"
    );
    let missing = console
        .post("/console/users/new", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("This field is required."));

    // Without the CSRF token: refused, nothing created.
    let form = [
        ("username", "carol"),
        ("password", NEW_PASSWORD),
        ("email", "carol@example.com"),
        ("is_admin", "true"),
    ];
    let response = console.post("/console/users/new", &form).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(users_named(&app, &key, "carol").await.len(), 0);

    let mut with_csrf = vec![("csrf_token", csrf.as_str())];
    with_csrf.extend(form);
    let response = console.post("/console/users/new", &with_csrf).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let found = users_named(&app, &key, "carol").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let carol = found[0]["id"].as_i64().unwrap();
    assert_eq!(found[0]["is_admin"], true);
    assert_eq!(found[0]["is_service"], false);
    assert_eq!(found[0]["email"], "carol@example.com");
    assert_eq!(
        location(&response),
        Some(format!("/console/users/{carol}").as_str())
    );
    let page = console.page(&format!("/console/users/{carol}")).await;
    assert!(page.contains("Created user carol."), "{page}");
    assert_eq!(
        app.login_status("carol", NEW_PASSWORD, "web").await,
        StatusCode::OK
    );
    app.newest_by_admin(&key, carol, "user_created", root).await;

    // A taken name (without regard to case) is the API's message.
    let response = console
        .post(
            "/console/users/new",
            &[
                ("csrf_token", &csrf),
                ("username", "CAROL"),
                ("password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("A user with that username already exists."),
        "{page}"
    );
}

fn confirm_create_button(page: &str) -> String {
    let start = page.find("id=\"create\"").expect("a #create button");
    let text_start = page[start..].find('>').unwrap() + start + 1;
    let end = page[text_start..].find("</button>").unwrap() + text_start;
    page[text_start..end].to_owned()
}

async fn users_named(app: &TestApp, key: &str, name: &str) -> Vec<Value> {
    let response = app
        .admin_get(&format!("/admin/users?search={name}"), key)
        .await;
    let page: Value = response.json().await.unwrap();
    page["results"].as_array().unwrap().clone()
}

#[on_both_backends]
async fn deactivating_and_reactivating_are_confirmed_and_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    let alice = app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let user_page = format!("/console/users/{alice}");
    assert!(console.page(&user_page).await.contains("id=\"deactivate\""));

    let path = format!("/console/users/{alice}/deactivate");
    let csrf = ask(&mut console, &path).await;
    assert_eq!(
        app.user_json(&key, alice).await["is_active"],
        true,
        "asking changes nothing"
    );
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), Some(user_page.as_str()));
    assert_eq!(app.user_json(&key, alice).await["is_active"], false);
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);
    let page = console.page(&user_page).await;
    assert!(
        page.contains("Deactivated alice; 1 device signed out."),
        "{page}"
    );
    assert!(page.contains("id=\"reactivate\""), "{page}");
    let updated = app.newest_by_admin(&key, alice, "user_updated", root).await;
    assert_eq!(updated["detail"], "is_active");
    app.newest_by_admin(&key, alice, "revoked", root).await;

    let path = format!("/console/users/{alice}/reactivate");
    let csrf = ask(&mut console, &path).await;
    assert_eq!(app.user_json(&key, alice).await["is_active"], false);
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.user_json(&key, alice).await["is_active"], true);
    assert_eq!(app.events_of(&key, alice, "user_updated").await.len(), 2);
    assert!(console
        .page(&user_page)
        .await
        .contains("Reactivated alice."));
}

#[on_both_backends]
async fn making_and_removing_an_admin_are_confirmed_and_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    let alice = app.create_user("alice", "", false);
    let user_page = format!("/console/users/{alice}");
    assert!(console.page(&user_page).await.contains("id=\"make-admin\""));

    let path = format!("/console/users/{alice}/make-admin");
    let csrf = ask(&mut console, &path).await;
    assert_eq!(app.user_json(&key, alice).await["is_admin"], false);
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.user_json(&key, alice).await["is_admin"], true);
    let updated = app.newest_by_admin(&key, alice, "user_updated", root).await;
    assert_eq!(updated["detail"], "is_admin");
    assert!(console
        .page(&user_page)
        .await
        .contains("id=\"remove-admin\""));

    let path = format!("/console/users/{alice}/remove-admin");
    let csrf = ask(&mut console, &path).await;
    assert_eq!(app.user_json(&key, alice).await["is_admin"], true);
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.user_json(&key, alice).await["is_admin"], false);
    assert_eq!(app.events_of(&key, alice, "user_updated").await.len(), 2);
}

/// The admin guards hold in the console: an admin cannot deactivate or
/// demote themself (and, the only admin, would leave none), refused with
/// the API's message on a page, never a 500, and nothing changes.
#[on_both_backends]
async fn an_admin_cannot_deactivate_or_demote_themself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    for (action, message) in [
        ("deactivate", "You cannot deactivate your own account."),
        ("remove-admin", "You cannot remove your own admin rights."),
    ] {
        let path = format!("/console/users/{root}/{action}");
        let csrf = ask(&mut console, &path).await;
        let response = console.post(&path, &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{action}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{action}: {page}");
        assert!(page.contains("id=\"refusal\""), "{action}: {page}");
    }
    let user = app.user_json(&key, root).await;
    assert_eq!(
        (user["is_active"].clone(), user["is_admin"].clone()),
        (true.into(), true.into())
    );
    assert!(app.events_of(&key, root, "user_updated").await.is_empty());
    // Still signed in and an admin.
    console.page("/console/users").await;
}

#[on_both_backends]
async fn a_reset_mail_is_sent_through_the_outbox_and_its_link_works(backend: Backend) {
    let mail = MailApp::spawn(backend).await;
    let app = &mail.app;
    let (mut console, key, root) = signed_in(app).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    let nomail = app.create_user("nomail", "", false);
    assert!(console
        .page(&format!("/console/users/{alice}"))
        .await
        .contains("id=\"send-reset\""));

    let path = format!("/console/users/{alice}/send-reset");
    let csrf = ask(&mut console, &path).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mail.mail_count(), 0, "asking sends nothing");
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mails = mail.mails(1).await;
    let to_alice = to(&mails, "alice@example.com");
    assert_eq!(to_alice.len(), 1, "{mails:?}");
    assert!(
        to_alice[0].contains("Subject: Password reset"),
        "{}",
        to_alice[0]
    );
    let link = ResetLink::in_mail(&to_alice[0]);
    assert_eq!(
        app.confirm_link(&link, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_status("alice", NEW_PASSWORD, "web").await,
        StatusCode::OK
    );
    app.newest_by_admin(&key, alice, "password_reset_mailed", root)
        .await;

    // Without an address: no link, and a clear refusal if asked anyway.
    let page = console.page(&format!("/console/users/{nomail}")).await;
    assert!(!page.contains("id=\"send-reset\""), "{page}");
    let path = format!("/console/users/{nomail}/send-reset");
    for response in [
        console.get(&path).await,
        console.post(&path, &[("csrf_token", &csrf)]).await,
    ] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains("nomail has no e-mail address"), "{page}");
    }
    assert!(app
        .events_of(&key, nomail, "password_reset_mailed")
        .await
        .is_empty());
}

#[on_both_backends]
async fn turning_two_factor_off_lets_the_user_sign_in_with_the_password_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    let alice = app.create_user("alice", "", false);
    let user_page = format!("/console/users/{alice}");
    assert!(!console
        .page(&user_page)
        .await
        .contains("id=\"disable-2fa\""));
    enable(&app, "alice").await;
    assert!(console
        .page(&user_page)
        .await
        .contains("id=\"disable-2fa\""));

    let path = format!("/console/users/{alice}/disable-2fa");
    let csrf = ask(&mut console, &path).await;
    assert_eq!(app.user_json(&key, alice).await["two_factor"], true);
    assert_ne!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::OK
    );
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.user_json(&key, alice).await["two_factor"], false);
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::OK
    );
    app.newest_by_admin(&key, alice, "two_factor_disabled", root)
        .await;
    assert!(console
        .page(&user_page)
        .await
        .contains("Two-factor authentication is off for alice."));
    // Already off: said so, nothing recorded twice.
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.events_of(&key, alice, "two_factor_disabled")
            .await
            .len(),
        1
    );
}

#[on_both_backends]
async fn revoking_one_device_or_all_is_confirmed_first_and_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    let alice = app.create_user("alice", "", false);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let page = console.page(&format!("/console/users/{alice}")).await;
    let revoke_ios = format!("/console/users/{alice}/revoke?client=ios");
    assert!(
        page.contains(&format!("id=\"revoke-ios\" href=\"{revoke_ios}\"")),
        "{page}"
    );
    assert!(page.contains("id=\"revoke-all\""), "{page}");

    let confirm_page = console.page(&revoke_ios).await;
    assert!(confirm_button(&confirm_page).starts_with("Confirm"));
    assert!(
        confirm_page.contains("name=\"client\" value=\"ios\""),
        "{confirm_page}"
    );
    assert_eq!(
        app.whoami_status(&ios).await,
        StatusCode::OK,
        "asking revokes nothing"
    );
    let csrf = csrf_of(&confirm_page);
    let path = format!("/console/users/{alice}/revoke");
    let response = console
        .post(&path, &[("csrf_token", &csrf), ("client", "ios")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.whoami_status(&ios).await, StatusCode::UNAUTHORIZED);
    let revoked = app.newest_by_admin(&key, alice, "revoked", root).await;
    assert_eq!(revoked["client"], "ios");
    // A device the user does not have has no confirmation page.
    assert_eq!(
        console.get(&revoke_ios).await.status(),
        StatusCode::NOT_FOUND
    );

    let path = format!("/console/users/{alice}/revoke-all");
    let csrf = ask(&mut console, &path).await;
    assert_eq!(
        app.whoami_status(&web).await,
        StatusCode::OK,
        "asking revokes nothing"
    );
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.whoami_status(&web).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.events_of(&key, alice, "revoked").await.len(), 2);
    let revoked = app.newest_by_admin(&key, alice, "revoked", root).await;
    assert_eq!(revoked["detail"], "logout_all");
    assert!(!console
        .page(&format!("/console/users/{alice}"))
        .await
        .contains("id=\"revoke-all\""));
}

#[on_both_backends]
async fn action_pages_of_unknown_users_or_actions_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, _key, root) = signed_in(&app).await;
    let csrf = console.csrf("/console/users").await;
    for path in [
        "/console/users/999999/deactivate".to_owned(),
        format!("/console/users/{root}/explode"),
        format!("/console/users/{root}/revoke?client=a%20b"),
    ] {
        assert_eq!(
            console.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
        let response = console.post(&path, &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// No page of these can scroll sideways for want of a place to break: the
/// stylesheet cuts user agents and stacks wide tables on narrow screens.
#[on_both_backends]
async fn the_stylesheet_shortens_and_reflows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let css = app.get("/console/console.css").await.text().await.unwrap();
    for rule in [
        "text-overflow: ellipsis",
        "content: attr(data-label)",
        "@media (max-width: 900px)",
        "flex-wrap: wrap",
    ] {
        assert!(css.contains(rule), "{rule}");
    }
    let (mut console, _key, root) = signed_in(&app).await;
    for path in [
        "/console/users".to_owned(),
        format!("/console/users/{root}"),
    ] {
        let page = console.page(&path).await;
        assert!(!page.contains("style="), "no inline style on {path}");
        assert!(!page.contains("<script"), "no script on {path}");
    }
}

/// Without a session, the new pages send to the sign-in page and their
/// forms are refused before anything is looked at; nothing is created.
#[on_both_backends]
async fn the_new_pages_need_an_admin_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.admin_key().await;
    let alice = app.create_user("alice", "", false);
    let mut stranger = Console::new(&app);
    let csrf = stranger.csrf("/console/login").await;
    for path in [
        "/console/users/new".to_owned(),
        format!("/console/users/{alice}/deactivate"),
        format!("/console/users/{alice}/revoke?client=web"),
    ] {
        stranger.assert_sent_to_sign_in(&path).await;
    }
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "mallory"),
        ("password", NEW_PASSWORD),
        ("is_admin", "true"),
    ];
    let response = stranger.post("/console/users/new", &form).await;
    assert_eq!(location(&response), Some("/console/login"));
    assert!(users_named(&app, &key, "mallory").await.is_empty());
    let path = format!("/console/users/{alice}/deactivate");
    let response = stranger.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(location(&response), Some("/console/login"));
    assert_eq!(app.user_json(&key, alice).await["is_active"], true);
}

#[on_both_backends]
async fn an_admin_cannot_turn_their_own_two_factor_off_here(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut console, key, root) = signed_in(&app).await;
    enable(&app, "root").await;
    let own_page = format!("/console/users/{root}");
    assert!(!console.page(&own_page).await.contains("id=\"disable-2fa\""));
    let path = format!("/console/users/{root}/disable-2fa");
    let asked = console.get(&path).await;
    assert_eq!(asked.status(), StatusCode::BAD_REQUEST);
    assert!(asked.text().await.unwrap().contains("/2fa/disable"));
    // Not by posting the form of another page either.
    let csrf = csrf_of(&console.page("/console/users").await);
    let response = console.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.user_json(&key, root).await["two_factor"], true);
    assert!(app
        .events_of(&key, root, "two_factor_disabled")
        .await
        .is_empty());
}
