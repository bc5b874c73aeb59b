//! The login throttle (`LOGIN_THROTTLE`): failed logins are counted per
//! username and per client address, in the database so that every instance
//! shares the counts and a restart keeps them. Wrong old passwords at
//! `/password/change` count as failed logins of that username.
//!
//! The same counters (`login_failures`, one row per scope) limit other
//! uses through [`count_use`], each under scopes of its own: registrations
//! per client address (`REGISTER_THROTTLE`), and password-reset requests
//! per e-mail address and per client address (`PASSWORD_RESET_THROTTLE`).
//!
//! An attempt is counted *before* its password is checked, by one atomic
//! upsert per scope: however many attempts arrive at once, on however many
//! instances, at most `attempts` of them per window get as far as the
//! password check. Once the outcome is known the count is corrected: a
//! success resets the username's count and takes the attempt back from the
//! address; an attempt that failed for another reason (the database, the
//! hashing queue, the client limit) is taken back from both.

use crate::db::{self, AnyConnection};
use crate::domain::client_address::throttle_scope;
use crate::domain::event::{EventKind, EventSource};
use crate::domain::username::lookup_key;
use crate::domain::{ThrottleLimit, Timestamp};
use crate::metrics::ThrottledAction;
use crate::service::shared::events;
use crate::service::{Error, Services};
use diesel::Connection;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;

/// How long a login waits before being told the hashing queue is full.
const SATURATED_ANSWER_DELAY: Duration = Duration::from_secs(1);

/// The throttle's key for a username: a digest of its case-folded form, so
/// that whatever was typed into the username field (sometimes a password)
/// is never stored.
pub fn username_scope(username: &str) -> String {
    format!("user:{:x}", Sha256::digest(lookup_key(username).as_bytes()))
}

/// The throttle's key for a client address doing `action` other than
/// logging in (`register`, `reset`): each action has counts of its own.
pub fn address_scope(action: &str, address: IpAddr) -> String {
    format!("{action}:{}", throttle_scope(address))
}

/// The throttle's key for the e-mail address a mail is asked for by
/// `action` (`reset`, `verify`): a digest of its lower-case form, so no
/// address is stored; each action has counts of its own.
pub fn email_scope(action: &str, email: &str) -> String {
    format!(
        "{action}:email:{:x}",
        Sha256::digest(email.to_lowercase().as_bytes())
    )
}

/// Records a mail request (a reset, a verification resend) that `setting`
/// refused: in the metrics as `action`, and in the log with the e-mail
/// address only as a prefix of its scope's digest, enough to tell repeated
/// requests apart. `what` names the request in the log line.
pub fn mail_request_throttled(
    services: &Services,
    action: ThrottledAction,
    (what, setting): (&str, &str),
    email_scope: &str,
) {
    services.metrics.throttled(action);
    let digest = email_scope.rsplit(':').next().unwrap_or_default();
    log::info!(
        "{what} over {setting} (e-mail sha256 {}…): no mail sent",
        digest.get(..12).unwrap_or(digest)
    );
}

/// One use, as counted in each of its scopes: the scope and the start of
/// the window it was counted in.
#[derive(Debug, Clone)]
pub struct Counted(Vec<(String, i64)>);

/// Counts one use in each of `scopes` against `limit`; `Err(Throttled)`
/// when any scope is past the limit, with the wait until its window closes.
///
/// A refused use is not counted and writes nothing: the scopes are read
/// first, so a client that is already throttled can go on trying without a
/// write, and without adding to the other scopes it names. A use that a
/// concurrent one pushed past the limit rolls its counts back.
pub fn count_in_scopes(
    conn: &mut AnyConnection,
    limit: &ThrottleLimit,
    scopes: &[String],
    now: Timestamp,
) -> Result<Counted, Error> {
    let window_ms = i64::try_from(limit.window.as_millis()).unwrap_or(i64::MAX);
    let wait_for = |counts: &[db::throttle::Count], counted_now: i64| {
        counts
            .iter()
            .filter(|count| count.failures + counted_now > i64::from(limit.attempts))
            .map(|count| limit.seconds_until_reopened(Timestamp(count.window_start), now))
            .max()
    };
    let open: Vec<_> = windows(conn, scopes, now, window_ms, db::throttle::open_window)?
        .into_iter()
        .flatten()
        .collect();
    if let Some(seconds) = wait_for(&open, 1) {
        return Err(Error::Throttled(seconds));
    }
    conn.transaction::<_, Error, _>(|conn| {
        let counts = windows(conn, scopes, now, window_ms, db::throttle::count_attempt)?;
        match wait_for(&counts, 0) {
            Some(seconds) => Err(Error::Throttled(seconds)),
            None => Ok(Counted(
                scopes
                    .iter()
                    .cloned()
                    .zip(counts.iter().map(|count| count.window_start))
                    .collect(),
            )),
        }
    })
}

