//! The ops console over plain HTTP: sessions, cookies, CSRF, headers, and
//! revocation seen by the API. (tests/api/admin/browser.rs drives it in Chromium.)

use crate::helpers::console::{csrf_of, Console};
use crate::helpers::on_both_backends;
use crate::helpers::throttle;
use crate::helpers::{assert_detail, assert_unauthorized, header, Backend, TestApp, PASSWORD};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};

fn location(response: &Response) -> Option<&str> {
    header(response, LOCATION)
}

#[on_both_backends]
async fn the_session_cookie_is_http_only_strict_and_renewed_at_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let mut console = Console::new(&app);
    let first = console.get("/console/login").await;
    let set = first
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set.starts_with("multitoken_console="), "{set}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            set.split("; ").any(|a| a == attribute),
            "{attribute} in {set}"
        );
    }
    assert!(
        !set.contains("Secure"),
        "not Secure unless COOKIE_SECURE: {set}"
    );
    let before = console.cookie.clone();
    let csrf = csrf_of(&first.text().await.unwrap());
    let signed_in = console
        .post(
            "/console/login",
            &[
                ("csrf_token", &csrf),
                ("username", "ROOT"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), Some("/console/"));
    assert_ne!(console.cookie, before, "a new session at sign-in");
    let after_csrf = console.csrf("/console/users").await;
    assert_ne!(after_csrf, csrf, "a new CSRF token at sign-in");

    // The cookie from before sign-in is not signed in.
    let mut stale = Console::new(&app);
    stale.cookie = before;
    let response = stale.get("/console/users").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), Some("/console/login"));
}

#[on_both_backends]
async fn the_cookie_is_secure_when_configured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.console.cookie_secure = true).await;
    let response = Console::new(&app).get("/console/login").await;
    let set = response
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(set.split("; ").any(|a| a == "Secure"), "{set}");
}

#[on_both_backends]
async fn wrong_passwords_and_non_admins_get_a_message_and_no_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    app.create_user("bob", "", false);
    for (username, password, status, message) in [
        (
            "root",
            "wrong-password",
            StatusCode::UNAUTHORIZED,
            "Unable to sign in with this username and password.",
        ),
        (
            "nobody",
            PASSWORD,
            StatusCode::UNAUTHORIZED,
            "Unable to sign in with this username and password.",
        ),
        (
            "bob",
            PASSWORD,
            StatusCode::FORBIDDEN,
            "This console is for administrators only.",
        ),
        (
            "root",
            "",
            StatusCode::BAD_REQUEST,
            "Enter a username and a password.",
        ),
    ] {
        let mut console = Console::new(&app);
        let response = console.sign_in(username, password).await;
        assert_eq!(response.status(), status, "{username}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{message} in {page}");
        assert!(!page.contains(PASSWORD), "the password is never echoed");
        let users = console.get("/console/users").await;
        assert_eq!(
            users.status(),
            StatusCode::SEE_OTHER,
            "{username} is not signed in"
        );
        let api = console.get("/admin/users").await;
        assert_unauthorized(api, "Authentication credentials were not provided.").await;
    }
}

