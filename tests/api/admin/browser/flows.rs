//! What an admin does in the console, in a browser, by the ids of the
//! console's spec: each change goes through its confirmation page, whose
//! `button#confirm` says `Confirm …`, and the API sees the change at once.

use super::harness::Browser;
use super::Console;
use crate::helpers::{assert_unauthorized, content_type, in_browser, PASSWORD};
use reqwest::header::COOKIE;
use reqwest::StatusCode;

const NOT_AN_ADMIN: &str = "This console is for administrators only.";
/// WebDriver's keys (the Unicode private-use points of the spec).
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// Clicks `button#confirm` on a confirmation page, after checking that it
/// says so.
async fn confirm(browser: &Browser) {
    let button = browser.text_of("button#confirm").await;
    assert!(button.starts_with("Confirm"), "the button says {button:?}");
    browser.click("button#confirm").await;
}

#[in_browser]
async fn an_admin_signs_in_with_the_keyboard_alone_and_a_non_admin_cannot() {
    let console = Console::start().await;
    let browser = Browser::open(&console.app, 1280).await;

    // A non-admin gets no session.
    browser.sign_in("bob").await;
    assert_eq!(browser.text_of("#error").await, NOT_AN_ADMIN);
    browser.goto("/console/users").await;
    assert_eq!(browser.path().await, "/console/login", "bob has no session");

    // Focus the username, type, Tab to the password, Enter.
    browser.goto("/console/login").await;
    browser.click("#username").await;
    let focused = browser.client.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("username")
    );
    focused
        .send_keys(&format!("root{TAB}"))
        .await
        .expect("type");
    let focused = browser.client.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("password"),
        "Tab goes from the username to the password"
    );
    focused
        .send_keys(&format!("{PASSWORD}{ENTER}"))
        .await
        .expect("type");
    browser.wait_for("/console/").await;
    assert_eq!(browser.text_of("h1").await, "Dashboard");

    // Signing out ends the session.
    browser.click("#sign-out").await;
    browser.wait_for("/console/login").await;
    browser.goto("/console/users").await;
    assert_eq!(browser.path().await, "/console/login");
    browser.close().await;
}

#[in_browser]
async fn an_admin_creates_a_user_who_can_then_log_in() {
    let (console, browser) = Console::signed_in(1280).await;
    let app = &console.app;
    browser.goto("/console/users").await;
    browser.click("a#new-user").await;
    browser.wait_for("/console/users/new").await;
    browser.fill("#username", "carol").await;
    browser.fill("#email", "carol@example.com").await;
    browser.fill("#password", "a-long-new-password-9").await;
    assert_eq!(
        browser.text_of("button#create").await,
        "Confirm: create user"
    );
    browser.click("button#create").await;
    browser
        .wait_until(
            |here| {
                here.strip_prefix("/console/users/")
                    .is_some_and(|id| id.parse::<i64>().is_ok())
            },
            "the new user's page",
        )
        .await;
    assert_eq!(browser.text_of("p.flash").await, "Created user carol.");
    assert_eq!(browser.text_of("h1").await, "carol");
    assert_eq!(
        app.login_status("carol", "a-long-new-password-9", "web")
            .await,
        StatusCode::OK,
        "carol logs in with the password the admin chose"
    );
    browser.close().await;
}

#[in_browser]
async fn an_admin_revokes_a_lost_phone_after_confirming_and_the_api_refuses_it_at_once() {
    let (console, browser) = Console::signed_in(1280).await;
    let app = &console.app;
    let alice = console.alice;

    // The admin finds alice and opens her page.
    browser.goto("/console/users?search=ALI").await;
    browser
        .click(&format!("a[href=\"/console/users/{alice}\"]"))
        .await;
    browser.wait_for(&format!("/console/users/{alice}")).await;
    assert_eq!(browser.text_of("h1").await, "alice");
    for client in ["web", "ios", "cli"] {
        browser.find(&format!("[data-client={client}]")).await;
    }

    // Revoke the lost phone: first the confirmation, where nothing is done yet.
    browser.click("a#revoke-ios").await;
    browser
        .wait_for(&format!("/console/users/{alice}/revoke?client=ios"))
        .await;
    app.assert_whoami(console.key_of("ios"), StatusCode::OK, "not yet revoked")
        .await;
    confirm(&browser).await;
    browser.wait_for(&format!("/console/users/{alice}")).await;
    assert!(browser.find_all("[data-client=ios]").await.is_empty());
    assert_unauthorized(app.whoami(console.key_of("ios")).await, "Invalid token.").await;
    app.assert_whoami(console.key_of("web"), StatusCode::OK, "web still works")
        .await;

    // A confirmation posted without its CSRF token is refused.
    browser
        .goto(&format!("/console/users/{alice}/revoke?client=web"))
        .await;
    browser
        .script("document.querySelector('#confirm').form.querySelector('input[name=csrf_token]').remove()")
        .await;
    confirm(&browser).await;
    browser
        .wait_until(
            |here| here.starts_with(&format!("/console/users/{alice}/revoke")),
            "the refusal",
        )
        .await;
    assert_eq!(browser.text_of("h1").await, "Forbidden");
    assert!(browser.text_of("p.error").await.contains("security token"));
    app.assert_whoami(console.key_of("web"), StatusCode::OK, "web still works")
        .await;
    browser.close().await;
}

