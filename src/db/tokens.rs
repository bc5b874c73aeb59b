//! Queries on `tokens`. Lookups go by digest through a unique index, so a
//! token check is one indexed read, and at most one conditional write per
//! touch interval.

use super::schema::{tokens, users};
use super::AnyConnection;
use crate::domain::principal::Principal;
use crate::domain::{Scopes, Timestamp, TokenDigest};
use diesel::prelude::*;
use std::net::IpAddr;

/// One device's token, as listed (never with its digest).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct Device {
    pub id: i64,
    pub client: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    /// Space-separated; empty for an unrestricted token.
    pub scopes: String,
    /// How the device signed in: `password`, `oidc:<provider>` or `import`.
    pub via: String,
    /// The client address of the login, then of the last recorded use.
    pub last_ip: Option<String>,
    /// The thumbprint of the public key the device's key is bound to (DPoP).
    pub dpop_jkt: Option<String>,
}

/// A token found by its digest, with what authentication needs of its user.
#[derive(Debug, Clone, Queryable)]
pub struct TokenOwner {
    pub token_id: i64,
    pub client: String,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub is_service: bool,
    pub two_factor: bool,
    pub email_verified: bool,
    /// The thumbprint the key is bound to (DPoP); `None` for a bearer key.
    pub dpop_jkt: Option<String>,
}

impl TokenOwner {
    /// Who the token's holder is, for a token accepted as valid until
    /// `expires_at` (its touch may have moved that on): the check and the
    /// cache's tests must build the same principal from a row.
    pub fn into_principal(self, digest: TokenDigest, expires_at: Timestamp) -> Principal {
        Principal {
            token_id: self.token_id,
            digest,
            client: self.client,
            user_id: self.user_id,
            username: self.username,
            email: self.email,
            is_admin: self.is_admin,
            is_service: self.is_service,
            two_factor: self.two_factor,
            email_verified: self.email_verified,
            scopes: Scopes::from_stored(&self.scopes),
            created_at: Timestamp(self.created_at),
            expires_at,
            dpop_jkt: self.dpop_jkt,
        }
    }
}

/// The columns of a [`TokenOwner`], in its order: the token check's read and
/// the read of a rotated key's device both select them.
macro_rules! token_owner_columns {
    () => {
        (
            tokens::id,
            tokens::client,
            tokens::scopes,
            tokens::created_at,
            tokens::last_used_at,
            tokens::expires_at,
            users::id,
            users::username,
            users::email,
            users::is_active,
            users::is_admin,
            users::is_service,
            users::two_factor,
            users::email_verified,
            tokens::dpop_jkt,
        )
    };
}
pub(super) use token_owner_columns;

/// The token check's read of one digest, before a connection type is
/// chosen: [`by_digest`] runs it, and a test asks SQLite how
/// (`lookup_batch`'s `the_check_reads_the_index_that_holds_the_whole_key`).
macro_rules! check_read {
    ($digest:expr) => {
        tokens::table
            .inner_join(users::table)
            .filter(tokens::digest.eq($digest))
            .select(token_owner_columns!())
    };
}

