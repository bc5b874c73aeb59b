//! Queries on `events`, the security record: appended to in the caller's
//! transaction, read newest first, swept by age.

use super::schema::{events, users};
use super::tokens::delete_due_batch;
use super::AnyConnection;
use crate::domain::event::{EventKind, EventSource};
use crate::domain::Timestamp;
use diesel::prelude::*;

/// One recorded event, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub client: Option<String>,
    pub actor: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    /// The device's `sid` (as in access JWTs), for the kinds about one device.
    pub sid: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEvent<'a> {
    at: i64,
    kind: &'static str,
    user_id: Option<i64>,
    client: Option<&'a str>,
    actor: String,
    ip: Option<String>,
    user_agent: Option<&'a str>,
    detail: Option<&'a str>,
    sid: Option<&'a str>,
}

/// What happened to whom, and how, for [`record`].
#[derive(Debug, Clone, Copy)]
pub struct What<'a> {
    pub kind: EventKind,
    pub user_id: Option<i64>,
    pub client: Option<&'a str>,
    pub detail: Option<&'a str>,
    /// The digest of the device's key, for the kinds that carry its `sid`.
    pub device: Option<&'a [u8]>,
}

impl<'a> What<'a> {
    /// `kind` happened to the user, with no client and no detail.
    pub fn to_user(kind: EventKind, user_id: i64) -> Self {
        What {
            kind,
            user_id: Some(user_id),
            client: None,
            detail: None,
            device: None,
        }
    }

    pub fn on_client(self, client: &'a str) -> Self {
        What {
            client: Some(client),
            ..self
        }
    }

    pub fn detail(self, detail: &'a str) -> Self {
        What {
            detail: Some(detail),
            ..self
        }
    }

    /// On the device whose key has the digest `digest`.
    pub fn of_device(self, digest: &'a [u8]) -> Self {
        What {
            device: Some(digest),
            ..self
        }
    }
}

fn new_event<'a>(
    source: &'a EventSource,
    what: What<'a>,
    sid: Option<&'a str>,
    at: Timestamp,
) -> NewEvent<'a> {
    NewEvent {
        at: at.millis(),
        kind: what.kind.as_str(),
        user_id: what.user_id,
        client: what.client,
        actor: source.actor.to_string(),
        ip: source.ip.map(|ip| ip.to_canonical().to_string()),
        user_agent: source.user_agent.as_deref(),
        detail: what.detail,
        sid,
    }
}

/// Appends one event, without a `sid`.
pub fn record(
    conn: &mut AnyConnection,
    source: &EventSource,
    what: What<'_>,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(events::table)
        .values(new_event(source, what, None, at))
        .execute(conn)?;
    Ok(())
}

/// Appends one event, with `sid` (computed by the caller from
/// `what.device`); returns it as stored.
pub fn record_returning(
    conn: &mut AnyConnection,
    source: &EventSource,
    what: What<'_>,
    sid: Option<&str>,
    at: Timestamp,
) -> QueryResult<Event> {
    let row = new_event(source, what, sid, at);
    // diesel's multi-backend connection has no `RETURNING`; both backends do.
    match conn {
        AnyConnection::Sqlite(conn) => diesel::insert_into(events::table)
            .values(row)
            .returning(Event::as_returning())
            .get_result(conn),
        AnyConnection::Postgresql(conn) => diesel::insert_into(events::table)
            .values(row)
            .returning(Event::as_returning())
            .get_result(conn),
    }
}

/// Which events a listing shows: every filter given must hold. Each one
/// alone has an index that also orders by id ((user_id, id), (kind, id),
/// (ip, id)); `from`/`to` use the index on `at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub user_id: Option<i64>,
    pub kind: Option<EventKind>,
    /// The address as recorded (canonical: an IPv4-mapped IPv6 address as IPv4).
    pub ip: Option<String>,
    /// Recorded at or after.
    pub from: Option<Timestamp>,
    /// Recorded before.
    pub to: Option<Timestamp>,
}

fn filtered(
    filter: &Filter,
) -> events::BoxedQuery<'static, <AnyConnection as diesel::Connection>::Backend> {
    let mut query = events::table.into_boxed();
    if let Some(user_id) = filter.user_id {
        query = query.filter(events::user_id.eq(user_id));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(events::kind.eq(kind.as_str()));
    }
    if let Some(ip) = &filter.ip {
        query = query.filter(events::ip.eq(ip.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(events::at.ge(from.millis()));
    }
    if let Some(to) = filter.to {
        query = query.filter(events::at.lt(to.millis()));
    }
    query
}

pub fn count(conn: &mut AnyConnection, filter: &Filter) -> QueryResult<i64> {
    filtered(filter).count().get_result(conn)
}

/// Up to `limit` events from `offset`, newest first.
pub fn page(
    conn: &mut AnyConnection,
    filter: &Filter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    filtered(filter)
        .order(events::id.desc())
        .offset(offset)
        .limit(limit)
        .select(Event::as_select())
        .load(conn)
}

/// Up to `limit` events with an id below `before` (all, if `None`), newest
/// first: a read by key, whose cost does not grow with how far it has gone.
pub fn before(
    conn: &mut AnyConnection,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let mut query = filtered(filter);
    if let Some(before) = before {
        query = query.filter(events::id.lt(before));
    }
    query
        .order(events::id.desc())
        .limit(limit)
        .select(Event::as_select())
        .load(conn)
}

/// The usernames of those of `ids` that are users (a user may be gone: the
/// record outlives them).
pub fn usernames(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::username))
        .load(conn)
}

/// Whether the user ever signed in on `client` (within the retention).
pub fn signed_in_before(conn: &mut AnyConnection, user_id: i64, client: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        events::table
            .filter(events::user_id.eq(user_id))
            .filter(events::kind.eq(EventKind::Login.as_str()))
            .filter(events::client.eq(client)),
    ))
    .get_result(conn)
}

/// Deletes up to `limit` events recorded at or before `cutoff`, oldest first.
pub fn delete_older_batch(conn: &mut AnyConnection, cutoff: i64, limit: i64) -> QueryResult<usize> {
    let due = events::at.le(cutoff);
    delete_due_batch!(conn, events::id as i64, due, limit, order by events::id)
}
