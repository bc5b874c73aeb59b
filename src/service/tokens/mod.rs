//! Tokens: checking a presented one, issuing one per (user, client), and
//! listing and revoking a user's devices. Revocations are counted here, once,
//! whoever asks for them.
//!
//! A check is one indexed read by digest, and a write only when the touch
//! interval has passed. On SQLite the read runs right on the async worker
//! when a pooled connection is idle: an indexed read from a local file under
//! WAL never waits for writers and costs less than handing it to another
//! thread. The touch, a write that may wait for the file lock, always runs
//! off the workers. On PostgreSQL, which is across a network, both run off
//! them, unless the token cache (`token_cache`) has the check: then it is a
//! lookup in memory, and its touch waits there to be written in a batch.

pub mod cache;
pub mod jwt;
pub mod other_services;

use self::cache::{PendingTouch, TokenCache};
use self::jwt::AccessTokens;
use crate::db::events::What;
use crate::db::tokens::{RevokedToken, TokenOwner, TouchRow};
use crate::db::{tokens, users, AnyConnection, DbPool};
use crate::domain::event::{Actor, EventKind, EventSource, RevokedBy};
use crate::domain::oidc::Via;
use crate::domain::principal::Principal;
use crate::domain::{ClientName, PlainToken, Scopes, Timestamp, TokenDigest, TokenPolicy};
use crate::metrics::{CheckOutcome, Metrics, RevocationCause};
use crate::service::shared::events;
use crate::service::{run_blocking_within, AuthFailure, Error};
use diesel::Connection;
use serde::Serialize;
use std::net::IpAddr;

pub const TOO_MANY_CLIENTS: &str = "Maximum number of clients per user exceeded.";

/// What checking a token needs, and nothing more: the pool, the lifetime
/// rules and the metrics. The HTTP extractor depends on this alone, so the
/// check could be lifted into a crate of its own.
#[derive(Clone)]
pub struct TokenVerifier {
    pool: DbPool,
    policy: TokenPolicy,
    /// Whether short reads may run on the async workers (SQLite only).
    reads_inline: bool,
    /// `LEGACY_TOKENS`: whether imported Django key shapes are looked up.
    legacy_keys: bool,
    metrics: Metrics,
    /// PostgreSQL with `TOKEN_CACHE` on only.
    cache: Option<TokenCache>,
    /// How long a check waits for the database before it is `Unavailable`.
    work_timeout: std::time::Duration,
    /// Checks access JWTs presented in place of a key, when set.
    access_tokens: Option<AccessTokens>,
}

impl TokenVerifier {
    pub fn new(
        pool: DbPool,
        policy: TokenPolicy,
        reads_inline: bool,
        legacy_keys: bool,
        metrics: Metrics,
    ) -> Self {
        TokenVerifier {
            pool,
            policy,
            reads_inline,
            legacy_keys,
            metrics,
            cache: None,
            work_timeout: crate::service::WORK_TIMEOUT,
            access_tokens: None,
        }
    }

    /// Also accepts access JWTs wherever a key is accepted.
    pub fn with_access_tokens(mut self, access_tokens: AccessTokens) -> Self {
        self.access_tokens = Some(access_tokens);
        self
    }

    /// Checks a presented key or access JWT (see [`TokenVerifier::verify`]).
    /// An access JWT stands for its device's key, so the device must be
    /// live, as with the key itself.
    pub async fn verify_presented(
        &self,
        presented: Result<&str, AuthFailure>,
        from: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        let digest = match (presented, &self.access_tokens) {
            (Ok(token), Some(access)) if crate::domain::jwt::looks_like_jwt(token) => {
                access.device_digest(token).await?.map(Some)
            }
            (Ok(key), _) => Ok(self.digest_of(key)),
            (Err(failure), _) => Err(failure),
        };
        self.verify(digest, from).await
    }

    /// The claims of `token` when it is an access JWT whose signature and
    /// claims hold (its device is not looked at).
    pub async fn access_claims(
        &self,
        token: &str,
    ) -> Result<Option<crate::domain::jwt::AccessClaims>, Error> {
        match &self.access_tokens {
            Some(access) if crate::domain::jwt::looks_like_jwt(token) => {
                Ok(access.verify(token).await?.ok())
            }
            _ => Ok(None),
        }
    }

    /// Checks wait at most `limit` for the database.
    pub fn with_work_timeout(mut self, limit: std::time::Duration) -> Self {
        self.work_timeout = limit;
        self
    }

