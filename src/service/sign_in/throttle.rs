//! The login throttle (`LOGIN_THROTTLE`): failed logins are counted per
//! username and per client address, in the database so that every instance
//! shares the counts and a restart keeps them. Wrong old passwords at
//! `/password/change` count as failed logins of that username.
//!
//! The same counters (`login_failures`, one row per scope) limit other
//! uses through [`count_use`], each under scopes of its own: registrations
//! per client address (`REGISTER_THROTTLE`), and password-reset requests
//! per e-mail address and per client address (`PASSWORD_RESET_THROTTLE`),
//! and requests to `/revoke` per client address (`REVOKE_THROTTLE`).
//!
//! A sign-in that presents a valid device proof of the user its username
//! names (see [`super::device_proof`]) is counted against the proof instead
//! of the username, with the same limit: failures others cause on the
//! username do not refuse it, its own failures lock the proof alone, and its
//! success resets the proof's count, not the username's (so the owner
//! signing in does not give a flood against the username a fresh window).
//! The address is counted either way. A proof that does not check, or is of
//! another user, counts for nothing.
//!
//! An attempt is counted *before* its password is checked, by one atomic
//! upsert per scope: however many attempts arrive at once, on however many
//! instances, at most `attempts` of them per window get as far as the
//! password check. Once the outcome is known the count is corrected: a
//! sign-in's success resets the username's count and takes the attempt back
//! from the address; a signed-in user's right password or code, and an
//! attempt that failed for another reason (the database, the hashing queue,
//! the client limit), are taken back from both. Only a whole sign-in resets:
//! a right password alone must not wipe out the wrong second-factor codes
//! counted before it.

