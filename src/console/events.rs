//! Everyone's security events: filtered by type, user, address and time
//! range (all that are given must hold), a page at a time; the same listing
//! as a CSV download is `events_csv`.
//!
//! The filters come from the query string, so a filtered listing is a link
//! to share; a value that cannot be a filter is a 400 page that says which
//! and why, with the form to correct it. An unknown username is no error: no
//! event matches it, as none matches an address never seen.

use super::error::ConsoleError;
use super::layout::{self, column_heads, layout, pager, shortened, when, Chrome};
use super::request::AdminPage;
use crate::domain::event::EventKind;
use crate::domain::page::{InvalidPage, PageRequest};
use crate::domain::Timestamp;
use crate::http::request::QueryParams;
use crate::service::shared::events::{self, EventPage, EventView, Filter};
use crate::service::Services;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use maud::{html, Markup};
use std::collections::HashMap;
use std::net::IpAddr;

/// The longest username there is (the username rules').
const MAX_USERNAME: usize = 150;

/// The longest value any other filter can hold and be valid (an IPv6
/// address with a zone is under 64 characters; a time with its fraction of
/// a second under 32).
const MAX_FILTER: usize = 64;

/// The filters as typed, kept to fill the form and the links again.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Typed {
    kind: String,
    user: String,
    ip: String,
    from: String,
    to: String,
}

/// The filters once read: which events, and a username still to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub(super) filter: Filter,
    pub(super) username: Option<String>,
}

impl Typed {
    fn read(query: &QueryParams) -> Self {
        let value = |name: &str| query.get(name).unwrap_or("").trim().to_owned();
        Typed {
            kind: value("type"),
            user: value("user"),
            ip: value("ip"),
            from: value("from"),
            to: value("to"),
        }
    }

    /// The filters given, as query parameters.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("type", &self.kind),
            ("user", &self.user),
            ("ip", &self.ip),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name, value.as_str()))
        .collect()
    }

    /// `path` with these filters (and `page`, if any) as its query.
    fn link(&self, path: &str, page: Option<i64>) -> String {
        let number = page.map(|n| n.to_string());
        let mut pairs = self.pairs();
        if let Some(number) = &number {
            pairs.push(("page", number));
        }
        if pairs.is_empty() {
            return path.to_owned();
        }
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        format!("{path}?{query}")
    }

    /// The filters, or what is wrong with the first that cannot be one.
    fn parse(&self) -> Result<Wanted, String> {
        for (label, value, max) in [
            ("Type", &self.kind, MAX_FILTER),
            ("User", &self.user, MAX_USERNAME),
            ("Address", &self.ip, MAX_FILTER),
            ("From", &self.from, MAX_FILTER),
            ("To", &self.to, MAX_FILTER),
        ] {
            if value.chars().count() > max {
                return Err(format!("{label}: too long (at most {max} characters)."));
            }
        }
        let kind = match self.kind.as_str() {
            "" => None,
            kind => Some(
                EventKind::parse(kind)
                    .ok_or_else(|| format!("Type: there is no event type \"{kind}\"."))?,
            ),
        };
        let ip = match self.ip.as_str() {
            "" => None,
            ip => Some(canonical_ip(ip).ok_or_else(|| {
                format!(
                    "Address: \"{ip}\" is not an IP address (such as 203.0.113.7 or 2001:db8::1)."
                )
            })?),
        };
        let time = |label: &str, text: &str| match text {
            "" => Ok(None),
            text => parse_utc(text).map(Some).ok_or_else(|| {
                format!(
                    "{label}: \"{text}\" is not a date and time written YYYY-MM-DDTHH:MM (UTC)."
                )
            }),
        };
        let from = time("From", &self.from)?;
        let to = time("To", &self.to)?;
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err("From is after To: no event could be in that range.".to_owned());
            }
        }
        Ok(Wanted {
            filter: Filter {
                user_id: None,
                kind,
                ip,
                from,
                to,
            },
            username: Some(self.user.clone()).filter(|user| !user.is_empty()),
        })
    }
}

/// An address as the events record it: IPv4-mapped IPv6 as IPv4.
fn canonical_ip(text: &str) -> Option<String> {
    let ip: IpAddr = text.parse().ok()?;
    Some(ip.to_canonical().to_string())
}