    /// Checks through `cache` first.
    pub fn with_cache(mut self, cache: TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn cache(&self) -> Option<&TokenCache> {
        self.cache.as_ref()
    }

    /// The digest to look a presented key up by, if it has a shape that
    /// `LEGACY_TOKENS` lets through.
    pub fn digest_of(&self, key: &str) -> Option<TokenDigest> {
        TokenDigest::of_presented(key, self.legacy_keys)
    }

    /// Checks what the request presented (a digest, or why there is none)
    /// and counts the outcome. Requests that present nothing, and failures
    /// of the database, are not token checks. `from` is where the use came
    /// from, recorded with the use when one is written.
    pub async fn verify(
        &self,
        presented: Result<Option<TokenDigest>, AuthFailure>,
        from: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        let checked = match presented {
            Err(failure) => Err(Error::Unauthenticated(failure)),
            Ok(None) => Err(Error::Unauthenticated(AuthFailure::InvalidToken)),
            Ok(Some(digest)) => self.check_digest(digest, from).await,
        };
        let outcome = match &checked {
            Ok(_) => Some(CheckOutcome::Ok),
            Err(Error::Unauthenticated(AuthFailure::NotProvided)) => None,
            Err(Error::Unauthenticated(AuthFailure::Expired)) => Some(CheckOutcome::Expired),
            Err(Error::Unauthenticated(AuthFailure::Inactive)) => Some(CheckOutcome::Inactive),
            Err(Error::Unauthenticated(_)) => Some(CheckOutcome::Invalid),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.token_checked(outcome);
        }
        checked
    }

    async fn check_digest(
        &self,
        digest: TokenDigest,
        from: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        let now = Timestamp::now();
        let policy = self.policy;
        let used = Use { at: now, from };
        if let Some(cache) = &self.cache {
            return self.check_cached(cache, digest, used).await;
        }
        if let Some(checked) = self.try_read_now(|conn| check(conn, &digest, used, &policy)) {
            let (principal, touch) = checked?;
            if let Some(touch) = touch {
                run_blocking_within(&self.pool, self.work_timeout, move |conn| {
                    record_use(conn, touch)
                })
                .await?;
            }
            return Ok(principal);
        }
        run_blocking_within(&self.pool, self.work_timeout, move |conn| {
            let (principal, touch) = check(conn, &digest, used, &policy)?;
            if let Some(touch) = touch {
                record_use(conn, touch)?;
            }
            Ok(principal)
        })
        .await
    }

    /// A check through the cache. Only accepted checks are cached; an entry
    /// whose expiry has passed is read again (another instance may have
    /// slid it), so an expired token is refused only on the database's word.
    async fn check_cached(
        &self,
        cache: &TokenCache,
        digest: TokenDigest,
        used: Use,
    ) -> Result<Principal, Error> {
        let now = used.at;
        if let Some(owner) = cache.get(&digest) {
            if !TokenPolicy::is_expired(Timestamp(owner.expires_at), now) && owner.is_active {
                return Ok(self.accept_cached(cache, digest, owner, used));
            }
        }
        let generation = cache.generation();
        let read = run_blocking_within(&self.pool, self.work_timeout, move |conn| {
            Ok(tokens::by_digest(conn, digest.as_bytes())?)
        })
        .await?;
        let mut owner = read.ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
        // A use this instance has not written yet slid the expiry already.
        if let Some(expires_at) = cache.pending_expiry(owner.token_id) {
            owner.expires_at = owner.expires_at.max(expires_at.millis());
        }
        refuse_if_dead(&owner, now)?;
        cache.insert(generation, digest, owner.clone());
        Ok(self.accept_cached(cache, digest, owner, used))
    }

    /// An accepted check of the cache's: its touch, if due, waits for the batch.
    fn accept_cached(
        &self,
        cache: &TokenCache,
        digest: TokenDigest,
        owner: TokenOwner,
        used: Use,
    ) -> Principal {
        let (principal, touch) = principal_of(owner, &digest, used, &self.policy);
        if let Some(touch) = touch {
            cache.touch(PendingTouch {
                token_id: touch.token_id,
                digest,
                used_at: touch.now,
                expires_at: touch.expires_at,
                touched_before: touch.touched_before,
                from: touch.from,
            });
        }
        principal
    }

    /// Where the callers that check keys for other services count their answers.
    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Runs a short read right here when the backend allows it and a pooled
    /// connection is idle; `None` means: hand it to [`run_blocking`] instead.
    fn try_read_now<T>(&self, read: impl FnOnce(&mut AnyConnection) -> T) -> Option<T> {
        if !self.reads_inline {
            return None;
        }
        let mut conn = self.pool.try_get()?;
        Some(read(&mut conn))
    }
}

/// One use of a token: when, and from which client address.
#[derive(Debug, Clone, Copy)]
pub struct Use {
    pub at: Timestamp,
    pub from: Option<IpAddr>,
}

/// A last-use write that is due.
#[derive(Debug, Clone, Copy)]
pub struct Touch {
    token_id: i64,
    now: Timestamp,
    expires_at: Timestamp,
    touched_before: Timestamp,
    from: Option<IpAddr>,
}

/// Finds the token and decides: refused, or accepted with a touch if due.
pub fn check(
    conn: &mut AnyConnection,
    digest: &TokenDigest,
    used: Use,
    policy: &TokenPolicy,
) -> Result<(Principal, Option<Touch>), Error> {
    let owner = tokens::by_digest(conn, digest.as_bytes())?
        .ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
    refuse_if_dead(&owner, used.at)?;
    Ok(principal_of(owner, digest, used, policy))
}

/// Refuses an expired token, or one whose user is inactive.
fn refuse_if_dead(owner: &TokenOwner, now: Timestamp) -> Result<(), Error> {
    if TokenPolicy::is_expired(Timestamp(owner.expires_at), now) {
        return Err(Error::Unauthenticated(AuthFailure::Expired));
    }
    if !owner.is_active {
        return Err(Error::Unauthenticated(AuthFailure::Inactive));
    }
    Ok(())
}

/// The principal of an accepted token, and its touch if one is due.
fn principal_of(
    owner: TokenOwner,
    digest: &TokenDigest,
    used: Use,
    policy: &TokenPolicy,
) -> (Principal, Option<Touch>) {
    let now = used.at;
    let touch = policy
        .needs_touch(Timestamp(owner.last_used_at), now)
        .then(|| Touch {
            token_id: owner.token_id,
            now,
            expires_at: policy.expiry(Timestamp(owner.created_at), now),
            touched_before: now.minus(policy.touch_interval),
            from: used.from,
        });
    let principal = Principal {
        token_id: owner.token_id,
        digest: *digest,
        client: owner.client,
        user_id: owner.user_id,
        username: owner.username,
        email: owner.email,
        is_admin: owner.is_admin,
        is_service: owner.is_service,
        two_factor: owner.two_factor,
        email_verified: owner.email_verified,
        scopes: Scopes::from_stored(&owner.scopes),
        created_at: Timestamp(owner.created_at),
        expires_at: touch.map_or(Timestamp(owner.expires_at), |touch| touch.expires_at),
    };
    (principal, touch)
}

pub fn record_use(conn: &mut AnyConnection, touch: Touch) -> Result<(), Error> {
    tokens::touch(
        conn,
        &TouchRow {
            token_id: touch.token_id,
            used_at: touch.now.millis(),
            expires_at: touch.expires_at.millis(),
            touched_before: touch.touched_before.millis(),
            ip: touch.from,
        },
    )?;
    Ok(())
}

/// A freshly issued token; the only place its key exists in clear.
#[derive(Debug)]
pub struct IssuedToken {
    pub key: PlainToken,
    pub user_id: i64,
    pub client: ClientName,
    pub scopes: Scopes,
    pub expires_at: Timestamp,
    /// Whether the user never signed in on this client before (as far as
    /// the security events go back): what `NEW_DEVICE_MAIL` tells them of.
    pub new_device: bool,
}

/// What a login asks a token for: the client and its scopes; and where the
/// login comes from (its address and user agent are kept with the token).
#[derive(Debug)]
pub struct Grant<'a> {
    pub client: ClientName,
    pub scopes: Scopes,
    pub source: &'a EventSource,
}