/// The token check's one read. It runs on the backend's own connection
/// type: through `AnyConnection` diesel builds the SQL text anew on every
/// call, while a concrete connection reuses its prepared statement, which
/// is worth it on the path every authenticated request takes. On SQLite it
/// reads the key's columns from the `tokens_check` index alone, without
/// the table.
pub fn by_digest(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<Option<TokenOwner>> {
    match conn {
        AnyConnection::Sqlite(sqlite) => check_read!(digest).first::<TokenOwner>(sqlite).optional(),
        AnyConnection::Postgresql(postgres) => {
            check_read!(digest).first::<TokenOwner>(postgres).optional()
        }
    }
}

/// Many token checks' reads in one statement (`digest = ANY($1)` on
/// PostgreSQL): each found token with its digest, in no order; a digest
/// that is no current key is absent. On the backend's own connection type,
/// for [`by_digest`]'s reason.
pub fn by_digests(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
) -> QueryResult<Vec<(Vec<u8>, TokenOwner)>> {
    macro_rules! lookup {
        ($conn:expr) => {
            tokens::table
                .inner_join(users::table)
                .filter(tokens::digest.eq_any(digests))
                .select((tokens::digest, token_owner_columns!()))
                .load::<(Vec<u8>, TokenOwner)>($conn)
        };
    }
    match conn {
        AnyConnection::Sqlite(sqlite) => lookup!(sqlite),
        AnyConnection::Postgresql(postgres) => lookup!(postgres),
    }
}

/// Records a use (and the address it came from, when known), unless
/// another request already did within the interval (`touched_before`),
/// which keeps concurrent requests and instances from writing the same
/// token twice.
pub fn touch(conn: &mut AnyConnection, row: &TouchRow) -> QueryResult<usize> {
    let due = tokens::table
        .filter(tokens::id.eq(row.token_id))
        .filter(tokens::last_used_at.le(row.touched_before))
        .filter(tokens::expires_at.gt(row.used_at));
    let used = (
        tokens::last_used_at.eq(row.used_at),
        tokens::expires_at.eq(row.expires_at),
    );
    match row.ip {
        Some(ip) => diesel::update(due)
            .set((used, tokens::last_ip.eq(ip.to_canonical().to_string())))
            .execute(conn),
        None => diesel::update(due).set(used).execute(conn),
    }
}

/// One token's due touch.
#[derive(Debug, Clone, Copy)]
pub struct TouchRow {
    pub token_id: i64,
    pub used_at: i64,
    pub expires_at: i64,
    pub touched_before: i64,
    /// Where the use came from, when known.
    pub ip: Option<IpAddr>,
}

/// Writes many touches in one statement, each under [`touch`]'s rules (and
/// never moving an expiry back, which a later touch by another instance
/// may have set). On SQLite, which never batches, one [`touch`] each.
pub fn touch_batch(conn: &mut AnyConnection, rows: &[TouchRow]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    if let AnyConnection::Sqlite(_) = conn {
        let mut written = 0;
        for row in rows {
            written += touch(conn, row)?;
        }
        return Ok(written);
    }
    // Whole numbers and printed IP addresses (digits, hex letters, `.` and
    // `:`) only, so the literals cannot be anything else.
    let values: Vec<String> = rows
        .iter()
        .map(|row| {
            let ip = row.ip.map_or_else(
                || "NULL::text".to_owned(),
                |ip| format!("'{}'::text", ip.to_canonical()),
            );
            format!(
                "({}::bigint, {}::bigint, {}::bigint, {}::bigint, {ip})",
                row.token_id, row.used_at, row.expires_at, row.touched_before
            )
        })
        .collect();
    diesel::sql_query(format!(
        "UPDATE tokens AS t SET last_used_at = v.used_at, expires_at = v.expires_at, \
         last_ip = COALESCE(v.ip, t.last_ip) \
         FROM (VALUES {}) AS v(id, used_at, expires_at, touched_before, ip) \
         WHERE t.id = v.id AND t.last_used_at <= v.touched_before \
         AND t.expires_at > v.used_at AND t.expires_at < v.expires_at",
        values.join(", ")
    ))
    .execute(conn)
}

/// The user's live devices, most recently used first.
pub fn live_for_user(conn: &mut AnyConnection, user_id: i64, now: i64) -> QueryResult<Vec<Device>> {
    tokens::table
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::expires_at.gt(now))
        .order((tokens::last_used_at.desc(), tokens::id.desc()))
        .select(Device::as_select())
        .load(conn)
}

/// The row of the user's client, and when its token expires.
pub fn id_for_client(
    conn: &mut AnyConnection,
    user_id: i64,
    client: &str,
) -> QueryResult<Option<(i64, i64, Vec<u8>)>> {
    tokens::table
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::client.eq(client))
        .select((tokens::id, tokens::expires_at, tokens::digest))
        .first(conn)
        .optional()
}

pub fn count_live(conn: &mut AnyConnection, user_id: i64, now: i64) -> QueryResult<i64> {
    tokens::table
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::expires_at.gt(now))
        .count()
        .get_result(conn)
}