/// `read` of each scope's current window (`(conn, scope, now, window_ms)`:
/// `db::throttle::open_window` or `count_attempt`), in the order of `scopes`.
fn windows<T>(
    conn: &mut AnyConnection,
    scopes: &[String],
    now: Timestamp,
    window_ms: i64,
    read: fn(&mut AnyConnection, &str, i64, i64) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<Vec<T>> {
    scopes
        .iter()
        .map(|scope| read(conn, scope, now.millis(), window_ms))
        .collect()
}

/// Counts one use of `scopes` against `limit`, off the async workers.
pub async fn count_use(
    services: &Services,
    limit: ThrottleLimit,
    scopes: Vec<String>,
) -> Result<Counted, Error> {
    services
        .db(move |conn| count_in_scopes(conn, &limit, &scopes, Timestamp::now()))
        .await
}

/// This attempt, as counted in each scope.
#[derive(Debug, Clone)]
pub struct Attempt {
    username: (String, i64),
    address: Option<(String, i64)>,
}

/// Counts a login attempt for `username` from `address` (see
/// [`count_in_scopes`]).
pub fn count_attempt(
    conn: &mut AnyConnection,
    limit: &ThrottleLimit,
    username: &str,
    address: Option<IpAddr>,
    now: Timestamp,
) -> Result<Attempt, Error> {
    let mut scopes = vec![username_scope(username)];
    scopes.extend(address.map(throttle_scope));
    let Counted(counts) = count_in_scopes(conn, limit, &scopes, now)?;
    let mut counts = counts.into_iter();
    let username = counts
        .next()
        .ok_or_else(|| Error::internal("the username scope was not counted"))?;
    Ok(Attempt {
        username,
        address: counts.next(),
    })
}

/// The attempt logged in: the username starts afresh, and the attempt does
/// not count against the address.
pub fn succeeded(conn: &mut AnyConnection, attempt: &Attempt) -> Result<(), Error> {
    db::throttle::reset(conn, &attempt.username.0)?;
    if let Some((scope, window_start)) = &attempt.address {
        db::throttle::uncount_attempt(conn, scope, *window_start)?;
    }
    Ok(())
}

/// The attempt failed for a reason other than its credentials.
pub fn not_a_failure(conn: &mut AnyConnection, attempt: &Attempt) -> Result<(), Error> {
    for (scope, window_start) in std::iter::once(&attempt.username).chain(&attempt.address) {
        db::throttle::uncount_attempt(conn, scope, *window_start)?;
    }
    Ok(())
}

/// A guess at a user's credentials, for [`under_throttle`]: whose, where
/// it came from, and what it was for (the `detail` of its events).
#[derive(Debug, Clone, Copy)]
pub struct Guess<'a> {
    /// The username as typed (or what stands for one).
    pub username: &'a str,
    /// Whether the guess counts against its client address too (not for
    /// a signed-in user's own password, which only that user can try).
    pub counts_address: bool,
    pub source: &'a EventSource,
    /// `login`, `console`, `password_change`, `two_factor`, `oidc`.
    pub action: &'static str,
}