/// The password hash a sign-in checked, and the hash that replaces it when
/// that one was imported from Django.
#[derive(Debug, Clone, Copy)]
pub struct CheckedHash<'a> {
    pub checked: &'a str,
    pub rehashed: Option<&'a str>,
}

impl<'a> CheckedHash<'a> {
    /// A hash the sign-in keeps as it is.
    pub fn kept(checked: &'a str) -> Self {
        CheckedHash {
            checked,
            rehashed: None,
        }
    }
}

/// Gives the grant's client of the user a new token with its scopes,
/// replacing the client's previous token and scopes together.
///
/// `hash` is the password hash the caller checked the password against.
/// The token is issued only if the user still has it and is still active,
/// in the same transaction: a login whose password check was under way
/// while the password was changed, or the user deactivated, is
/// `BadCredentials`, not a token that outlives the revocation. A rehashed
/// Django hash is replaced in that same write, so no token exists whose
/// sign-in left the imported hash behind.
///
/// The user's row is written first: that takes the user's row lock on
/// PostgreSQL and the write lock on SQLite, so concurrent logins of one user
/// run one after the other, a (user, client) pair keeps exactly one row, and
/// the client count cannot be raced past the limit.
pub fn issue(
    conn: &mut AnyConnection,
    user_id: i64,
    hash: CheckedHash<'_>,
    grant: Grant<'_>,
    now: Timestamp,
    policy: &TokenPolicy,
    max_clients: u32,
) -> Result<IssuedToken, Error> {
    issue_via(
        conn,
        user_id,
        hash,
        grant,
        &Via::Password,
        now,
        policy,
        max_clients,
    )
}