/// How many live devices each of `user_ids` holds, in one grouped query
/// (a page of users, not one query per row); a user without any is absent.
pub fn count_live_by_user(
    conn: &mut AnyConnection,
    user_ids: &[i64],
    now: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    tokens::table
        .filter(tokens::user_id.eq_any(user_ids))
        .filter(tokens::expires_at.gt(now))
        .group_by(tokens::user_id)
        .select((tokens::user_id, diesel::dsl::count_star()))
        .load(conn)
}

/// A token row as login writes it; a re-login on the client overwrites
/// every column of its row, the user agent too (with `NULL` when none).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = tokens, treat_none_as_null = true)]
pub struct NewToken<'a> {
    pub user_id: i64,
    pub client: &'a str,
    pub digest: &'a [u8],
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<&'a str>,
    pub scopes: &'a str,
    pub via: &'a str,
    pub last_ip: Option<&'a str>,
    /// A re-login without a proof unbinds the client's new key.
    pub dpop_jkt: Option<&'a str>,
}

pub fn insert(conn: &mut AnyConnection, new: &NewToken<'_>) -> QueryResult<usize> {
    diesel::insert_into(tokens::table).values(new).execute(conn)
}

/// Gives an existing row a new key and a fresh life: the old key stops working.
pub fn replace(conn: &mut AnyConnection, token_id: i64, new: &NewToken<'_>) -> QueryResult<usize> {
    diesel::update(tokens::table.find(token_id))
        .set(new)
        .execute(conn)
}

pub fn digest_exists(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        tokens::table.filter(tokens::digest.eq(digest)),
    ))
    .get_result(conn)
}

/// A revoked token: whose, and which client (for its `revoked` event).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct RevokedToken {
    pub user_id: i64,
    pub client: String,
    /// Its key's digest, whose MAC is the device's `sid` (never shown).
    pub digest: Vec<u8>,
}

/// Deletes the tokens `$which` selects and returns them, on the backend's
/// own connection type (diesel's multi-backend connection has no
/// `RETURNING`; both backends do).
macro_rules! delete_returning {
    ($conn:expr, $which:expr) => {
        match $conn {
            AnyConnection::Sqlite(conn) => diesel::delete(tokens::table.filter($which))
                .returning((tokens::user_id, tokens::client, tokens::digest))
                .load::<RevokedToken>(conn),
            AnyConnection::Postgresql(conn) => diesel::delete(tokens::table.filter($which))
                .returning((tokens::user_id, tokens::client, tokens::digest))
                .load::<RevokedToken>(conn),
        }
    };
}

pub fn delete_by_digest(conn: &mut AnyConnection, digest: &[u8]) -> QueryResult<Vec<RevokedToken>> {
    delete_returning!(conn, tokens::digest.eq(digest))
}

/// Every token whose digest is among `digests`, in one statement (the
/// caller bounds how many).
pub fn delete_by_digests(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
) -> QueryResult<Vec<RevokedToken>> {
    delete_returning!(conn, tokens::digest.eq_any(digests))
}

/// A live token among reported digests, with what its owner's mail names.
#[derive(Debug, Queryable)]
pub struct Reported {
    pub digest: Vec<u8>,
    pub client: String,
    pub last_used_at: i64,
    pub email: String,
}

/// The columns of a [`Reported`], in its order, with `$digest` the reported
/// digest's column: the reads of live current keys and of live retired
/// keys both select them, and a row is read by position.
macro_rules! reported_columns {
    ($digest:expr) => {
        ($digest, tokens::client, tokens::last_used_at, users::email)
    };
}
pub(super) use reported_columns;

/// The live tokens among `digests`, with their owners' addresses, in one query.
pub fn live_among(
    conn: &mut AnyConnection,
    digests: &[Vec<u8>],
    now: i64,
) -> QueryResult<Vec<Reported>> {
    tokens::table
        .inner_join(users::table)
        .filter(tokens::digest.eq_any(digests))
        .filter(tokens::expires_at.gt(now))
        .select(reported_columns!(tokens::digest))
        .load(conn)
}

pub fn delete_client(
    conn: &mut AnyConnection,
    user_id: i64,
    client: &str,
) -> QueryResult<Vec<RevokedToken>> {
    delete_returning!(
        conn,
        tokens::user_id.eq(user_id).and(tokens::client.eq(client))
    )
}

