//! What the PostgreSQL triggers (migration `token_notifications`) announce
//! when a write ends or changes a token or its user, and the dedicated
//! connection that hears it. diesel cannot `LISTEN`, so that connection is
//! tokio-postgres's, opened from the same URL.

use super::cache_instances;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
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

/// One notification as the triggers send it: `s<number> ` (its
/// transaction's number, see `cache_instances`), then its payloads.
pub fn parse_notification(notification: &str) -> Option<(i64, Vec<Eviction>)> {
    let (seq, payloads) = notification.split_once(' ')?;
    let seq = seq.strip_prefix('s')?.parse().ok()?;
    Some((seq, parse_all(payloads)?))
}

/// What the listening connection reports.
#[derive(Debug)]
pub enum Heard {
    /// `LISTEN` is in place and the listener is registered as `instance`:
    /// every announcement is in the database already or will be heard.
    Listening {
        instance: i64,
    },
    Eviction(Eviction),
    /// A number was skipped: a rolled-back transaction's, or a notification
    /// lost. Drop everything, to be safe.
    Skipped,
    /// A heartbeat sent at `sent` found that every announcement committed
    /// by the time the database answered it had been applied.
    Current {
        sent: Instant,
    },
    /// The connection failed or went quiet; nothing is heard until the
    /// next `Listening`.
    Lost(String),
}

/// How long a heartbeat may take: a link that silently stops forwarding is
/// noticed within it and the heartbeat interval.
const PING_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long connecting and `LISTEN` may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Listens on the schema's channel from `url` until `heard` returns false,
/// reconnecting after a pause whenever the connection is lost, and sends a
/// heartbeat every `beat` (and after each burst of notifications, to
/// acknowledge them at once).
pub async fn listen(url: String, beat: Duration, mut heard: impl FnMut(Heard) -> bool) {
    let config = match listener_config(&url) {
        Ok(config) => config,
        Err(reason) => {
            heard(Heard::Lost(reason));
            return;
        }
    };
    let mut registered = None;
    loop {
        let reason = listen_once(&config, beat, &mut registered, &mut heard).await;
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
    beat: Duration,
    registered: &mut Option<i64>,
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
            .await?;
        cache_instances::register(&client, *registered).await
    };
    let outcome = match tokio::time::timeout(SETUP_TIMEOUT, setup).await {
        Ok(Ok((instance, applied))) => {
            *registered = Some(instance);
            if !heard(Heard::Listening { instance }) {
                driver.abort();
                return None;
            }
            let mut listener = Listener {
                client: &client,
                instance,
                applied,
                waiting: None,
            };
            listener.serve(&mut messages, beat, heard).await
        }
        Ok(Err(e)) => Some(format!("cannot listen: {e}")),
        Err(_) => Some("LISTEN timed out".to_owned()),
    };
    driver.abort();
    outcome
}

/// A registered listening connection, and what it has applied.
struct Listener<'a> {
    client: &'a tokio_postgres::Client,
    instance: i64,
    /// The number of the last announcement applied.
    applied: i64,
    /// A heartbeat that found announcements committed but not yet heard:
    /// when it was sent, and how far they go.
    waiting: Option<(Instant, i64)>,
}

type Messages = tokio::sync::mpsc::UnboundedReceiver<Result<AsyncMessage, tokio_postgres::Error>>;

impl Listener<'_> {
    async fn serve(
        &mut self,
        messages: &mut Messages,
        beat: Duration,
        heard: &mut impl FnMut(Heard) -> bool,
    ) -> Option<String> {
        let mut every = tokio::time::interval(beat);
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    None => return Some("connection closed".to_owned()),
                    Some(Err(e)) => return Some(e.to_string()),
                    Some(Ok(AsyncMessage::Notification(notification))) => {
                        let Some((seq, evictions)) = parse_notification(notification.payload())
                        else {
                            return Some(format!("unreadable notification {:?}", notification.payload()));
                        };
                        if seq > self.applied + 1 && !heard(Heard::Skipped) {
                            return None;
                        }
                        for eviction in evictions {
                            if !heard(Heard::Eviction(eviction)) {
                                return None;
                            }
                        }
                        self.applied = self.applied.max(seq);
                        if let Some((sent, committed)) = self.waiting {
                            if self.applied >= committed {
                                self.waiting = None;
                                if !heard(Heard::Current { sent }) {
                                    return None;
                                }
                            }
                        }
                        // Writers wait for this acknowledgement: it goes once the burst is applied.
                        if messages.is_empty() {
                            if let Err(reason) = self.heartbeat(heard).await {
                                return reason;
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                },
                _ = every.tick() => {
                    if let Err(reason) = self.heartbeat(heard).await {
                        return reason;
                    }
                }
            }
        }
    }

    /// Acknowledges what was applied, and proves the connection alive.
    /// `Err` ends the connection's life, with the reason if it was lost.
    async fn heartbeat(
        &mut self,
        heard: &mut impl FnMut(Heard) -> bool,
    ) -> Result<(), Option<String>> {
        let sent = Instant::now();
        let answer = cache_instances::heartbeat(self.client, self.instance, self.applied);
        let committed = match tokio::time::timeout(PING_TIMEOUT, answer).await {
            Ok(Ok(committed)) => committed,
            Ok(Err(e)) => return Err(Some(e.to_string())),
            Err(_) => return Err(Some(format!("no answer within {PING_TIMEOUT:?}"))),
        };
        if self.applied >= committed {
            self.waiting = None;
            return match heard(Heard::Current { sent }) {
                true => Ok(()),
                false => Err(None),
            };
        }
        // Its notifications are on their way: current once they are applied.
        self.waiting = Some((sent, committed));
        Ok(())
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
        assert_eq!(
            parse_notification("s7 u1"),
            Some((7, vec![Eviction::User(1)]))
        );
        assert_eq!(parse_notification("u1"), None);
        assert_eq!(parse_notification("sx u1"), None);
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