/// [`issue`] for a sign-in other than with a password (`via` is what the
/// device lists show). For a user who signed in without a password, `hash`
/// is the hash the user had when the sign-in was checked, kept as it is:
/// the same guard against a concurrent password change or deactivation.
#[allow(clippy::too_many_arguments)]
pub fn issue_via(
    conn: &mut AnyConnection,
    user_id: i64,
    hash: CheckedHash<'_>,
    grant: Grant<'_>,
    via: &Via,
    now: Timestamp,
    policy: &TokenPolicy,
    max_clients: u32,
) -> Result<IssuedToken, Error> {
    let via = via.to_stored();
    let key = PlainToken::generate();
    let digest = key.digest();
    let Grant {
        client,
        scopes,
        source,
    } = grant;
    let expires_at = policy.expiry(now, now);
    let stored_scopes = scopes.to_stored();
    let ip = source.ip.map(|ip| ip.to_canonical().to_string());
    let new_device = conn.transaction::<_, Error, _>(|conn| {
        let recorded = users::record_login_if_unchanged(
            conn,
            user_id,
            hash.checked,
            hash.rehashed,
            now.millis(),
        )?;
        if recorded == 0 {
            return Err(Error::BadCredentials);
        }
        let new = tokens::NewToken {
            user_id,
            client: client.as_str(),
            digest: digest.as_bytes(),
            created_at: now.millis(),
            last_used_at: now.millis(),
            expires_at: expires_at.millis(),
            user_agent: source.user_agent.as_deref(),
            scopes: &stored_scopes,
            via: &via,
            last_ip: ip.as_deref(),
        };
        // A row that a concurrent revocation deleted after it was found is
        // replaced by nothing: then the key gets a row of its own.
        let replaced = match tokens::id_for_client(conn, user_id, client.as_str())? {
            Some((existing, old_expiry)) => {
                let replaced = tokens::replace(conn, existing, &new)? > 0;
                if replaced && old_expiry > now.millis() {
                    let old = RevokedToken {
                        user_id,
                        client: client.as_str().to_owned(),
                    };
                    events::revoked(conn, source, RevokedBy::Relogin, &[old], now)?;
                }
                replaced
            }
            None => false,
        };
        let mut new_device = false;
        if !replaced {
            if tokens::count_live(conn, user_id, now.millis())? >= i64::from(max_clients) {
                return Err(Error::Forbidden(TOO_MANY_CLIENTS));
            }
            new_device = !events::signed_in_before(conn, user_id, client.as_str())?;
            tokens::insert(conn, &new)?;
        }
        let login = What::to_user(EventKind::Login, user_id)
            .on_client(client.as_str())
            .detail(&via);
        events::record(conn, source, login, now)?;
        Ok(new_device)
    })?;
    Ok(IssuedToken {
        key,
        user_id,
        client,
        scopes,
        expires_at,
        new_device,
    })
}

/// A device as listed to its owner or to an admin. Never a key or digest.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeviceView {
    pub client: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    /// The token's scopes; `[]` when it is unrestricted.
    pub scopes: Vec<String>,
    /// How the device signed in: `password`, `oidc:<provider>` or `import`.
    pub via: String,
    /// The client address of the login, then of the last recorded use;
    /// `null` for devices imported from Django.
    pub last_ip: Option<String>,
    /// Only in the owner's own listing: whether this is the requesting token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

/// Live devices, most recently used first; `current_token` marks one.
pub fn list(
    conn: &mut AnyConnection,
    user_id: i64,
    current_token: Option<i64>,
) -> Result<Vec<DeviceView>, Error> {
    let devices = tokens::live_for_user(conn, user_id, Timestamp::now().millis())?;
    Ok(devices
        .into_iter()
        .map(|device| DeviceView {
            current: current_token.map(|current| current == device.id),
            client: device.client,
            created_at: Timestamp(device.created_at),
            last_used_at: Timestamp(device.last_used_at),
            expires_at: Timestamp(device.expires_at),
            user_agent: device.user_agent,
            scopes: Scopes::from_stored(&device.scopes).into_vec(),
            via: device.via,
            last_ip: device.last_ip,
        })
        .collect())
}