use super::device_proof;
use crate::db::{self, AnyConnection};
use crate::domain::client_address::throttle_scope;
use crate::domain::device_proof::ValidProof;
use crate::domain::event::{EventKind, EventSource};
use crate::domain::username::lookup_key;
use crate::domain::{ThrottleLimit, Timestamp};
use crate::metrics::ThrottledAction;
use crate::service::shared::events;
use crate::service::{Error, Services};
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
    crate::db::transaction::<_, Error, _>(conn, |conn| {
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

/// Takes a counted use back from each of its scopes (it turned out not to
/// be a failure).
pub fn take_back(conn: &mut AnyConnection, counted: &Counted) -> Result<(), Error> {
    for (scope, window_start) in &counted.0 {
        db::throttle::uncount_attempt(conn, scope, *window_start)?;
    }
    Ok(())
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

/// This attempt, as counted in each scope: its subject (the username's
/// scope, or the device proof's) and its address.
#[derive(Debug, Clone)]
pub struct Attempt {
    subject: (String, i64),
    address: Option<(String, i64)>,
}

/// Counts a login attempt against `subject` (a [`username_scope`], or a
/// device proof's scope) and `address` (see [`count_in_scopes`]).
pub fn count_attempt(
    conn: &mut AnyConnection,
    limit: &ThrottleLimit,
    subject: String,
    address: Option<IpAddr>,
    now: Timestamp,
) -> Result<Attempt, Error> {
    let mut scopes = vec![subject];
    scopes.extend(address.map(throttle_scope));
    let Counted(counts) = count_in_scopes(conn, limit, &scopes, now)?;
    let mut counts = counts.into_iter();
    let subject = counts
        .next()
        .ok_or_else(|| Error::internal("the attempt's subject was not counted"))?;
    Ok(Attempt {
        subject,
        address: counts.next(),
    })
}

/// The attempt logged in: its subject (the username, or the device proof)
/// starts afresh, and the attempt does not count against the address.
pub fn succeeded(conn: &mut AnyConnection, attempt: &Attempt) -> Result<(), Error> {
    db::throttle::reset(conn, &attempt.subject.0)?;
    if let Some((scope, window_start)) = &attempt.address {
        db::throttle::uncount_attempt(conn, scope, *window_start)?;
    }
    Ok(())
}

/// The attempt failed for a reason other than its credentials.
pub fn not_a_failure(conn: &mut AnyConnection, attempt: &Attempt) -> Result<(), Error> {
    for (scope, window_start) in std::iter::once(&attempt.subject).chain(&attempt.address) {
        db::throttle::uncount_attempt(conn, scope, *window_start)?;
    }
    Ok(())
}

/// A guess at a user's credentials, for [`under_throttle`]: whose, of
/// which kind, where it came from, and what it was for (the `detail` of its
/// events).
#[derive(Debug, Clone, Copy)]
pub struct Guess<'a> {
    /// The username as typed (or what stands for one).
    pub username: &'a str,
    pub kind: GuessKind,
    pub source: &'a EventSource,
    /// `login`, `console`, `password_change`, `two_factor`, `oidc`.
    pub action: &'static str,
    /// The device proofs the sign-in presented (its `device_proof` field,
    /// its cookie), as sent: the first valid one of the user the username
    /// names takes the username's place in the count. Looked at for
    /// [`GuessKind::SignIn`] only.
    pub device_proofs: &'a [String],
}

impl<'a> Guess<'a> {
    /// A sign-in's guess ([`GuessKind::SignIn`]) made for `action`.
    pub fn sign_in(
        action: &'static str,
        username: &'a str,
        device_proofs: &'a [String],
        source: &'a EventSource,
    ) -> Self {
        Guess {
            username,
            kind: GuessKind::SignIn,
            source,
            action,
            device_proofs,
        }
    }
}

/// What a right guess proves, and so how it is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuessKind {
    /// A sign-in (its password and, for a user with two-factor, its code):
    /// counted against the username and the client address; a success
    /// resets the username's count.
    SignIn,
    /// A signed-in user's own password or code (password change, two-factor
    /// set-up, confirmation and turning off): counted against the username
    /// only, since only that user can try it. A right one is taken back but
    /// resets nothing: with a stolen key, a right password must not wipe out
    /// the wrong codes counted before it.
    Own,
}

/// Runs a password check under the login throttle, for the API's login and
/// the console's sign-in alike.
///
/// The attempt is counted before the check, so concurrent attempts cannot
/// slip past the limit; a sign-in's success (or a right password and code of
/// a user who may not sign in here) resets the username's count, and an
/// outcome that is not a failure of the credentials, or a right [`GuessKind::Own`]
/// guess, is taken back. A throttled guess is recorded as a `throttled` event
/// (see [`record_throttled`]), a wrong one as `login_failed`, on the user a
/// wrong code belongs to, else on the user the username names.
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
    let address = guess.source.ip.filter(|_| guess.kind == GuessKind::SignIn);
    let attempt = count_guess(services, &guess, address).await?;
    let outcome = check.await;
    let settle = attempt.clone();
    let settled = match &outcome {
        Ok(_) | Err(Error::PermissionDenied) if guess.kind == GuessKind::SignIn => {
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
        // A right answer of a signed-in user's own (see `GuessKind::Own`),
        // or a failure that is not the credentials'.
        Ok(_) | Err(_) => services.db(move |conn| not_a_failure(conn, &settle)).await,
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

/// Runs `check`, the second factor of a sign-in whose first credential
/// named no username (an OpenID Connect ID token), under the login throttle
/// of the username of the user it turned out to be: refused while that
/// username is throttled, a wrong code counted against it like a wrong
/// password (the address and the events are the sign-in's own
/// [`under_throttle`]'s), a right one taken back (the sign-in named no
/// username to reset). `guess` names that user; with a valid device proof
/// of that user (a [`GuessKind::SignIn`] guess), the proof is counted
/// instead of the username, as at `/login`.
pub async fn second_factor_under_throttle<T>(
    services: &Services,
    guess: Guess<'_>,
    check: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let attempt = count_guess(services, &guess, None).await?;
    let outcome = check.await;
    if !matches!(outcome, Err(Error::WrongCode { .. })) {
        let settled = services.db(move |conn| not_a_failure(conn, &attempt)).await;
        if let Err(error) = settled {
            log::warn!(
                "could not settle a second factor's throttle count: {}",
                error.chain()
            );
        }
    }
    outcome
}

/// Counts `guess` against its username (and `address`, when given) before
/// it is checked; a throttled one is recorded (see [`record_throttled`])
/// and refused.
async fn count_guess(
    services: &Services,
    guess: &Guess<'_>,
    address: Option<IpAddr>,
) -> Result<Attempt, Error> {
    let limit = services.settings.throttles.login_throttle;
    let subject = match proof_of_user(services, guess).await {
        Some(proof) => device_proof::throttle_scope(&proof),
        None => username_scope(guess.username),
    };
    let counted = services
        .db(move |conn| count_attempt(conn, &limit, subject, address, Timestamp::now()))
        .await;
    if matches!(counted, Err(Error::Throttled(_))) {
        record_throttled(services, guess).await;
    }
    counted
}

/// The first of a sign-in's device proofs that checks and is of the user
/// its username names, if any. Only a proof whose signature checks costs
/// the lookup of that user: forged ones are turned away unread.
async fn proof_of_user(services: &Services, guess: &Guess<'_>) -> Option<ValidProof> {
    if guess.kind != GuessKind::SignIn {
        return None;
    }
    let valid: Vec<ValidProof> = guess
        .device_proofs
        .iter()
        .filter_map(|text| device_proof::check(services, text))
        .collect();
    if valid.is_empty() {
        return None;
    }
    let user_id = user_named(services, guess.username).await?;
    valid.into_iter().find(|proof| proof.user_id == user_id)
}

/// Records a refused guess on `owner`, or else on the account its username
/// names if there is one.
async fn record_guess(services: &Services, guess: &Guess<'_>, kind: EventKind, owner: Option<i64>) {
    let user_id = match owner {
        Some(id) => Some(id),
        None => user_named(services, guess.username).await,
    };
    events::record_attempt(services, guess.source, kind, user_id, guess.action).await;
}

/// The id of the account `username` names, if there is one (and the
/// database answers).
async fn user_named(services: &Services, username: &str) -> Option<i64> {
    let key = lookup_key(username);
    services
        .db(move |conn| Ok(db::users::by_key(conn, &key)?.map(|user| user.id)))
        .await
        .unwrap_or(None)
}

/// Records a throttled guess as a `throttled` event at most once a minute
/// per client address and once a minute per existing user it names: a
/// flood of refusals, however many usernames it makes up, writes a row a
/// minute, not one each (a refused attempt must stay cheap). A username
/// seen for the first time in the minute costs a read, to know whether it
/// names anyone.
pub async fn record_throttled(services: &Services, guess: &Guess<'_>) {
    let recent = &services.recent_throttles;
    let first_from_address = recent.first_from_address(guess.source.ip);
    let first_for_username = recent.first_for_username(username_scope(guess.username));
    if !(first_from_address || first_for_username) {
        return;
    }
    let user_id = user_named(services, guess.username).await;
    if first_from_address || user_id.is_some() {
        let kind = EventKind::Throttled;
        events::record_attempt(services, guess.source, kind, user_id, guess.action).await;
    }
}

/// Remembers which client addresses and which usernames had a `throttled`
/// event recorded in the last minute, in memory (a bounded number of each:
/// the addresses apart, so that a flood of made-up usernames cannot push
/// its own address out).
#[derive(Clone)]
pub struct RecentThrottles {
    addresses: std::sync::Arc<quick_cache::sync::Cache<Option<String>, std::time::Instant>>,
    usernames: std::sync::Arc<quick_cache::sync::Cache<String, std::time::Instant>>,
}

/// How long one `throttled` event stands for the refusals of its scope.
const THROTTLED_EVENT_EVERY: Duration = Duration::from_secs(60);

impl Default for RecentThrottles {
    fn default() -> Self {
        RecentThrottles {
            addresses: std::sync::Arc::new(quick_cache::sync::Cache::new(10_000)),
            usernames: std::sync::Arc::new(quick_cache::sync::Cache::new(10_000)),
        }
    }
}

impl RecentThrottles {
    /// Whether no event was recorded for the client `address` (an IPv6
    /// one by its /64, as the throttle counts it) in the last minute (and
    /// from now on, one was).
    pub fn first_from_address(&self, address: Option<IpAddr>) -> bool {
        first_in_a_while(&self.addresses, address.map(throttle_scope))
    }

    /// Whether no event was recorded for the username of `scope` (see
    /// [`username_scope`]) in the last minute (and from now on, one was).
    pub fn first_for_username(&self, scope: String) -> bool {
        first_in_a_while(&self.usernames, scope)
    }
}

fn first_in_a_while<K>(recorded: &quick_cache::sync::Cache<K, std::time::Instant>, key: K) -> bool
where
    K: Eq + std::hash::Hash + Clone,
{
    let now = std::time::Instant::now();
    let recent = recorded
        .get(&key)
        .is_some_and(|at| now.duration_since(at) < THROTTLED_EVENT_EVERY);
    if !recent {
        recorded.insert(key, now);
    }
    !recent
}

/// Admits a `/revoke` request (one key or a list) under `REVOKE_THROTTLE`
/// per client address, before its body is read: a flood of guesses from one
/// address costs at most that many lookups.
pub async fn admit_revocation(services: &Services, source: &EventSource) -> Result<(), Error> {
    let limit = services.settings.throttles.revoke_throttle;
    admit_address(services, source, "revoke", limit, ThrottledAction::Revoke).await
}

/// Counts a request of `action` (its scope's prefix) against `limit` per
/// client address, a refusal in the metrics as `throttled`; one without an
/// address is not counted.
pub async fn admit_address(
    services: &Services,
    source: &EventSource,
    action: &'static str,
    limit: ThrottleLimit,
    throttled: ThrottledAction,
) -> Result<(), Error> {
    let Some(address) = source.ip else {
        return Ok(());
    };
    count_use(services, limit, vec![address_scope(action, address)])
        .await
        .inspect_err(|error| {
            if matches!(error, Error::Throttled(_)) {
                services.metrics.throttled(throttled);
            }
        })?;
    Ok(())
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
