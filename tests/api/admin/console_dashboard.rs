//! The console's dashboard over HTTP: the charts' bars count the events of
//! their kind in their hour and day, the devices table counts live devices
//! by client, the events table lists the newest first.

use crate::helpers::console::Console;
use crate::helpers::on_both_backends;
use crate::helpers::{header, Backend, TestApp, PASSWORD};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `data-count` of each bar of the chart `id`, oldest first.
fn bars(page: &str, id: &str) -> Vec<i64> {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("chart {id}"));
    let chart = &page[start..];
    let chart = &chart[..chart.find("</svg>").expect("the chart's end")];
    chart
        .split("data-count=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The HTML of a page's table `id`, up to its end.
fn table<'p>(page: &'p str, id: &str) -> &'p str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table #{id}"));
    let table = &page[start..];
    &table[..table.find("</table>").unwrap()]
}

/// The `(type, datetime)` of each row of the newest events table.
fn event_rows(page: &str) -> Vec<(String, String)> {
    table(page, "newest-events")
        .split("<tr data-type=\"")
        .skip(1)
        .map(|row| {
            let kind = row.split('"').next().unwrap().to_owned();
            let at = row.split("datetime=\"").nth(1).unwrap();
            (kind, at.split('"').next().unwrap().to_owned())
        })
        .collect()
}

/// The rows of the devices table, `(client, count)`.
fn device_rows(page: &str) -> Vec<(String, i64)> {
    table(page, "devices-by-client")
        .split("<span class=\"short\" title=\"")
        .skip(1)
        .map(|row| {
            let client = row.split('"').next().unwrap().to_owned();
            let count = row.split("data-label=\"Active devices\">").nth(1).unwrap();
            (client, count.split('<').next().unwrap().parse().unwrap())
        })
        .collect()
}

/// Waits out the last seconds of an hour, so that what a test does falls
/// in one hour's bar (and one day's).
async fn clear_of_the_hour_boundary() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_hour = now.as_secs() % 3600;
    if into_hour > 3600 - 30 {
        tokio::time::sleep(Duration::from_secs(3600 - into_hour + 1)).await;
    }
}

#[on_both_backends]
async fn the_charts_count_each_kind_in_the_current_hour_and_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    let bob = app.create_user("bob", "", false);
    app.create_user("root", "", true);
    clear_of_the_hour_boundary().await;
    // Three sign-ins (two by the API, one to the console), two failed, and
    // one revocation.
    app.login("alice", "web").await;
    app.login("bob", "web").await;
    app.login("bob", "ios").await;
    for _ in 0..2 {
        assert_eq!(
            app.login_status("alice", "not the password", "web").await,
            StatusCode::BAD_REQUEST
        );
    }
    let mut console = Console::new(&app);
    let signed_in = console.sign_in("root", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let csrf = console.csrf(&format!("/console/users/{bob}")).await;
    let revoked = console
        .post(
            &format!("/console/users/{bob}/revoke"),
            &[("csrf_token", &csrf), ("client", "web")],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);

    let page = console.page("/console/").await;
    assert!(page.contains("<h1>Dashboard</h1>"), "{page}");
    for (series, expected) in [
        ("signins", 4),
        ("failed", 2),
        ("throttled", 0),
        ("revocations", 1),
    ] {
        let hours = bars(&page, &format!("chart-{series}-24h"));
        let days = bars(&page, &format!("chart-{series}-30d"));
        assert_eq!(hours.len(), 24, "{series}");
        assert_eq!(days.len(), 30, "{series}");
        assert_eq!(hours.last(), Some(&expected), "{series} this hour");
        assert_eq!(days.last(), Some(&expected), "{series} today");
        // Nothing before: the hours and days without events show 0.
        assert_eq!(hours[..23].iter().sum::<i64>(), 0, "{series}");
        assert_eq!(days[0], 0, "{series} 29 days ago");
        assert_eq!(days[..29].iter().sum::<i64>(), 0, "{series}");
    }
    assert!(
        page.contains("aria-labelledby=\"caption-failed-24h\""),
        "each chart is labelled by its caption"
    );
    assert!(page.contains("UTC: 2 failed sign-ins</title>"), "{page}");
    assert!(page.contains("Total: <strong>4</strong>"), "{page}");

    // Live devices only: bob's revoked web device is not counted.
    assert_eq!(
        device_rows(&page),
        vec![("ios".to_owned(), 1), ("web".to_owned(), 1)]
    );

    // The newest first.
    let rows = event_rows(&page);
    let kinds: Vec<&str> = rows.iter().take(4).map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["revoked", "login", "login_failed", "login_failed"]);
    let times: Vec<&str> = rows.iter().map(|(_, at)| at.as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert!(rows.len() <= 10);
    assert!(page.contains(&format!("href=\"/console/users/{alice}\">alice</a>")));
    assert!(page.contains("href=\"/console/events\">All events</a>"));
}

#[on_both_backends]
async fn the_dashboard_is_the_landing_page_for_admins_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    let mut console = Console::new(&app);
    for path in ["/console/", "/console"] {
        console.assert_sent_to_sign_in(path).await;
    }
    let signed_in = console.sign_in("root", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&signed_in, LOCATION), Some("/console/"));
    for path in ["/console/", "/console"] {
        let page = console.page(path).await;
        assert!(page.contains("<h1>Dashboard</h1>"), "{path}");
        // A fresh service: every bar at 0 but this hour's console sign-in.
        assert_eq!(bars(&page, "chart-signins-24h").iter().sum::<i64>(), 1);
        assert_eq!(bars(&page, "chart-throttled-30d"), vec![0; 30]);
    }
    let signed_in_again = console.get("/console/login").await;
    assert_eq!(header(&signed_in_again, LOCATION), Some("/console/"));
}

#[on_both_backends]
async fn older_events_fall_in_their_own_hour_and_day(backend: Backend) {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn(backend).await;
    app.create_user("root", "", true);
    clear_of_the_hour_boundary().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (hour, day) = (3_600_000, 86_400_000);
    let mut conn = app.connection();
    for (ago, kind) in [
        (2 * day, "throttled"),
        (2 * day, "throttled"),
        (3 * hour, "throttled"),
        (31 * day, "throttled"),
        (3 * hour, "logout"),
        (3 * hour, "revoked"),
        (3 * hour, "password_changed"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO events (at, kind, actor) VALUES ({}, '{kind}', 'system')",
            now - ago
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let mut console = Console::signed_in(&app, "root").await;
    let page = console.page("/console/").await;
    let hours = bars(&page, "chart-throttled-24h");
    let days = bars(&page, "chart-throttled-30d");
    assert_eq!(hours[20], 1, "three hours ago: {hours:?}");
    assert_eq!(hours.iter().sum::<i64>(), 1, "{hours:?}");
    assert_eq!(days[27], 2, "two days ago: {days:?}");
    // 31 days ago is out of the range; three hours ago is today or yesterday.
    assert_eq!(days.iter().sum::<i64>(), 3, "{days:?}");
    assert_eq!(days[28] + days[29], 1, "{days:?}");
    // A revocation is a revoked device or a sign-out; other kinds count nowhere.
    assert_eq!(bars(&page, "chart-revocations-24h")[20], 2);
    assert_eq!(bars(&page, "chart-failed-24h").iter().sum::<i64>(), 0);
}