/// Runs a password check under the login throttle, for the API's login and
/// the console's sign-in alike.
///
/// The attempt is counted before the check, so concurrent attempts cannot
/// slip past the limit; a success (or a right password of a user who may not
/// sign in here) resets the username's count, and an outcome that is not a
/// failure of the credentials is taken back. A throttled guess is recorded
/// as a `throttled` event (one per username and address a minute: a flood
/// of refusals writes one row, not one each), a wrong one as `login_failed`,
/// on the user a wrong code belongs to, else on the user the username names.
pub async fn under_throttle<T>(
    services: &Services,
    guess: Guess<'_>,
    check: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    if services.hasher.is_saturated() {
        // Answered only after the Retry-After second: a flood that ignores
        // it then costs one cheap timer per connection per second instead of
        // a busy loop that would starve token checks of CPU.
        tokio::time::sleep(SATURATED_ANSWER_DELAY).await;
        return Err(Error::unavailable("too many password checks waiting"));
    }
    let limit = services.settings.throttles.login_throttle;
    let username = guess.username.to_owned();
    let address = guess.source.ip.filter(|_| guess.counts_address);
    let counted = services
        .db(move |conn| count_attempt(conn, &limit, &username, address, Timestamp::now()))
        .await;
    let attempt = match counted {
        Err(error @ Error::Throttled(_)) => {
            let scope = format!("{}|{:?}", username_scope(guess.username), guess.source.ip);
            if services.recent_throttles.first_in_a_while(scope) {
                record_guess(services, &guess, EventKind::Throttled, None).await;
            }
            return Err(error);
        }
        other => other?,
    };
    let outcome = check.await;
    let settle = attempt.clone();
    let settled = match &outcome {
        Ok(_) | Err(Error::PermissionDenied) => {
            services.db(move |conn| succeeded(conn, &settle)).await
        }
        Err(Error::BadCredentials) => {
            record_guess(services, &guess, EventKind::LoginFailed, None).await;
            Ok(())
        }
        // Only the user's own code can be wrong: its owner is known even
        // where the username stands for no account (an OpenID sign-in).
        Err(Error::WrongCode { user_id, .. }) => {
            let owner = Some(*user_id);
            record_guess(services, &guess, EventKind::LoginFailed, owner).await;
            Ok(())
        }
        Err(_) => services.db(move |conn| not_a_failure(conn, &settle)).await,
    };
    if let Err(error) = settled {
        // The login itself stands; the count is only off by one attempt.
        log::warn!(
            "could not settle a login attempt's throttle count: {}",
            error.chain()
        );
    }
    outcome
}

/// Records a refused guess on `owner`, or else on the account its username
/// names if there is one.
async fn record_guess(services: &Services, guess: &Guess<'_>, kind: EventKind, owner: Option<i64>) {
    let user_id = match owner {
        Some(id) => Some(id),
        None => {
            let key = lookup_key(guess.username);
            services
                .db(move |conn| Ok(db::users::by_key(conn, &key)?.map(|user| user.id)))
                .await
                .unwrap_or(None)
        }
    };
    events::record_attempt(services, guess.source, kind, user_id, guess.action).await;
}

/// Remembers which scopes had a `throttled` event recorded in the last
/// minute, in memory (a bounded number of them).
#[derive(Clone)]
pub struct RecentThrottles {
    recorded: std::sync::Arc<quick_cache::sync::Cache<String, std::time::Instant>>,
}

/// How long one `throttled` event stands for the refusals of its scope.
const THROTTLED_EVENT_EVERY: Duration = Duration::from_secs(60);

impl Default for RecentThrottles {
    fn default() -> Self {
        RecentThrottles {
            recorded: std::sync::Arc::new(quick_cache::sync::Cache::new(10_000)),
        }
    }
}

impl RecentThrottles {
    /// Whether no event was recorded for `scope` in the last minute (and
    /// from now on, one was).
    pub fn first_in_a_while(&self, scope: String) -> bool {
        let now = std::time::Instant::now();
        let recent = self
            .recorded
            .get(&scope)
            .is_some_and(|at| now.duration_since(at) < THROTTLED_EVENT_EVERY);
        if !recent {
            self.recorded.insert(scope, now);
        }
        !recent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_scoped_by_a_digest_of_their_case_folded_form() {
        let scope = username_scope("Alice");
        assert_eq!(scope, username_scope("aLICE"));
        assert_ne!(scope, username_scope("alice2"));
        assert!(!scope.contains("alice"));
        assert_eq!(scope.len(), "user:".len() + 64);
    }

    #[test]
    fn mail_addresses_are_scoped_by_action_and_a_digest_of_their_lower_case_form() {
        let scope = email_scope("verify", "Alice@Example.com");
        assert_eq!(scope, email_scope("verify", "alice@example.com"));
        assert!(!scope.contains("alice"));
        assert_ne!(scope, email_scope("reset", "alice@example.com"));
    }
}
