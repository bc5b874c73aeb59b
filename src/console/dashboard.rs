//! The landing page: sign-ins, failures, throttled attempts and
//! revocations as bar charts drawn on the server (SVG, no script), live
//! devices by client, and the newest events.

use super::error::ConsoleError;
use super::layout::{column_heads, layout, shortened, when, Chrome};
use super::request::AdminPage;
use crate::domain::Timestamp;
use crate::service::shared::activity::{self, Activity, Bucket, Series, HOUR};
use crate::service::shared::events::{self, EventView};
use crate::service::{tokens, Services};
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use std::collections::HashMap;

/// How many clients the devices table lists, and events the events table.
const CLIENTS_SHOWN: i64 = 20;
const EVENTS_SHOWN: i64 = 10;

/// The chart's drawing box (user units; the SVG scales to its column).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
/// Room for the last bar's label, centred under it.
const RIGHT: f64 = 20.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

struct Overview {
    activity: Activity,
    devices: Vec<(String, i64)>,
    events: Vec<EventView>,
    usernames: HashMap<i64, String>,
}

pub async fn dashboard(
    services: web::Data<Services>,
    signed_in: AdminPage,
) -> Result<HttpResponse, ConsoleError> {
    let now = Timestamp::now();
    let overview = services
        .db(move |conn| {
            let events = events::newest(conn, events::Filter::default(), EVENTS_SHOWN)?;
            Ok(Overview {
                activity: activity::activity(conn, now)?,
                devices: tokens::live_by_client(conn, CLIENTS_SHOWN)?,
                usernames: events::usernames_of(conn, &events)?,
                events,
            })
        })
        .await?;
    Ok(signed_in.render(|chrome, flash| dashboard_page(chrome, &overview, now, flash)))
}

/// A chart's range: its id part, its words, and how a bar's span reads.
#[derive(Clone, Copy)]
enum Range {
    Hours,
    Days,
}

impl Range {
    fn id(self) -> &'static str {
        match self {
            Range::Hours => "24h",
            Range::Days => "30d",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Range::Hours => "last 24 hours, per hour",
            Range::Days => "last 30 days, per UTC day",
        }
    }

    /// `14:00–15:00 UTC` or `2026-12-07 UTC`.
    fn span(self, start: Timestamp) -> String {
        match self {
            Range::Hours => format!(
                "{}–{} UTC",
                clock(start),
                clock(Timestamp(start.millis() + HOUR))
            ),
            Range::Days => format!("{} UTC", date(start)),
        }
    }

    /// Under the axis: `14:00` or `12-07`.
    fn tick(self, start: Timestamp) -> String {
        match self {
            Range::Hours => clock(start),
            Range::Days => date(start).get(5..).unwrap_or_default().to_owned(),
        }
    }

    /// Which bars get a label under the axis: every sixth hour, every
    /// seventh day, counted back from the last bar.
    fn every(self) -> usize {
        match self {
            Range::Hours => 6,
            Range::Days => 7,
        }
    }
}

fn date(at: Timestamp) -> String {
    at.to_rfc3339().get(..10).unwrap_or_default().to_owned()
}

fn clock(at: Timestamp) -> String {
    at.to_rfc3339().get(11..16).unwrap_or_default().to_owned()
}

/// One series: its id part, title, and the noun of one of its events.
struct Kind {
    id: &'static str,
    title: &'static str,
    one: &'static str,
    many: &'static str,
    bars: fn(&Series) -> &[Bucket],
}

const KINDS: [Kind; 4] = [
    Kind {
        id: "signins",
        title: "Sign-ins",
        one: "sign-in",
        many: "sign-ins",
        bars: |series| &series.signins,
    },
    Kind {
        id: "failed",
        title: "Failed sign-ins",
        one: "failed sign-in",
        many: "failed sign-ins",
        bars: |series| &series.failed,
    },
    Kind {
        id: "throttled",
        title: "Throttled attempts",
        one: "throttled attempt",
        many: "throttled attempts",
        bars: |series| &series.throttled,
    },
    Kind {
        id: "revocations",
        title: "Revocations (revoked devices and sign-outs)",
        one: "revocation",
        many: "revocations",
        bars: |series| &series.revocations,
    },
];

fn dashboard_page(
    chrome: &Chrome<'_>,
    overview: &Overview,
    now: Timestamp,
    flash: Option<&str>,
) -> Markup {
    let ranges = [
        (Range::Hours, &overview.activity.hours),
        (Range::Days, &overview.activity.days),
    ];
    layout(
        "Dashboard",
        Some(chrome),
        flash,
        html! {
            h1 { "Dashboard" }
            p.hint {
                "Counted from the security events, in UTC. Revocations are devices "
                "revoked (by their user, an admin, a password change or expiry) "
                "plus sign-outs (" code { "revoked" } " and " code { "logout" } " events)."
            }
            div.charts {
                @for kind in &KINDS {
                    @for (range, series) in &ranges {
                        (chart(kind, *range, (kind.bars)(series)))
                    }
                }
            }
            div.tables {
                section {
                    h2 id="devices-heading" { "Active devices by client" }
                    (devices_table(&overview.devices))
                }
                section {
                    h2 id="events-heading" { "Newest events" }
                    (events_table(&overview.events, &overview.usernames, now))
                    p { a href="/console/events" { "All events" } }
                }
            }
        },
    )
}

fn noun(kind: &Kind, count: i64) -> &'static str {
    if count == 1 {
        kind.one
    } else {
        kind.many
    }
}

