//! Security events: recorded by the use cases in the transaction of the
//! change they record (a failed or throttled sign-in, which changes
//! nothing, on its own), listed newest first to their user and to admins,
//! and swept after `EVENTS_RETENTION`.

pub use crate::db::events::Filter;
use crate::db::events::{self as queries, What};
use crate::db::tokens::RevokedToken;
use crate::db::users;
use crate::db::AnyConnection;
use crate::domain::event::{EventKind, EventSource, RevokedBy};
use crate::domain::page::{Page, PageRequest};
use crate::domain::username::lookup_key;
use crate::domain::Timestamp;
use crate::service::shared::webhooks;
use crate::service::{Error, Services};
use serde::Serialize;
use std::collections::HashMap;

/// Appends one event, with the device's `sid` for the kinds that carry
/// one, and queues its webhooks (call it in the change's transaction).
pub fn record(
    conn: &mut AnyConnection,
    source: &EventSource,
    what: What<'_>,
    at: Timestamp,
) -> Result<(), Error> {
    let sid = webhooks::sid_of(what.kind, what.device);
    let event = queries::record_returning(conn, source, what, sid.as_deref(), at)?;
    let (id, at) = (event.id, Timestamp(event.at));
    // The event's view is built only when some receiver is sent its kind.
    webhooks::queue(conn, what.kind, id, at, || EventView::from(event))
}

/// Records each device of `revoked` as revoked `how`; returns how many.
pub fn revoked(
    conn: &mut AnyConnection,
    source: &EventSource,
    how: RevokedBy,
    revoked: &[RevokedToken],
    at: Timestamp,
) -> Result<usize, Error> {
    // One statement each: diesel's batch insert does not run on both
    // backends through one connection type, and a revocation ends few devices.
    for token in revoked {
        let what = What::to_user(EventKind::Revoked, token.user_id)
            .on_client(&token.client)
            .detail(how.as_str())
            .of_device(&token.digest);
        record(conn, source, what, at)?;
    }
    Ok(revoked.len())
}

/// Whether the user signed in on `client` before (within the retention).
pub fn signed_in_before(
    conn: &mut AnyConnection,
    user_id: i64,
    client: &str,
) -> Result<bool, Error> {
    Ok(queries::signed_in_before(conn, user_id, client)?)
}

/// What a sign-in that changed nothing (refused, or throttled) leaves: the
/// event only, in a write of its own. A failure to write it is logged, not
/// answered: the sign-in's own answer stands.
pub async fn record_attempt(
    services: &Services,
    source: &EventSource,
    kind: EventKind,
    user_id: Option<i64>,
    detail: &'static str,
) {
    let source = source.clone();
    let written = services
        .db(move |conn| {
            let what = What {
                kind,
                user_id,
                client: None,
                detail: Some(detail),
                device: None,
            };
            record(conn, &source, what, Timestamp::now())
        })
        .await;
    if let Err(error) = written {
        log::warn!("a {} event was not recorded: {error}", kind.as_str());
    }
}

/// An event as listed. Never a key, a password, a code or a digest: the
/// record has no room for one.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `login`, `login_failed`, `throttled`, `logout`, `revoked`,
    /// `password_changed`, `password_reset`, `password_reset_mailed`, `email_verified`,
    /// `two_factor_enabled`, `two_factor_disabled`, `user_created`,
    /// `user_updated` or `imported`.
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<i64>,
    pub client: Option<String>,
    /// `self`, `admin:<id>`, `cli` or `system`.
    pub actor: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How: for `revoked`, the path that revoked the device.
    pub detail: Option<String>,
    /// The device's `sid`, as in its access JWTs, for `login`, `logout`,
    /// `revoked` and `rotated`; else `null`.
    pub sid: Option<String>,
}

impl From<queries::Event> for EventView {
    fn from(event: queries::Event) -> Self {
        EventView {
            id: event.id,
            at: Timestamp(event.at),
            kind: event.kind,
            user_id: event.user_id,
            client: event.client,
            actor: event.actor,
            ip: event.ip,
            user_agent: event.user_agent,
            detail: event.detail,
            sid: event.sid,
        }
    }
}

/// One page of events.
pub type EventPage = Page<EventView>;

/// Events matching `filter`, newest first, a page at a time (the admin
/// listing's page size and rules).
pub fn list(
    conn: &mut AnyConnection,
    filter: Filter,
    page: PageRequest,
) -> Result<EventPage, Error> {
    let count = queries::count(conn, &filter)?;
    let rows = page.read(count, |offset, limit| {
        Ok::<_, Error>(queries::page(conn, &filter, offset, limit)?)
    })?;
    Ok(rows.map(EventView::from))
}

/// The newest `limit` events matching `filter`, newest first.
pub fn newest(
    conn: &mut AnyConnection,
    filter: Filter,
    limit: i64,
) -> Result<Vec<EventView>, Error> {
    let rows = queries::page(conn, &filter, 0, limit)?;
    Ok(rows.into_iter().map(EventView::from).collect())
}

/// Up to `limit` events matching `filter` with an id below `before` (from
/// the newest if `None`), newest first: a whole listing read a chunk at a
/// time, each chunk as quick as the first.
pub fn before(
    conn: &mut AnyConnection,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EventView>, Error> {
    let rows = queries::before(conn, filter, before, limit)?;
    Ok(rows.into_iter().map(EventView::from).collect())
}

/// `filter` narrowed to the user named `username` (as sign-in finds them:
/// normalised, whatever the case) when one is given; `None` when no user
/// has that name, so that no event matches.
pub fn for_username(
    conn: &mut AnyConnection,
    filter: Filter,
    username: Option<&str>,
) -> Result<Option<Filter>, Error> {
    let Some(name) = username else {
        return Ok(Some(filter));
    };
    Ok(users::by_key(conn, &lookup_key(name))?.map(|user| Filter {
        user_id: Some(user.id),
        ..filter
    }))
}

/// The usernames of the users the `events` are about, by id (one query).
pub fn usernames_of(
    conn: &mut AnyConnection,
    events: &[EventView],
) -> Result<HashMap<i64, String>, Error> {
    let mut ids: Vec<i64> = events.iter().filter_map(|event| event.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(queries::usernames(conn, &ids)?.into_iter().collect())
}

/// Deletes up to `limit` events recorded at or before `cutoff` (the sweep).
pub fn delete_older_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> diesel::QueryResult<usize> {
    queries::delete_older_batch(conn, cutoff, limit)
}
