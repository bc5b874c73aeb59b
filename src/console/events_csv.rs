//! Everyone's security events as a CSV download, with the filters of the
//! events page.
//!
//! The download is streamed a chunk at a time, each chunk read by key
//! (`id < the last one sent`), so memory stays bounded however many events
//! match. Its cells are defused against formula injection: user agents and
//! client names are whatever a caller sent, and spreadsheets run a cell that
//! begins with `=`, `+`, `-` or `@`.

use super::error::ConsoleError;
use super::events::asked;
use super::layout;
use super::request::AdminPage;
use crate::service::shared::events::{self, EventView, Filter};
use crate::service::{Error, Services};
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream::{self, StreamExt};
use std::borrow::Cow;
use std::collections::HashMap;

/// The download's columns, in order.
pub const CSV_COLUMNS: [&str; 11] = [
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
    "sid",
];

/// Events read (and held) at a time while the download is written.
const CSV_CHUNK: i64 = 500;

/// `GET /console/events.csv?type=&user=&ip=&from=&to=`: every event the
/// filters match, newest first, streamed.
pub async fn events_csv(
    services: web::Data<Services>,
    signed_in: AdminPage,
    request: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let wanted = match asked(&request, &signed_in.chrome()) {
        Ok(asked) => asked.wanted,
        Err(refusal) => return Ok(layout::html(StatusCode::BAD_REQUEST, refusal)),
    };
    // The first chunk is read before answering, so that a database that
    // fails at once gets an error page and not a cut-off file.
    let (filter, first, names) = services
        .db(move |conn| {
            let Some(filter) =
                events::for_username(conn, wanted.filter, wanted.username.as_deref())?
            else {
                return Ok((None, Vec::new(), HashMap::new()));
            };
            let first = events::before(conn, &filter, None, CSV_CHUNK)?;
            let names = events::usernames_of(conn, &first)?;
            Ok((Some(filter), first, names))
        })
        .await?;
    let head = csv_bytes(&first, &names, true)?;
    let rest = Download {
        services: services.clone(),
        next: filter.and_then(|filter| last_of_full(&first).map(|after| (filter, after))),
    };
    let body = stream::once(async move { Ok::<_, ConsoleError>(head) })
        .chain(stream::unfold(rest, next_chunk));
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((CONTENT_DISPOSITION, "attachment; filename=\"events.csv\""))
        .streaming(body))
}

/// Where the download stands: while a chunk may follow, the filter and the
/// id of the last event written. Nothing else decides that the download
/// goes on, so that no state can stream events the filters did not ask for.
struct Download {
    services: web::Data<Services>,
    next: Option<(Filter, i64)>,
}

/// The id of a chunk's last event if the chunk was full (more may follow).
fn last_of_full(chunk: &[EventView]) -> Option<i64> {
    let full = i64::try_from(chunk.len()).is_ok_and(|len| len == CSV_CHUNK);
    chunk.last().map(|event| event.id).filter(|_| full)
}

async fn next_chunk(state: Download) -> Option<(Result<Bytes, ConsoleError>, Download)> {
    let (filter, before) = state.next?;
    let services = state.services;
    let wanted = filter.clone();
    let read = services
        .db(move |conn| {
            let chunk = events::before(conn, &wanted, Some(before), CSV_CHUNK)?;
            let names = events::usernames_of(conn, &chunk)?;
            Ok((chunk, names))
        })
        .await;
    let written = read
        .map_err(ConsoleError::from)
        .and_then(|(chunk, names)| Ok((csv_bytes(&chunk, &names, false)?, last_of_full(&chunk))));
    match written {
        Ok((bytes, after)) => {
            let next = after.map(|after| (filter, after));
            Some((Ok(bytes), Download { services, next }))
        }
        Err(error) => {
            // The answer has begun: failing the stream cuts the connection,
            // so the client sees a failed download, not a short file.
            log::warn!("the events download stopped: {error}");
            Some((
                Err(error),
                Download {
                    services,
                    next: None,
                },
            ))
        }
    }
}

/// Rows of the download (with the header row first if `header`).
fn csv_bytes(
    chunk: &[EventView],
    names: &HashMap<i64, String>,
    header: bool,
) -> Result<Bytes, ConsoleError> {
    let failed = |error: csv::Error| ConsoleError::Service(Error::internal(error));
    let mut writer = csv::Writer::from_writer(Vec::new());
    if header {
        writer.write_record(CSV_COLUMNS).map_err(failed)?;
    }
    for event in chunk {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let username = event
            .user_id
            .and_then(|id| names.get(&id))
            .cloned()
            .unwrap_or_default();
        let cells = [
            event.id.to_string(),
            event.at.to_rfc3339(),
            event.kind.clone(),
            event.user_id.map(|id| id.to_string()).unwrap_or_default(),
            username,
            text(&event.client),
            event.actor.clone(),
            text(&event.ip),
            text(&event.user_agent),
            text(&event.detail),
            text(&event.sid),
        ];
        writer
            .write_record(cells.iter().map(|cell| defused(cell).into_owned()))
            .map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| ConsoleError::Service(Error::internal(error)))?;
    Ok(Bytes::from(bytes))
}

/// A cell that a spreadsheet would run as a formula, made text by a leading
/// `'` (OWASP's advice against CSV injection).
fn defused(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_made_text() {
        for cell in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defused(cell), format!("'{cell}"));
        }
        for cell in ["curl/8.0", "", "1+1", "2026-12-07T00:00:00.000Z"] {
            assert_eq!(defused(cell), cell);
        }
    }

    #[test]
    fn only_a_full_chunk_is_followed_by_another() {
        let event = |id: i64| EventView {
            id,
            at: Timestamp(0),
            kind: "login".to_owned(),
            user_id: None,
            client: None,
            actor: "self".to_owned(),
            ip: None,
            user_agent: None,
            detail: None,
            sid: None,
        };
        let full: Vec<EventView> = (0..CSV_CHUNK).rev().map(event).collect();
        assert_eq!(last_of_full(&full), Some(0));
        assert_eq!(last_of_full(&full[1..]), None);
        assert_eq!(last_of_full(&[]), None);
    }
}