/// Which tokens to revoke.
#[derive(Debug, Clone)]
pub enum Revocation {
    /// The presented token only, by its digest.
    Token { digest: TokenDigest },
    /// One device of the user; `NotFound` when the user has no such client.
    Device { user_id: i64, client: String },
    /// Every device of the user.
    All { user_id: i64 },
    /// Every device of the user but the presented one.
    AllBut { user_id: i64, keep_token_id: i64 },
}

/// Revokes the tokens, recording how and by whom in the same
/// transaction; returns how many. The presented token's own logout is one
/// `logout` event, every other revocation a `revoked` event per device.
pub fn revoke(
    conn: &mut AnyConnection,
    revocation: &Revocation,
    how: RevokedBy,
    source: &EventSource,
) -> Result<usize, Error> {
    // A name no client can have names none of the user's: refused before
    // the query (PostgreSQL cannot even take a NUL in text).
    if let Revocation::Device { client, .. } = revocation {
        if ClientName::parse(client).is_err() {
            return Err(Error::NotFound);
        }
    }
    conn.transaction::<_, Error, _>(|conn| {
        let revoked = match revocation {
            Revocation::Token { digest } => tokens::delete_by_digest(conn, digest.as_bytes())?,
            Revocation::Device { user_id, client } => {
                match tokens::delete_client(conn, *user_id, client)? {
                    revoked if revoked.is_empty() => return Err(Error::NotFound),
                    revoked => revoked,
                }
            }
            Revocation::All { user_id } => tokens::delete_all_for_user(conn, *user_id)?,
            Revocation::AllBut {
                user_id,
                keep_token_id,
            } => tokens::delete_others(conn, *user_id, *keep_token_id)?,
        };
        let now = Timestamp::now();
        if how == RevokedBy::Logout {
            for token in &revoked {
                let logout =
                    What::to_user(EventKind::Logout, token.user_id).on_client(&token.client);
                events::record(conn, source, logout, now)?;
            }
            Ok(revoked.len())
        } else {
            events::revoked(conn, source, how, &revoked, now)
        }
    })
}

/// How a revocation counted under `cause` is recorded.
fn revoked_by(revocation: &Revocation, cause: RevocationCause) -> RevokedBy {
    match (cause, revocation) {
        (RevocationCause::Logout, _) => RevokedBy::Logout,
        (RevocationCause::LogoutAll, _) => RevokedBy::LogoutAll,
        (RevocationCause::LogoutOthers, _) => RevokedBy::LogoutOthers,
        (RevocationCause::Key, _) => RevokedBy::RevokeEndpoint,
        (RevocationCause::Password, _) => RevokedBy::PasswordChange,
        (RevocationCause::Device | RevocationCause::Admin, Revocation::Device { .. }) => {
            RevokedBy::Device
        }
        (RevocationCause::Device | RevocationCause::Admin, _) => RevokedBy::LogoutAll,
    }
}

/// [`revoke`] off the async workers, counted under `cause`.
pub async fn revoke_counted(
    services: &crate::service::Services,
    revocation: Revocation,
    cause: RevocationCause,
    source: &EventSource,
) -> Result<usize, Error> {
    let how = revoked_by(&revocation, cause);
    let source = source.clone();
    let revoked = services
        .db(move |conn| revoke(conn, &revocation, how, &source))
        .await?;
    services.metrics.revoked(cause, revoked);
    Ok(revoked)
}

/// Deletes every token that has expired by `now`, each recorded as revoked
/// by `actor`; returns how many.
pub fn prune_expired(
    conn: &mut AnyConnection,
    now: Timestamp,
    actor: Actor,
) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        let deleted = expire_batch(conn, now.millis(), 1000, actor)?;
        total += deleted;
        if deleted == 0 {
            return Ok(total);
        }
    }
}

/// Deletes up to `limit` tokens that expired by `cutoff`, with their
/// `revoked` events (`expired`, by `actor`); returns how many.
pub fn expire_batch(
    conn: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
    actor: Actor,
) -> Result<usize, Error> {
    conn.transaction::<_, Error, _>(|conn| {
        let expired = tokens::delete_expired_batch(conn, cutoff, limit)?;
        let source = EventSource::without_request(actor);
        events::revoked(
            conn,
            &source,
            RevokedBy::Expired,
            &expired,
            Timestamp::now(),
        )
    })
}

/// Tokens of all users that have not expired yet.
pub fn count_active(conn: &mut AnyConnection) -> Result<i64, Error> {
    Ok(tokens::count_all_live(conn, Timestamp::now().millis())?)
}