fn chart(kind: &Kind, range: Range, bars: &[Bucket]) -> Markup {
    let id = format!("chart-{}-{}", kind.id, range.id());
    let caption = format!("caption-{}-{}", kind.id, range.id());
    let total: i64 = bars.iter().map(|bar| bar.count).sum();
    let highest = bars.iter().map(|bar| bar.count).max().unwrap_or(0).max(1);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / bars.len().max(1) as f64;
    let base = TOP + plot_height;
    let last = bars.len().saturating_sub(1);
    html! {
        figure.chart {
            figcaption id=(caption) {
                span.title { (kind.title) ", " (range.words()) }
                " "
                span.total { "Total: " strong { (total) } }
            }
            svg.chart.(kind.id) id=(id) role="img" aria-labelledby=(caption)
                viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) width="100%"
                xmlns="http://www.w3.org/2000/svg" {
                line.axis x1=(LEFT) y1=(base) x2=(WIDTH - RIGHT) y2=(base) stroke="#8a93a6" {}
                text.label x=(LEFT - 6.0) y=(TOP + 10.0) text-anchor="end" { (compact(highest)) }
                text.label x=(LEFT - 6.0) y=(base) text-anchor="end" { "0" }
                @for (index, bar) in bars.iter().enumerate() {
                    @let height = plot_height * bar.count as f64 / highest as f64;
                    // A zero still shows as a hairline, so that its title can be hovered.
                    @let height = height.max(1.0);
                    @let x = LEFT + index as f64 * slot + slot * 0.1;
                    rect.bar x=(round(x)) y=(round(base - height)) width=(round(slot * 0.8))
                        height=(round(height)) data-count=(bar.count) {
                        title {
                            (range.span(bar.start)) ": " (bar.count) " " (noun(kind, bar.count))
                        }
                    }
                    @if (last - index).is_multiple_of(range.every()) {
                        text.label x=(round(x + slot * 0.4)) y=(HEIGHT - 8.0) text-anchor="middle" {
                            (range.tick(bar.start))
                        }
                    }
                }
            }
        }
    }
}

/// An axis label of at most four characters: `9999`, `33k`, `1.2M`.
fn compact(count: i64) -> String {
    match count {
        ..=9_999 => count.to_string(),
        10_000..=999_999 => format!("{}k", count / 1_000),
        _ => format!("{:.1}M", count as f64 / 1_000_000.0),
    }
}

/// Two decimals are finer than any screen shows.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn devices_table(devices: &[(String, i64)]) -> Markup {
    html! {
        @if devices.is_empty() {
            p.empty { "No live devices." }
        } @else {
            table id="devices-by-client" aria-labelledby="devices-heading" {
                (column_heads(&["Client", "Active devices"]))
                tbody {
                    @for (client, count) in devices {
                        tr {
                            td data-label="Client" { (shortened(Some(client))) }
                            td.number data-label="Active devices" { (count) }
                        }
                    }
                }
            }
        }
    }
}

fn events_table(events: &[EventView], usernames: &HashMap<i64, String>, now: Timestamp) -> Markup {
    html! {
        table id="newest-events" aria-labelledby="events-heading" {
            (column_heads(&["At", "Event", "User", "Client", "Address"]))
            tbody {
                @for event in events {
                    tr data-type=(event.kind) {
                        td data-label="At" { (when(event.at, now)) }
                        td data-label="Event" { (event.kind) }
                        td data-label="User" {
                            @match event.user_id {
                                Some(id) => a href=(format!("/console/users/{id}")) {
                                    @match usernames.get(&id) {
                                        Some(name) => (name),
                                        None => { "#" (id) },
                                    }
                                },
                                None => "—",
                            }
                        }
                        td data-label="Client" { (shortened(event.client.as_deref())) }
                        td data-label="Address" { (shortened(event.ip.as_deref())) }
                    }
                }
            }
        }
        @if events.is_empty() {
            p.empty { "No events yet." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_read_as_their_hour_or_day_in_utc() {
        let at = Timestamp(1_796_652_000_000); // 2026-12-07 14:00 UTC
        assert_eq!(Range::Hours.span(at), "14:00–15:00 UTC");
        assert_eq!(Range::Days.span(at), "2026-12-07 UTC");
        assert_eq!(Range::Hours.tick(at), "14:00");
        assert_eq!(Range::Days.tick(at), "12-07");
        let midnight = Timestamp(1_796_684_400_000); // 23:00
        assert_eq!(Range::Hours.span(midnight), "23:00–00:00 UTC");
    }

    #[test]
    fn a_chart_has_one_bar_per_bucket_and_its_total() {
        let bars: Vec<Bucket> = (0..24)
            .map(|hour| Bucket {
                start: Timestamp(1_796_652_000_000 + hour * HOUR),
                count: hour % 3,
            })
            .collect();
        let svg = chart(&KINDS[1], Range::Hours, &bars).into_string();
        assert_eq!(svg.matches("<rect").count(), 24);
        assert!(svg.contains("id=\"chart-failed-24h\""));
        assert!(svg.contains("aria-labelledby=\"caption-failed-24h\""));
        assert!(svg.contains("Total: <strong>24</strong>"));
        assert!(svg.contains("14:00–15:00 UTC: 0 failed sign-ins</title>"));
        assert!(svg.contains("15:00–16:00 UTC: 1 failed sign-in</title>"));
        assert!(!svg.contains("style="), "no inline style under the CSP");
    }

    #[test]
    fn axis_labels_stay_short() {
        assert_eq!(compact(9_999), "9999");
        assert_eq!(compact(33_456), "33k");
        assert_eq!(compact(1_234_567), "1.2M");
    }
}