/// A `datetime-local` value (`2026-12-07T09:30`, seconds and a fraction
/// allowed), read as UTC.
fn parse_utc(text: &str) -> Option<Timestamp> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| Timestamp(time.and_utc().timestamp_millis()))
}

/// What a request asks for: the filters as typed and as read, the page.
pub(super) struct Asked {
    pub(super) typed: Typed,
    pub(super) wanted: Wanted,
    pub(super) page: Option<String>,
}

/// What a request asks for, or the page that says which filter cannot be
/// one (with the form to correct it), for a 400.
pub(super) fn asked(request: &HttpRequest, chrome: &Chrome<'_>) -> Result<Asked, Markup> {
    let Ok(query) = QueryParams::parse(request.query_string()) else {
        let message = "The filters could not be read: a value is not text.";
        return Err(refused(chrome, &Typed::default(), message));
    };
    let typed = Typed::read(&query);
    match typed.parse() {
        Ok(wanted) => Ok(Asked {
            typed,
            wanted,
            page: query.get("page").map(str::to_owned),
        }),
        Err(message) => Err(refused(chrome, &typed, &message)),
    }
}

/// The page that refuses the filters: `message`, then the form.
fn refused(chrome: &Chrome<'_>, typed: &Typed, message: &str) -> Markup {
    layout(
        "Events",
        Some(chrome),
        None,
        html! {
            h1 { "Events" }
            p.error #filter-error role="alert" { (message) }
            (filters_form(typed))
        },
    )
}

/// `GET /console/events?type=&user=&ip=&from=&to=&page=`.
pub async fn events_page(
    services: web::Data<Services>,
    signed_in: AdminPage,
    request: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let Asked {
        typed,
        wanted,
        page,
    } = match asked(&request, &signed_in.chrome()) {
        Ok(asked) => asked,
        Err(refusal) => return Ok(layout::html(StatusCode::BAD_REQUEST, refusal)),
    };
    let page = PageRequest::parse(page.as_deref()).map_err(|_| ConsoleError::NotFound)?;
    let (found, names) = services
        .db(move |conn| {
            let Some(filter) =
                events::for_username(conn, wanted.filter, wanted.username.as_deref())?
            else {
                // Nothing matches: page 1 exists, empty, and no other.
                let none = page.read(0, |_, _| Ok::<_, InvalidPage>(Vec::new()))?;
                return Ok((none, HashMap::new()));
            };
            let found = events::list(conn, filter, page)?;
            let names = events::usernames_of(conn, &found.items)?;
            Ok((found, names))
        })
        .await?;
    Ok(signed_in.render(|chrome, flash| events_markup(chrome, &typed, &found, &names, flash)))
}

fn filters_form(typed: &Typed) -> Markup {
    html! {
        form #filters.filters method="get" action="/console/events" {
            div.field {
                label for="type" { "Type" }
                select #type name="type" {
                    option value="" selected[typed.kind.is_empty()] { "Any" }
                    @for kind in EventKind::ALL {
                        option value=(kind.as_str()) selected[typed.kind == kind.as_str()] {
                            (kind.as_str())
                        }
                    }
                }
            }
            div.field {
                label for="user" { "User" }
                input #user type="text" name="user" value=(typed.user)
                    autocomplete="off" placeholder="username";
            }
            div.field {
                label for="ip" { "Address" }
                input #ip type="text" name="ip" value=(typed.ip)
                    autocomplete="off" placeholder="203.0.113.7";
            }
            div.field {
                label for="from" { "From (UTC)" }
                input #from type="datetime-local" name="from" value=(typed.from) step="1";
            }
            div.field {
                label for="to" { "To (UTC, before)" }
                input #to type="datetime-local" name="to" value=(typed.to) step="1";
            }
            div.field.submit {
                button #filter type="submit" { "Filter" }
            }
        }
    }
}

fn events_markup(
    chrome: &Chrome<'_>,
    typed: &Typed,
    page: &EventPage,
    names: &HashMap<i64, String>,
    flash: Option<&str>,
) -> Markup {
    let now = Timestamp::now();
    layout(
        "Events",
        Some(chrome),
        flash,
        html! {
            h1 { "Events" }
            (filters_form(typed))
            p.summary {
                span.count { (page.count) " event" @if page.count != 1 { "s" } }
                " "
                a #csv href=(typed.link("/console/events.csv", None)) download="events.csv" {
                    "Download as CSV"
                }
            }
            @if page.items.is_empty() {
                p.empty { "No event matches." }
            } @else {
                table.events {
                    (column_heads(&[
                        "At", "Event", "User", "Client", "By", "Address", "User agent", "How",
                    ]))
                    tbody {
                        @for event in &page.items {
                            (event_row(event, names, now))
                        }
                    }
                }
            }
            (pager(page.number, page.has_previous, page.has_next, |n| {
                typed.link("/console/events", Some(n))
            }))
        },
    )
}

