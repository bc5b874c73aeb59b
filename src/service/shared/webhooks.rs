//! Security events pushed to other services as Standard Webhooks, through a
//! durable outbox like the mails' (`db::webhooks`): recording an event
//! queues one delivery per (event, URL) in the same transaction
//! ([`queue`]); a worker per serving process (`jobs::send_webhooks`) claims
//! due deliveries for a lease, signs each at send time and `POST`s it. A
//! `2xx` within 10 s is a delivery; anything else is tried again with
//! doubling waits until `WEBHOOK_MAX_AGE` after it was queued, then given
//! up. Deliveries are rows, so they survive restarts; the lease (`SKIP
//! LOCKED` on PostgreSQL) keeps two instances from sending one at once.
//! The queued body is the event as `GET /events` lists it: no secret.
//!
//! What recording an event needs besides its connection (the key of the
//! devices' `sid`s and the receivers) is an [`EventContext`], set for the
//! thread that runs the work ([`EventContext::within`]): `Services::db`
//! sets its own, the command line one for its whole run.

use super::outbox::{backoff, Table};
use crate::config::WebhookSettings;
use crate::db::{webhooks as queries, AnyConnection};
use crate::domain::event::EventKind;
use crate::domain::jwt::SidKey;
use crate::domain::webhook::{origin, receiver_id, WebhookEvents};
use crate::domain::{Timestamp, TokenDigest};
use crate::metrics::WebhookResult;
use crate::service::{Error, Services};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a worker holds claimed deliveries: more than a batch may take
/// (each `POST` times out after `WEBHOOK_SEND_TIMEOUT`, 10 s).
pub const LEASE: Duration = Duration::from_secs(120);
/// Deliveries one claim takes at most (sent one after the other).
const CLAIM_BATCH: i64 = 10;

/// What recording events needs: the key of the `sid`s (none when the
/// secret key is not known, as for a command run before the first start)
/// and where events go.
pub struct EventContext {
    sid_key: Option<SidKey>,
    /// Each receiver's id ([`receiver_id`] of its URL), computed once here
    /// rather than for every event.
    receivers: Vec<String>,
    events: Option<WebhookEvents>,
    wake: Notify,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<EventContext>>> = const { RefCell::new(None) };
    static QUEUED: Cell<bool> = const { Cell::new(false) };
}

impl EventContext {
    pub fn new(sid_key: Option<SidKey>, settings: &WebhookSettings) -> Arc<Self> {
        let receivers = match settings.receivers() {
            Some((urls, _)) => urls.0.iter().map(|url| receiver_id(url)).collect(),
            None => Vec::new(),
        };
        Arc::new(EventContext {
            sid_key,
            receivers,
            events: settings.webhook_events.clone(),
            wake: Notify::new(),
        })
    }

    /// Runs `work` with this context for the events it records; wakes the
    /// worker afterwards if it queued deliveries (committed by then, or
    /// rolled back: a wake for nothing costs one empty claim).
    pub fn within<T>(self: &Arc<Self>, work: impl FnOnce() -> T) -> T {
        /// Puts the thread's previous context back, even if `work` panics
        /// (the blocking threads are reused).
        struct Restore(Option<Arc<EventContext>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|current| *current.borrow_mut() = previous);
            }
        }
        let restore = Restore(CURRENT.with(|current| current.replace(Some(self.clone()))));
        QUEUED.with(|queued| queued.set(false));
        let done = work();
        drop(restore);
        if QUEUED.with(|queued| queued.replace(false)) {
            self.wake.notify_one();
        }
        done
    }

    /// Sets this context for the rest of the thread's life (the command line).
    pub fn install_for_thread(self: &Arc<Self>) {
        CURRENT.with(|current| *current.borrow_mut() = Some(self.clone()));
    }

    /// Waits for a queued delivery or `at_most`, whichever comes first.
    pub async fn woken(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.wake.notified()).await;
    }
}

fn current() -> Option<Arc<EventContext>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// The `sid` an event of `kind` about the device with key digest `device`
/// carries: `None` for other kinds, or without the key.
pub fn sid_of(kind: EventKind, device: Option<&[u8]>) -> Option<String> {
    let digest = TokenDigest(device?.try_into().ok()?);
    if !kind.carries_sid() {
        return None;
    }
    let context = current()?;
    Some(context.sid_key.as_ref()?.sid_of(&digest))
}

/// What is posted.
#[derive(Serialize)]
struct Message<'a, D: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: Timestamp,
    data: &'a D,
}

/// Queues the event `event_id` of `kind`, recorded at `at` and listed as
/// `data()` (built only if its kind is sent), for every receiver: call it in the
/// transaction that records the event.
pub fn queue<D: Serialize>(
    conn: &mut AnyConnection,
    kind: EventKind,
    event_id: i64,
    at: Timestamp,
    data: impl FnOnce() -> D,
) -> Result<(), Error> {
    let Some(context) = current() else {
        return Ok(());
    };
    if context.receivers.is_empty() || context.events.as_ref().is_some_and(|e| !e.includes(kind)) {
        return Ok(());
    }
    let body = serde_json::to_string(&Message {
        kind: kind.as_str(),
        timestamp: at,
        data: &data(),
    })
    .map_err(|e| Error::Internal(Box::new(e)))?;
    let now = Timestamp::now().millis();
    for receiver in &context.receivers {
        queries::insert(conn, event_id, receiver, &body, now)?;
    }
    QUEUED.with(|queued| queued.set(true));
    Ok(())
}

