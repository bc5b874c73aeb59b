//! What the PostgreSQL triggers (migration `token_notifications`) announce
//! when a write ends or changes a token or its user, and the dedicated
//! connection that hears it. diesel cannot `LISTEN`, so that connection is
//! tokio-postgres's, opened from the same URL.

use super::AnyConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// What a write announced: cached checks of this digest, or of any token of
/// this user, are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    Token([u8; 32]),
    User(i64),
}

impl Eviction {
    /// Reads one payload as the triggers write it: `t<hex digest>` or `u<id>`.
    pub fn parse(payload: &str) -> Option<Self> {
        if let Some(hex) = payload.strip_prefix('t') {
            let bytes = hex.as_bytes();
            if bytes.len() != 64 {
                return None;
            }
            let mut digest = [0u8; 32];
            for (byte, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
                let text = std::str::from_utf8(pair).ok()?;
                *byte = u8::from_str_radix(text, 16).ok()?;
            }
            return Some(Eviction::Token(digest));
        }
        payload
            .strip_prefix('u')
            .and_then(|id| id.parse().ok())
            .map(Eviction::User)
    }
}

/// Every payload of a space-separated list; anything unreadable is `None`
/// (the caller then drops everything, to be safe).
pub fn parse_all(payloads: &str) -> Option<Vec<Eviction>> {
    payloads.split_whitespace().map(Eviction::parse).collect()
}

#[derive(QueryableByName)]
struct Evicted {
    #[diesel(sql_type = Nullable<Text>)]
    evicted: Option<String>,
}

/// What this session's committed writes announced since the last call, and
/// forgets it (the pool's PostgreSQL sessions collect it: see the migration).
pub fn take_evicted(conn: &mut AnyConnection) -> diesel::QueryResult<String> {
    let found: Evicted =
        diesel::sql_query("SELECT current_setting('multitoken.evicted', true) AS evicted")
            .get_result(conn)?;
    let evicted = found.evicted.unwrap_or_default();
    if !evicted.is_empty() {
        diesel::sql_query("SELECT set_config('multitoken.evicted', '', false) AS evicted")
            .execute(conn)?;
    }
    Ok(evicted)
}

/// What the listening connection reports.
#[derive(Debug)]
pub enum Heard {
    /// `LISTEN` is in place: from now on every announcement is heard.
    Listening,
    Eviction(Eviction),
    /// A payload that could not be read: drop everything.
    Unreadable,
    /// The connection failed or went quiet; nothing is heard until the
    /// next `Listening`.
    Lost(String),
}

/// How often the listening connection proves it is alive, and how long it
/// may take: a link that silently stops forwarding is noticed within the sum.
const PING_EVERY: Duration = Duration::from_millis(500);
const PING_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long connecting and `LISTEN` may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Listens on the schema's channel from `url` until `heard` returns false,
/// reconnecting after a pause whenever the connection is lost.
pub async fn listen(url: String, mut heard: impl FnMut(Heard) -> bool) {
    let config = match listener_config(&url) {
        Ok(config) => config,
        Err(reason) => {
            heard(Heard::Lost(reason));
            return;
        }
    };
    loop {
        let reason = listen_once(&config, &mut heard).await;
        let Some(reason) = reason else { return };
        if !heard(Heard::Lost(reason)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One connection's life; `None` when `heard` asked to stop.
async fn listen_once(
    config: &tokio_postgres::Config,
    heard: &mut impl FnMut(Heard) -> bool,
) -> Option<String> {
    // A link that accepts but never answers must not hold the cache off for good.
    let (client, mut connection) =
        match tokio::time::timeout(SETUP_TIMEOUT, config.connect(NoTls)).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Some(format!("cannot connect: {e}")),
            Err(_) => return Some(format!("no connection within {SETUP_TIMEOUT:?}")),
        };
    let (sender, mut messages) = tokio::sync::mpsc::unbounded_channel();
    let driver = async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            let failed = message.is_err();
            if sender.send(message).is_err() || failed {
                return;
            }
        }
    };
    let driver = tokio::task::spawn_local(driver);
    let setup = async {
        let schema = client
            .query_one("SELECT current_schema()", &[])
            .await?
            .try_get::<_, String>(0)?;
        client
            .batch_execute(&format!("LISTEN {}", quoted(&channel(&schema))))
            .await
    };
    let outcome = match tokio::time::timeout(SETUP_TIMEOUT, setup).await {
        Ok(Ok(())) => {
            if !heard(Heard::Listening) {
                driver.abort();
                return None;
            }
            serve(&client, &mut messages, heard).await
        }
        Ok(Err(e)) => Some(format!("cannot listen: {e}")),
        Err(_) => Some("LISTEN timed out".to_owned()),
    };
    driver.abort();
    outcome
}