#[on_both_backends]
async fn forms_without_the_right_csrf_token_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("root", "", true);
    let ios = app.login("alice", "ios").await;
    let mut console = Console::new(&app);
    // Signing in itself needs the token.
    console.get("/console/login").await;
    let response = console
        .post(
            "/console/login",
            &[("username", "root"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("security token"));
    assert_eq!(
        console.get("/console/users").await.status(),
        StatusCode::SEE_OTHER
    );

    console.sign_in("root", PASSWORD).await;
    let revoke = format!("/console/users/{alice}/revoke");
    for form in [
        vec![("client", "ios")],
        vec![("client", "ios"), ("csrf_token", "")],
        vec![("client", "ios"), ("csrf_token", "forged-token-value")],
    ] {
        let response = console.post(&revoke, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
    }
    let revoke_all = format!("/console/users/{alice}/revoke-all");
    assert_eq!(
        console.post(&revoke_all, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console.post("/console/logout", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    app.assert_whoami(&ios, StatusCode::OK, "nothing was revoked")
        .await;
    assert_eq!(
        console.get("/console/users").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[on_both_backends]
async fn pages_carry_the_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("root", "", true);
    let mut console = Console::new(&app);
    let sign_in = console.get("/console/login").await;
    console.sign_in("root", PASSWORD).await;
    let users = console.get("/console/users?search=ali").await;
    let user = console.get(&format!("/console/users/{alice}")).await;
    let missing = console.get("/console/users/999999").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for response in [&sign_in, &users, &user, &missing] {
        let header = |name: &str| header(response, name).unwrap_or("").to_owned();
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("cache-control"), "no-store");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert_eq!(header("content-type"), "text/html; charset=utf-8");
    }
}

#[on_both_backends]
async fn a_device_revoked_in_the_console_is_refused_by_the_api_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "alice@example.com", false);
    app.create_user("root", "", true);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let mut console = Console::signed_in(&app, "root").await;
    let users = console.page("/console/users?search=ALICE").await;
    assert!(users.contains(&format!("href=\"/console/users/{alice}\"")));
    assert!(users.contains("1 user<"), "{users}");
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(page.contains("data-client=\"web\"") && page.contains("data-client=\"ios\""));
    let csrf = csrf_of(&page);
    let response = console
        .post(
            &format!("/console/users/{alice}/revoke"),
            &[("csrf_token", &csrf), ("client", "ios")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        Some(format!("/console/users/{alice}").as_str())
    );
    assert_unauthorized(app.whoami(&ios).await, "Invalid token.").await;
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(page.contains("Revoked the ios device of alice."));
    assert!(!page.contains("data-client=\"ios\""));
    // Revoking it again says so instead of failing.
    console
        .post(
            &format!("/console/users/{alice}/revoke"),
            &[("csrf_token", &csrf), ("client", "ios")],
        )
        .await;
    assert!(console
        .page(&format!("/console/users/{alice}"))
        .await
        .contains("alice has no device ios."));
}

/// A client name no device can have (6,000 characters: once a bodyless
/// `500`, the flash message repeating it overflowed the session cookie) is
/// a not-found answer with a body wherever a device is revoked: an HTML
/// page in the console, the contract's JSON `404` in the API.
#[on_both_backends]
async fn a_client_name_no_device_can_have_is_not_found_with_a_body_wherever_revoked(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("root", "", true);
    let web = app.login("alice", "web").await;
    let admin = app.login("root", "cli").await;
    let mut console = Console::signed_in(&app, "root").await;
    let csrf = console.csrf(&format!("/console/users/{alice}")).await;
    let (long, accented) = ("a".repeat(6000), "é".repeat(10));
    for client in [long.as_str(), "", "web\u{0}", "we b", accented.as_str()] {
        let response = console
            .post(
                &format!("/console/users/{alice}/revoke"),
                &[("csrf_token", &csrf), ("client", client)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{:.20}", client);
        assert_eq!(
            header(&response, "content-type"),
            Some("text/html; charset=utf-8")
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("Not found"), "{page}");
    }
    // The session goes on, and the device is still there.
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(page.contains("data-client=\"web\""));
    for path in [
        format!("/tokens/{long}"),
        format!("/admin/users/{alice}/tokens/{long}"),
    ] {
        let key = if path.starts_with("/tokens") {
            &web
        } else {
            &admin
        };
        let response = app.delete_with_token(&path, key).await;
        assert_detail(response, StatusCode::NOT_FOUND, "Not found.").await;
    }
    assert_eq!(app.whoami_status(&web).await, StatusCode::OK);
}

#[on_both_backends]
async fn revoke_all_in_the_console_revokes_every_device(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("root", "", true);
    let web = app.login("alice", "web").await;
    let ios = app.login("alice", "ios").await;
    let mut console = Console::signed_in(&app, "root").await;
    let csrf = console.csrf(&format!("/console/users/{alice}")).await;
    let response = console
        .post(
            &format!("/console/users/{alice}/revoke-all"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for key in [&web, &ios] {
        assert_unauthorized(app.whoami(key).await, "Invalid token.").await;
    }
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(page.contains("Revoked 2 devices of alice."));
    assert!(page.contains("No devices"));
}

#[on_both_backends]
async fn signing_out_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let mut console = Console::signed_in(&app, "root").await;
    let csrf = console.csrf("/console/users").await;
    let response = console
        .post("/console/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), Some("/console/login"));
    assert_eq!(
        console.get("/console/users").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[on_both_backends]
async fn the_admin_api_accepts_a_console_session_with_its_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("root", "", true);
    let ios = app.login("alice", "ios").await;
    let mut console = Console::signed_in(&app, "root").await;
    let csrf = console.csrf("/console/users").await;
    let listed = console.get("/admin/users?search=alice").await;
    assert_eq!(listed.status(), StatusCode::OK);
    let path = format!("/admin/users/{alice}/tokens/ios");
    assert_detail(
        console.request(Method::DELETE, &path, None).await,
        StatusCode::FORBIDDEN,
        "CSRF Failed: CSRF token missing or incorrect.",
    )
    .await;
    assert_eq!(app.whoami_status(&ios).await, StatusCode::OK);
    let response = app
        .request(Method::DELETE, &path)
        .header(COOKIE, console.cookie.clone().unwrap())
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.whoami(&ios).await, "Invalid token.").await;
}

#[on_both_backends]
async fn console_sign_in_shares_the_login_throttle(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.throttles.login_throttle = throttle("2/1m");
    })
    .await;
    app.create_user("root", "", true);
    let mut console = Console::new(&app);
    for _ in 0..2 {
        let refused = console.sign_in("root", "wrong-password").await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = console.sign_in("root", PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = throttled.text().await.expect("page");
    assert!(
        page.contains("Request was throttled. Expected available in"),
        "{page}"
    );
    // The API's login counts the same failures for that username.
    let api = app.post_login("root", PASSWORD, "web").await;
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Security finding F5: a console sign-in left `last_login_at` empty, so the
/// console showed admins as never logged in and their reset links lived on.
#[on_both_backends]
async fn console_sign_in_records_the_login(backend: Backend) {
    use diesel::prelude::*;
    use multitoken::db::schema::users;
    let app = TestApp::spawn(backend).await;
    let ops = app.create_user("ops", "", true);
    let last_login =
        || -> Option<i64> { app.read(users::table.find(ops).select(users::last_login_at)) };
    assert_eq!(last_login(), None);
    let mut console = Console::new(&app);
    let response = console.sign_in("ops", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(last_login().is_some(), "the sign-in is recorded");
}

#[on_both_backends]
async fn service_users_are_marked_as_such(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let gateway = app.create_service_user("gateway");
    let alice = app.create_user("alice", "", false);
    let mut console = Console::signed_in(&app, "root").await;
    let users = console.page("/console/users").await;
    let row_of = |name: &str| {
        let start = users.find(&format!(">{name}<")).expect("listed");
        let end = users[start..].find("</tr>").expect("row end") + start;
        users[start..end].to_owned()
    };
    assert!(row_of("gateway").contains("service"), "{users}");
    assert!(!row_of("alice").contains("service"), "{users}");
    let page = console.page(&format!("/console/users/{gateway}")).await;
    assert!(page.contains("active, service"), "{page}");
    let page = console.page(&format!("/console/users/{alice}")).await;
    assert!(!page.contains("service"), "{page}");
}
