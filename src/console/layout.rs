//! What every console page shares: the page frame (header, navigation,
//! flash message), times written "3 min ago" with the exact time on hover,
//! long values shortened with the whole value on hover, the pager, and the
//! confirmation step that every change goes through.

use crate::domain::Timestamp;
use crate::http::session::{SignedIn, CSRF_FIELD};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

/// The stylesheet, one file per page family so each can be read alone.
pub const STYLESHEET: &str = concat!(
    include_str!("css/base.css"),
    include_str!("css/events.css"),
    include_str!("css/dashboard.css"),
);

pub fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// Who is signed in, for the page header.
pub struct Chrome<'a> {
    pub username: &'a str,
    pub csrf: &'a str,
}

impl<'a> Chrome<'a> {
    pub fn of(admin: &'a SignedIn, csrf: &'a str) -> Self {
        Chrome {
            username: &admin.username,
            csrf,
        }
    }
}

pub fn layout(
    title: &str,
    chrome: Option<&Chrome<'_>>,
    flash: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(chrome) = chrome {
                    // For scripts that call the admin API with this session.
                    meta name="csrf-token" content=(chrome.csrf);
                }
                title { (title) " · multitoken console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                header {
                    a.brand href="/console/" { "multitoken console" }
                    @if let Some(chrome) = chrome {
                        nav aria-label="Console" {
                            a href="/console/" { "Dashboard" }
                            a href="/console/users" { "Users" }
                            a href="/console/events" { "Events" }
                            span.who { "Signed in as " strong { (chrome.username) } }
                            form.inline method="post" action="/console/logout" {
                                input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                                button type="submit" id="sign-out" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    @if let Some(flash) = flash {
                        p.flash role="status" { (flash) }
                    }
                    (body)
                }
            }
        }
    }
}

/// `2026-11-27 08:10:13 UTC`.
pub fn exact(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => text,
    }
}

/// How long ago (or, for a time to come, how far ahead) `at` is from `now`,
/// in the largest whole unit: "just now", "3 min ago", "in 2 days".
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let seconds = (now.millis() - at.millis()) / 1000;
    let (ahead, seconds) = (seconds < 0, seconds.unsigned_abs());
    let amount = match seconds {
        0..=44 => return "just now".to_owned(),
        45..=3_599 => format!("{} min", seconds.div_ceil(60).min(59)),
        3_600..=86_399 => plural(seconds / 3_600, "hour"),
        86_400..=2_591_999 => plural(seconds / 86_400, "day"),
        2_592_000..=31_535_999 => plural(seconds / 2_592_000, "month"),
        _ => plural(seconds / 31_536_000, "year"),
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

fn plural(count: u64, unit: &str) -> String {
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// A time as people read it ("3 min ago"), with the exact time on hover and
/// for machines.
pub fn when(at: Timestamp, now: Timestamp) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(exact(at)) { (relative(at, now)) }
    }
}

/// `None` as a dash, else [`when`].
pub fn when_or(at: Option<Timestamp>, now: Timestamp, otherwise: &str) -> Markup {
    match at {
        Some(at) => when(at, now),
        None => html! { (otherwise) },
    }
}

/// A value that may be long (a user agent): cut by the stylesheet to the
/// width of its box, the whole value on hover.
pub fn shortened(text: Option<&str>) -> Markup {
    match text {
        Some(text) => html! { span.short title=(text) { (text) } },
        None => html! { "—" },
    }
}

/// The fields of a sign-in form: username (kept as typed), password and
/// two-factor code; the console's sign-in and the `/device` page use them.
pub fn credential_fields(username: &str) -> Markup {
    html! {
        label for="username" { "Username" }
        input type="text" id="username" name="username" value=(username)
            autocomplete="username" required autofocus;
        label for="password" { "Password" }
        input type="password" id="password" name="password"
            autocomplete="current-password" required;
        label for="otp" { "Two-factor code" }
        input type="text" id="otp" name="otp" inputmode="numeric"
            autocomplete="one-time-code" aria-describedby="otp-hint";
        p.hint id="otp-hint" {
            "The code from your authenticator app, or a recovery code; "
            "leave it empty if you have no two-factor authentication."
        }
    }
}

/// A table's head: one column header a name.
pub fn column_heads(names: &[&str]) -> Markup {
    html! {
        thead {
            tr {
                @for name in names {
                    th scope="col" { (name) }
                }
            }
        }
    }
}

/// Previous and next links for a paged list; `link(n)` is page `n`'s URL.
pub fn pager(
    number: i64,
    has_previous: bool,
    has_next: bool,
    link: impl Fn(i64) -> String,
) -> Markup {
    html! {
        nav.pages aria-label="Pages" {
            @if has_previous { a rel="prev" href=(link(number - 1)) { "← Previous" } }
            @if has_next { a rel="next" href=(link(number + 1)) { "Next →" } }
        }
    }
}

/// The second step of every change: what will happen, in words, and one
/// form that does it, whose button says `Confirm …`. `fields` are the
/// hidden fields the action needs besides the CSRF token.
pub struct Confirmation<'a> {
    pub title: &'a str,
    pub explanation: &'a str,
    pub action: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
    pub button: &'a str,
    pub danger: bool,
    pub back: &'a str,
}

pub fn confirmation(chrome: &Chrome<'_>, confirm: &Confirmation<'_>) -> Markup {
    layout(
        confirm.title,
        Some(chrome),
        None,
        html! {
            h1 { (confirm.title) }
            p.explanation { (confirm.explanation) }
            form.confirm method="post" action=(confirm.action) {
                input type="hidden" name=(CSRF_FIELD) value=(chrome.csrf);
                @for (name, value) in confirm.fields {
                    input type="hidden" name=(name) value=(value);
                }
                button.danger[confirm.danger] type="submit" id="confirm" { (confirm.button) }
                " "
                a.cancel href=(confirm.back) { "Cancel" }
            }
        },
    )
}

/// A page shown without the console's chrome (to whoever is not signed
/// in, or whose session cannot be trusted): no navigation, no flash, and
/// its heading is its title, so the tab and the page never disagree.
pub fn public_page(title: &str, body: Markup) -> Markup {
    layout(
        title,
        None,
        None,
        html! {
            h1 { (title) }
            (body)
        },
    )
}

/// Why the form below it was refused, when it was: every form that is
/// shown again after a refusal says so in the same alert, which the
/// browser tests and screen readers find by its id and role.
pub fn refusal_alert(refusal: Option<&str>) -> Markup {
    html! {
        @if let Some(refusal) = refusal {
            p.error role="alert" id="error" { (refusal) }
        }
    }
}

pub fn error_page(title: &str, message: &str) -> Markup {
    public_page(
        title,
        html! {
            p.error role="alert" { (message) }
            p { a href="/console/" { "Back to the console" } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        let now = Timestamp(1_000_000_000_000);
        let ago = |millis: i64| relative(Timestamp(now.millis() - millis), now);
        assert_eq!(ago(10_000), "just now");
        assert_eq!(ago(3 * MINUTE), "3 min ago");
        assert_eq!(ago(60 * MINUTE), "1 hour ago");
        assert_eq!(ago(25 * 60 * MINUTE), "1 day ago");
        assert_eq!(ago(3 * 24 * 60 * MINUTE), "3 days ago");
        assert_eq!(ago(-2 * 24 * 60 * MINUTE), "in 2 days");
        assert_eq!(ago(400 * 24 * 60 * MINUTE), "1 year ago");
    }

    #[test]
    fn exact_times_are_utc_to_the_second() {
        assert_eq!(exact(Timestamp(0)), "1970-01-01 00:00:00 UTC");
    }
}