/// Every token of the user: the one way a user's tokens are all revoked.
pub fn delete_all_for_user(
    conn: &mut AnyConnection,
    user_id: i64,
) -> QueryResult<Vec<RevokedToken>> {
    delete_returning!(conn, tokens::user_id.eq(user_id))
}

pub fn delete_others(
    conn: &mut AnyConnection,
    user_id: i64,
    keep_token_id: i64,
) -> QueryResult<Vec<RevokedToken>> {
    delete_returning!(
        conn,
        tokens::user_id
            .eq(user_id)
            .and(tokens::id.ne(keep_token_id))
    )
}

/// The sweeps' batches, for tables swept by age: the keys of up to `$limit`
/// rows that `$due` selects (in key order when asked), then `Some` filter
/// for deleting them, or `None` when none is due. The filter checks `$due`
/// again, so a row changed since the select (a token re-issued, a session
/// used) keeps its place. Two statements rather than one `DELETE` with a
/// limit, which SQLite does not have; small batches keep each write lock
/// short. Evaluates to a `QueryResult`. It stands here beside the tokens'
/// sweep, and serves every table swept by age.
macro_rules! due_batch {
    ($conn:expr, $table:ident :: $key:ident as $key_type:ty, $due:expr, $limit:expr $(, order by $order:expr)?) => {
        $table::table
            .filter($due)
            $(.order($order))?
            .select($table::$key)
            .limit($limit)
            .load::<$key_type>($conn)
            .map(|batch| {
                if batch.is_empty() {
                    None
                } else {
                    Some($table::$key.eq_any(batch).and($due))
                }
            })
    };
}
pub(super) use due_batch;

/// Deletes the rows [`due_batch`] selects (same arguments) and evaluates
/// to how many went, 0 when none was due: the whole sweep step of every
/// table swept by age whose deleted rows need nothing more (the tokens'
/// own sweep reads back what it deleted, for their events).
macro_rules! delete_due_batch {
    ($conn:expr, $table:ident :: $key:ident as $key_type:ty, $due:expr, $limit:expr $(, order by $order:expr)?) => {
        $crate::db::tokens::due_batch!($conn, $table::$key as $key_type, $due, $limit $(, order by $order)?)
            .and_then(|batch| match batch {
                Some(batch) => diesel::delete($table::table.filter(batch)).execute($conn),
                None => Ok(0),
            })
    };
}
pub(super) use delete_due_batch;

/// Deletes up to `limit` tokens that expired at or before `cutoff`.
pub fn delete_expired_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> QueryResult<Vec<RevokedToken>> {
    let Some(batch) = due_batch!(
        conn,
        tokens::id as i64,
        tokens::expires_at.le(cutoff),
        limit
    )?
    else {
        return Ok(Vec::new());
    };
    delete_returning!(conn, batch)
}

/// The clients with the most live devices (revoked ones are deleted), and
/// how many each has, at most `limit`, most first.
pub fn count_live_by_client(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> QueryResult<Vec<(String, i64)>> {
    tokens::table
        .filter(tokens::expires_at.gt(now))
        .group_by(tokens::client)
        .select((tokens::client, diesel::dsl::count_star()))
        .order((diesel::dsl::count_star().desc(), tokens::client.asc()))
        .limit(limit)
        .load(conn)
}

/// Tokens of all users that have not expired by `now`.
pub fn count_all_live(conn: &mut AnyConnection, now: i64) -> QueryResult<i64> {
    tokens::table
        .filter(tokens::expires_at.gt(now))
        .count()
        .get_result(conn)
}

/// The digest of the (user, client) pair's current key: what an access
/// token's `sid` is checked against.
pub fn digest_for_client(
    conn: &mut AnyConnection,
    user_id: i64,
    client: &str,
) -> QueryResult<Option<Vec<u8>>> {
    tokens::table
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::client.eq(client))
        .select(tokens::digest)
        .first(conn)
        .optional()
}

/// The SQL of the token check's read on SQLite, without its binds (a
/// digest, then the limit 1): for a test to ask SQLite how it runs it.
#[cfg(test)]
pub fn check_read_sqlite_sql() -> String {
    let read = check_read!(&[0_u8; 32][..]).limit(1);
    let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&read).to_string();
    sql.split(" -- binds").next().unwrap_or_default().to_owned()
}