async fn serve(
    client: &tokio_postgres::Client,
    messages: &mut tokio::sync::mpsc::UnboundedReceiver<
        Result<AsyncMessage, tokio_postgres::Error>,
    >,
    heard: &mut impl FnMut(Heard) -> bool,
) -> Option<String> {
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                None => return Some("connection closed".to_owned()),
                Some(Err(e)) => return Some(e.to_string()),
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    let event = Eviction::parse(notification.payload())
                        .map_or(Heard::Unreadable, Heard::Eviction);
                    if !heard(event) {
                        return None;
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, client.simple_query("")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Some(e.to_string()),
                    Err(_) => return Some(format!("no answer within {PING_TIMEOUT:?}")),
                }
            }
        }
    }
}

/// The channel the triggers announce on for tables in `schema`.
pub fn channel(schema: &str) -> String {
    format!("multitoken_{schema}")
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The URL's settings as tokio-postgres reads them: it knows fewer libpq
/// parameters, and refuses the ones it does not know, so only those that
/// matter to one idle connection are passed on (`keepalives_count` under
/// its name there; not `tcp_user_timeout`, which it reads in seconds, not
/// milliseconds: this connection pings instead). TLS is not spoken on this connection: `sslmode=require`
/// or stricter makes it fail, and the cache then stays off.
fn listener_config(url: &str) -> Result<tokio_postgres::Config, String> {
    const KNOWN: [&str; 13] = [
        "user",
        "password",
        "dbname",
        "options",
        "application_name",
        "sslmode",
        "host",
        "hostaddr",
        "port",
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
    ];
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let kept: Vec<String> = query
        .split('&')
        .filter_map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            if KNOWN.contains(&key) {
                Some(pair.to_owned())
            } else {
                key.eq("keepalives_count")
                    .then(|| pair.replacen("keepalives_count", "keepalives_retries", 1))
            }
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    url.parse::<tokio_postgres::Config>()
        .map_err(|e| format!("the listening connection cannot use DATABASE_URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_digest_or_a_user() {
        let hex = "ab".repeat(32);
        assert_eq!(
            Eviction::parse(&format!("t{hex}")),
            Some(Eviction::Token([0xab; 32]))
        );
        assert_eq!(Eviction::parse("u42"), Some(Eviction::User(42)));
        assert_eq!(Eviction::parse("tabc"), None);
        assert_eq!(Eviction::parse(&format!("t{}", "zz".repeat(32))), None);
        assert_eq!(Eviction::parse("x1"), None);
        assert_eq!(
            parse_all("u1 u2 "),
            Some(vec![Eviction::User(1), Eviction::User(2)])
        );
        assert_eq!(parse_all("u1 nonsense"), None);
    }

    #[test]
    fn the_listener_keeps_what_tokio_postgres_knows() {
        let config = listener_config(
            "postgres://app:pw@db:5433/mt?options=-csearch_path%3Dx&statement_timeout=5&keepalives_count=3&connect_timeout=5",
        );
        let Ok(config) = config else {
            panic!("{config:?}")
        };
        assert_eq!(config.get_dbname(), Some("mt"));
        assert_eq!(config.get_options(), Some("-csearch_path=x"));
        assert_eq!(config.get_keepalives_retries(), Some(3));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(5)));
    }
}