fn event_row(event: &EventView, names: &HashMap<i64, String>, now: Timestamp) -> Markup {
    let or_dash = |text: &Option<String>| text.clone().unwrap_or_else(|| "—".to_owned());
    html! {
        tr data-type=(event.kind) {
            td data-label="At" { (when(event.at, now)) }
            td data-label="Event" { (event.kind) }
            td data-label="User" {
                @match (event.user_id, event.user_id.and_then(|id| names.get(&id))) {
                    (Some(id), Some(name)) => a href=(format!("/console/users/{id}")) { (name) },
                    // The record outlives the user.
                    (Some(id), None) => span.gone title="No longer a user" { "#" (id) },
                    (None, _) => "—",
                }
            }
            td data-label="Client" { (or_dash(&event.client)) }
            td data-label="By" { (event.actor) }
            td data-label="Address" {
                @match &event.ip {
                    Some(ip) => @for (n, part) in ip.split(':').enumerate() {
                        @if n > 0 { ":" wbr; }
                        (part)
                    },
                    None => "—",
                }
            }
            td.agent data-label="User agent" { (shortened(event.user_agent.as_deref())) }
            td data-label="How" { (or_dash(&event.detail)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(pairs: &[(&str, &str)]) -> Typed {
        let query = serde_urlencoded::to_string(pairs).unwrap();
        Typed::read(&QueryParams::parse(&query).unwrap())
    }

    #[test]
    fn datetime_local_values_are_read_as_utc_with_or_without_seconds() {
        assert_eq!(parse_utc("1970-01-01T00:01"), Some(Timestamp(60_000)));
        assert_eq!(parse_utc("1970-01-01T00:01:02"), Some(Timestamp(62_000)));
        assert_eq!(parse_utc("1970-01-01T00:01:02.5"), Some(Timestamp(62_500)));
        for bad in [
            "1970-01-01",
            "1970-01-01 00:01",
            "yesterday",
            "1970-13-01T00:00",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn filters_are_read_and_each_bad_one_is_named() {
        let wanted = typed(&[
            ("type", "login"),
            ("user", " Alice "),
            ("ip", "::ffff:198.51.100.7"),
            ("from", "1970-01-01T00:00"),
            ("to", "1970-01-01T00:01"),
        ])
        .parse()
        .unwrap();
        assert_eq!(wanted.filter.kind, Some(EventKind::Login));
        assert_eq!(wanted.filter.ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(wanted.filter.from, Some(Timestamp(0)));
        assert_eq!(wanted.filter.to, Some(Timestamp(60_000)));
        assert_eq!(wanted.username.as_deref(), Some("Alice"));
        assert_eq!(typed(&[]).parse().unwrap().filter, Filter::default());

        let long = "a".repeat(MAX_USERNAME + 1);
        for (pairs, start) in [
            (vec![("type", "nope")], "Type:"),
            (vec![("ip", "300.1.1.1")], "Address:"),
            (vec![("from", "today")], "From:"),
            (vec![("to", "1970-01-01")], "To:"),
            (vec![("user", long.as_str())], "User: too long"),
            (
                vec![("from", "1970-01-02T00:00"), ("to", "1970-01-01T00:00")],
                "From is after To",
            ),
        ] {
            let message = typed(&pairs).parse().unwrap_err();
            assert!(message.starts_with(start), "{pairs:?}: {message}");
        }
    }

    #[test]
    fn links_keep_the_filters_given_and_only_those() {
        let filters = typed(&[("type", "login"), ("ip", "::1"), ("user", "")]);
        assert_eq!(
            filters.link("/console/events", Some(2)),
            "/console/events?type=login&ip=%3A%3A1&page=2"
        );
        assert_eq!(
            typed(&[]).link("/console/events.csv", None),
            "/console/events.csv"
        );
    }
}