/// The client deliveries are posted with: no redirects followed (only a
/// `2xx` is a delivery), `timeout` for the whole exchange.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
}

/// The webhook outbox's table.
const DELIVERIES: Table<queries::Claimed> = Table {
    claim_due: queries::claim_due,
    retry_at: queries::retry_at,
    delete: queries::delete,
    lease: LEASE,
    batch: CLAIM_BATCH,
};

/// One round of the worker: claims the deliveries due and makes each.
/// Returns how many it claimed.
pub async fn deliver_due(services: &Services, client: &reqwest::Client) -> Result<usize, Error> {
    DELIVERIES
        .deliver_due(services, move |delivery| {
            deliver(services, client, delivery)
        })
        .await
}

async fn deliver(
    services: &Services,
    client: &reqwest::Client,
    delivery: queries::Claimed,
) -> Result<(), Error> {
    let settings = &services.settings.webhooks;
    let queries::Claimed {
        id,
        event_id,
        receiver,
        body,
        created_at,
        attempts,
    } = delivery;
    let message_id = format!("msg_{event_id}");
    let urls = settings
        .webhook_urls
        .as_ref()
        .map_or(&[][..], |urls| &urls.0[..]);
    let found = urls
        .iter()
        .enumerate()
        .find(|(_, url)| receiver_id(url) == receiver);
    // Logs name a receiver by its place in WEBHOOK_URLS and its origin:
    // its path or query may be a secret.
    let (url, shown) = match found {
        Some((n, url)) => (
            url.clone(),
            format!("WEBHOOK_URLS #{} ({})", n + 1, origin(url)),
        ),
        None => (String::new(), "a URL no longer in WEBHOOK_URLS".to_owned()),
    };
    let sent = match &settings.webhook_secret {
        None => Err("WEBHOOK_SECRET is not set".to_owned()),
        Some(_) if found.is_none() => Err("its URL is no longer in WEBHOOK_URLS".to_owned()),
        Some(secret) => {
            let timestamp = Timestamp::now().unix_seconds();
            let signature = secret.sign(&message_id, timestamp, &body);
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .header("webhook-id", &message_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await;
            match response {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("answered {}", response.status())),
                Err(error) => Err(describe(&error, settings.webhook_send_timeout)),
            }
        }
    };
    let now = Timestamp::now();
    let deadline = Timestamp(created_at).plus(settings.webhook_max_age);
    // Tried until WEBHOOK_MAX_AGE: the last wait ends at it, for one last attempt.
    let retry_at = match &sent {
        Err(_) if found.is_some() && now.millis() < deadline.millis() => {
            let wait = backoff(settings.webhook_retry_base, attempts);
            Some(now.plus(wait).millis().min(deadline.millis()))
        }
        _ => None,
    };
    DELIVERIES.settle(services, id, retry_at).await?;
    match (sent, retry_at) {
        (Ok(()), _) => {
            services.metrics.webhook(WebhookResult::Delivered);
            log::info!("webhook {message_id} delivered to {shown} (attempt {attempts})");
        }
        (Err(error), Some(at)) => {
            services.metrics.webhook(WebhookResult::Retried);
            log::warn!(
                "webhook {message_id} not delivered to {shown} (attempt {attempts}), trying again in {}s: {error}",
                (at - now.millis()).max(0).saturating_add(999) / 1000
            );
        }
        (Err(error), None) => {
            services.metrics.webhook(WebhookResult::GaveUp);
            log::error!(
                "webhook {message_id} to {shown} given up after {attempts} attempt(s): {error}"
            );
        }
    }
    Ok(())
}

/// A failed exchange in one line, without reqwest's repetition of the URL.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    let what = if error.is_timeout() {
        format!("no answer within {}s", timeout.as_secs_f64())
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    match cause.is_empty() {
        true => what,
        false => format!("{what}: {cause}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SecretKey;

    fn context() -> Arc<EventContext> {
        let key = SidKey::derive(&SecretKey::unchecked(&"k".repeat(40)));
        EventContext::new(Some(key), &crate::config::Settings::defaults().webhooks)
    }

    #[test]
    fn a_sid_is_given_within_a_context_for_the_kinds_about_one_device() {
        let digest = [7u8; 32];
        assert_eq!(sid_of(EventKind::Login, Some(&digest)), None, "no context");
        let context = context();
        let sid = context.within(|| sid_of(EventKind::Revoked, Some(&digest)));
        assert_eq!(sid.as_deref().map(str::len), Some(32));
        for (kind, device) in [
            (EventKind::UserCreated, Some(&digest[..])),
            (EventKind::Login, None),
            (EventKind::Logout, Some(&digest[..5])),
        ] {
            assert_eq!(context.within(|| sid_of(kind, device)), None, "{kind:?}");
        }
        assert_eq!(
            context.within(|| sid_of(EventKind::Logout, Some(&digest))),
            sid
        );
        assert_eq!(sid_of(EventKind::Login, Some(&digest)), None, "restored");
        let panicked = std::panic::catch_unwind(|| context.within(|| panic!("in the work")));
        assert!(panicked.is_err());
        assert_eq!(
            sid_of(EventKind::Login, Some(&digest)),
            None,
            "restored after a panic"
        );
    }
}