#[in_browser]
async fn an_admin_deactivates_a_user_after_confirming_and_their_keys_are_refused() {
    let (console, browser) = Console::signed_in(1280).await;
    let app = &console.app;
    let alice = console.alice;
    browser.goto(&format!("/console/users/{alice}")).await;
    browser.click("a#deactivate").await;
    browser
        .wait_for(&format!("/console/users/{alice}/deactivate"))
        .await;
    app.assert_whoami(console.key_of("web"), StatusCode::OK, "not yet deactivated")
        .await;
    confirm(&browser).await;
    browser.wait_for(&format!("/console/users/{alice}")).await;
    browser.find("a#reactivate").await;
    assert!(browser.find_all("a#deactivate").await.is_empty());
    let facts = browser.text_of("main").await;
    assert!(facts.contains("inactive"), "alice's page: {facts}");
    // Deactivating revokes every key (as `PATCH /admin/users/{id}` does).
    for (client, key, _) in &console.devices {
        assert_eq!(
            app.whoami_status(key).await,
            StatusCode::UNAUTHORIZED,
            "alice's {client} key"
        );
    }
    assert_eq!(
        app.login_status("alice", PASSWORD, "web").await,
        StatusCode::BAD_REQUEST,
        "nor may she log in again"
    );
    browser.close().await;
}

#[in_browser]
async fn the_events_page_filters_in_the_browser_and_its_csv_has_the_same_rows() {
    let (console, browser) = Console::signed_in(1280).await;
    let app = &console.app;
    browser.goto("/console/events").await;

    browser
        .find("select#type")
        .await
        .select_by_value("login_failed")
        .await
        .expect("choose a type");
    browser.fill("#user", "alice").await;
    browser.fill("#ip", "127.0.0.1").await;
    // A datetime-local field takes typed digits in the locale's order;
    // its value, set as a script would, is the same whatever the locale.
    let today = chrono::Utc::now().date_naive();
    let from = format!("{}T00:00", today.pred_opt().expect("yesterday"));
    let to = format!("{}T23:59", today.succ_opt().expect("tomorrow"));
    browser
        .client
        .execute(
            "document.querySelector('#from').value = arguments[0];\
             document.querySelector('#to').value = arguments[1];",
            vec![from.clone().into(), to.clone().into()],
        )
        .await
        .expect("set the time range");
    browser.click("button#filter").await;
    browser
        .wait_until(
            |here| here.starts_with("/console/events?"),
            "the filtered events",
        )
        .await;
    let query = browser.here().await;
    for part in ["type=login_failed", "user=alice", "ip=127.0.0.1"] {
        assert!(query.contains(part), "{query} lacks {part}");
    }

    // Alice's two failed sign-ins, not bob's, nor her logins.
    let rows = browser.find_all("table.events tr[data-type]").await;
    let mut types = Vec::new();
    for row in &rows {
        types.push(
            row.attr("data-type")
                .await
                .expect("data-type")
                .unwrap_or_default(),
        );
    }
    assert_eq!(types, ["login_failed", "login_failed"], "on {query}");

    // The CSV of the same filters, with the browser's session.
    let csv = browser
        .attr_of("a#csv", "href")
        .await
        .expect("the CSV link");
    let csv_url = if csv.starts_with("http") {
        csv
    } else {
        browser.url(&csv)
    };
    assert!(csv_url.contains("/console/events.csv?"), "{csv_url}");
    let response = app
        .http
        .get(&csv_url)
        .header(COOKIE, browser.session_cookie().await)
        .send()
        .await
        .expect("GET the CSV");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).is_some_and(|kind| kind.starts_with("text/csv")),
        "{:?}",
        content_type(&response)
    );
    let body = response.text().await.expect("CSV");
    let lines: Vec<&str> = body.lines().filter(|line| !line.is_empty()).collect();
    let events: Vec<&&str> = lines
        .iter()
        .filter(|line| line.contains("login_failed"))
        .collect();
    assert_eq!(events.len(), rows.len(), "the same rows: {body}");
    assert!(
        lines.len() <= rows.len() + 1,
        "the rows and a header at most: {body}"
    );
    assert!(
        !body.contains("bob"),
        "bob's failed sign-in is filtered out: {body}"
    );
    browser.close().await;
}

#[in_browser]
async fn a_hovered_user_agent_shows_its_whole_value() {
    let (console, browser) = Console::signed_in(390).await;
    browser
        .goto(&format!("/console/users/{}", console.alice))
        .await;
    for width in [390, 1280] {
        browser.set_width(width).await;
        for (client, _, agent) in &console.devices {
            let shown = browser
                .find(&format!("[data-client={client}] .short"))
                .await;
            browser.hover(&shown).await;
            assert_eq!(
                shown.attr("title").await.expect("title").as_deref(),
                Some(agent.as_str()),
                "{client} at {width} px: the whole user agent on hover"
            );
            // Shortened: cut by the stylesheet, or a shorter text.
            let cut = browser
                .client
                .execute(
                    "const element = arguments[0];\
                     return element.scrollWidth > element.clientWidth\
                         || element.innerText.length < element.title.length;",
                    vec![serde_json::to_value(&shown).expect("element")],
                )
                .await
                .expect("measure");
            assert_eq!(
                cut, true,
                "{client}'s user agent is shown whole at {width} px"
            );
        }
    }
    browser.close().await;
}

/// What the CSV download relies on: the browser's session cookie, sent by
/// another client, is the admin's session (here on the admin API, which
/// takes it as the contract says).
#[in_browser]
async fn the_browsers_session_cookie_signs_in_requests_made_beside_it() {
    let console = Console::start().await;
    let app = &console.app;
    let browser = Browser::open(app, 1280).await;
    let without = app.get("/admin/users?search=alice").await;
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    browser.sign_in("root").await;
    let response = app
        .http
        .get(app.url("/admin/users?search=alice"))
        .header(COOKIE, browser.session_cookie().await)
        .send()
        .await
        .expect("GET /admin/users");
    assert_eq!(response.status(), StatusCode::OK);
    let users: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(users["results"][0]["username"], "alice", "{users}");
    browser.close().await;
}
