//! Checking a presented token.
//!
//! A check is one indexed read by digest, and a write only when the touch
//! interval has passed. On SQLite the read runs right on the async worker
//! when a pooled connection is idle: an indexed read from a local file under
//! WAL never waits for writers and costs less than handing it to another
//! thread. The touch, a write that may wait for the file lock, always runs
//! off the workers. On PostgreSQL, which is across a network, both run off
//! them, unless the token cache ([`super::cache`]) has the check: then it is a
//! lookup in memory, and its touch waits there to be written in a batch.
//! The cache's misses are read together: concurrent ones in one statement,
//! by a worker of their own ([`super::lookup_batch`]).

use super::cache::TokenCache;
use super::dpop::DpopChecker;
use super::jwt::AccessTokens;
use super::lookup_batch::{lookup, Found, MissedReads};
use super::revocation_sync::RevocationSync;
use super::touch_writes::{record_use, Touch, TouchWrites};
use crate::db::rotation::RetiredOwner;
use crate::db::tokens::TokenOwner;
use crate::db::{AnyConnection, DbPool};
use crate::domain::client_address::TrustedProxies;
use crate::domain::event::{Actor, EventSource};
use crate::domain::principal::Principal;
use crate::domain::{PublicUrl, Timestamp, TokenDigest, TokenPolicy, Unusable};
use crate::metrics::{CheckOutcome, Metrics, RevocationCause, RotationResult};
use crate::service::{run_blocking_within, AuthFailure, Error};
use std::net::IpAddr;

/// What checking a token needs, and nothing more: the pool, the lifetime
/// rules, the metrics, and which proxies say where a request comes from.
/// The HTTP extractor depends on this alone, so the check could be lifted
/// into a crate of its own.
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
    /// Reads the cache's misses, many in one statement (beside the cache).
    missed: Option<MissedReads>,
    /// SQLite: writes due touches together, one transaction for many.
    touches: Option<TouchWrites>,
    /// How long a check waits for the database before it is `Unavailable`.
    work_timeout: std::time::Duration,
    /// Checks access JWTs presented in place of a key, when set.
    access_tokens: Option<AccessTokens>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client address
    /// a check records.
    trusted_proxies: TrustedProxies,
    /// Proofs of the keys bound to a device's key (DPoP).
    dpop: DpopChecker,
    /// PostgreSQL: the wait of a revoking work for the other instances.
    revocation_sync: Option<RevocationSync>,
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
            policy,
            reads_inline,
            legacy_keys,
            cache: None,
            missed: None,
            touches: None,
            work_timeout: crate::service::WORK_TIMEOUT,
            access_tokens: None,
            trusted_proxies: TrustedProxies::default(),
            dpop: DpopChecker::new(pool.clone(), metrics.clone()),
            revocation_sync: None,
            pool,
            metrics,
        }
    }

    /// Reads the client address a check records through these proxies.
    pub fn with_trusted_proxies(mut self, trusted_proxies: TrustedProxies) -> Self {
        self.trusted_proxies = trusted_proxies;
        self
    }

    /// Checks DPoP proofs under `DPOP_PROOF_WINDOW`, with `htu` based on `public_url`.
    pub fn with_dpop(mut self, window: std::time::Duration, public_url: PublicUrl) -> Self {
        self.dpop = self
            .dpop
            .with_settings(window, public_url)
            .with_work_timeout(self.work_timeout);
        self
    }

    /// The checker of DPoP proofs.
    pub fn dpop(&self) -> &DpopChecker {
        &self.dpop
    }

    /// The proxies whose forwarded client address the caller may believe.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
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
        let (digest, by_access_token) = match (presented, &self.access_tokens) {
            (Ok(token), Some(access)) if crate::domain::jwt::looks_like_jwt(token) => {
                (access.device_digest(token).await?.map(Some), true)
            }
            (Ok(key), _) => (Ok(self.digest_of(key)), false),
            (Err(failure), _) => (Err(failure), false),
        };
        self.verify_as(digest, from, by_access_token).await
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

    /// Writes the due touches of checks read on the async workers (SQLite)
    /// together, in one transaction for all those that wait; call it after
    /// [`TokenVerifier::with_work_timeout`], whose limit it keeps.
    pub fn with_touches_together(mut self) -> Self {
        if self.reads_inline {
            self.touches = Some(TouchWrites::start(self.pool.clone(), self.work_timeout));
        }
        self
    }

    /// Checks through `cache` first, reading its misses in batches.
    pub fn with_cache(mut self, cache: TokenCache) -> Self {
        self.missed = Some(MissedReads::start(self.pool.clone(), self.work_timeout));
        self.cache = Some(cache);
        self
    }

    pub fn cache(&self) -> Option<&TokenCache> {
        self.cache.as_ref()
    }

    /// Makes revoking work wait for the other instances (PostgreSQL).
    pub fn with_revocation_sync(mut self, revocation_sync: RevocationSync) -> Self {
        self.revocation_sync = Some(revocation_sync);
        self
    }

    pub fn revocation_sync(&self) -> Option<RevocationSync> {
        self.revocation_sync.clone()
    }

    /// The digest to look a presented key up by, if it has a shape that
    /// `LEGACY_TOKENS` lets through and, for a key of the current format, a
    /// checksum that matches. A bad checksum is counted here, before any
    /// cache or database lookup, whichever endpoint the key came to.
    pub fn digest_of(&self, key: &str) -> Option<TokenDigest> {
        match TokenDigest::check_presented(key, self.legacy_keys) {
            Ok(digest) => Some(digest),
            Err(Unusable::Checksum) => {
                self.metrics.token_checksum_failed();
                None
            }
            Err(Unusable::Shape) => None,
        }
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
        self.verify_as(presented, from, false).await
    }

    /// [`Self::verify`]; `by_access_token` when the digest is that of the
    /// key an access JWT was minted from, which a rotation since may have
    /// retired: the JWT, not that key, is what was presented, so it stands
    /// for the device until it expires, and is never a reuse.
    async fn verify_as(
        &self,
        presented: Result<Option<TokenDigest>, AuthFailure>,
        from: Option<IpAddr>,
        by_access_token: bool,
    ) -> Result<Principal, Error> {
        let checked = match presented {
            Err(failure) => Err(Error::Unauthenticated(failure)),
            Ok(None) => Err(Error::Unauthenticated(AuthFailure::InvalidToken)),
            Ok(Some(digest)) => self.check_digest(digest, from, by_access_token).await,
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
        by_access_token: bool,
    ) -> Result<Principal, Error> {
        let now = Timestamp::now();
        let policy = self.policy;
        let used = Use {
            at: now,
            from,
            by_access_token,
        };
        if let (Some(cache), Some(missed)) = (&self.cache, &self.missed) {
            return self.check_cached(cache, missed, digest, used).await;
        }
        if let Some(checked) = self.try_read_now(|conn| check(conn, &digest, used, &policy)) {
            let (principal, touch) = match checked? {
                Checked::Accepted(principal, touch) => (principal, touch),
                Checked::Reused(reuse) => return Err(self.revoke_reused(reuse, used).await),
            };
            match (touch, &self.touches) {
                (Some(touch), Some(touches)) => touches.write(touch).await?,
                (Some(touch), None) => {
                    run_blocking_within(&self.pool, self.work_timeout, move |conn| {
                        record_use(conn, touch)
                    })
                    .await?
                }
                (None, _) => {}
            }
            return Ok(principal);
        }
        // With no batch writer, the touch goes with the read, on the same
        // connection; with one, it waits for the batch like the others.
        let batched = self.touches.as_ref();
        let writes_with_read = batched.is_none();
        let checked = run_blocking_within(&self.pool, self.work_timeout, move |conn| {
            let checked = check(conn, &digest, used, &policy)?;
            if let (Checked::Accepted(_, Some(touch)), true) = (&checked, writes_with_read) {
                record_use(conn, *touch)?;
            }
            Ok(checked)
        })
        .await?;
        match checked {
            Checked::Accepted(principal, touch) => {
                if let (Some(touch), Some(touches)) = (touch, batched) {
                    touches.write(touch).await?;
                }
                Ok(principal)
            }
            Checked::Reused(reuse) => Err(self.revoke_reused(reuse, used).await),
        }
    }

    /// Revokes the device of a retired key used after its grace, and
    /// answers what the use gets: `Invalid token.` once that is done.
    async fn revoke_reused(&self, reuse: Reuse, used: Use) -> Error {
        let source = EventSource {
            actor: Actor::System,
            ip: used.from,
            user_agent: None,
        };
        let cache = self.cache.clone();
        let tracks_announcements = self.revocation_sync.is_some();
        let revoked = run_blocking_within(&self.pool, self.work_timeout, move |conn| {
            let revoked =
                super::rotation::revoke_reused(conn, reuse.token_id, reuse.signed_in_at, &source);
            let announced = super::cache::own_writes(conn, cache.as_ref(), tracks_announcements);
            Ok((revoked, announced))
        })
        .await
        .and_then(|(revoked, announced)| Ok((revoked?, announced)));
        if let (Ok((_, announced)), Some(acks)) = (&revoked, &self.revocation_sync) {
            acks.wait_for(*announced).await;
        }
        match revoked.map(|(revoked, _)| revoked) {
            Ok(revoked) => {
                self.metrics.rotation(RotationResult::ReuseDetected);
                self.metrics
                    .revoked(RevocationCause::ReuseDetected, revoked);
                Error::Unauthenticated(AuthFailure::InvalidToken)
            }
            Err(error) => error,
        }
    }

    /// A check through the cache. Only accepted checks are cached; an entry
    /// whose expiry has passed is read again (another instance may have
    /// slid it), so an expired token is refused only on the database's word.
    async fn check_cached(
        &self,
        cache: &TokenCache,
        missed: &MissedReads,
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
        let read = missed.read(digest).await?;
        let mut owner = match read.ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))? {
            Found::Current(owner) => owner,
            // A retired key's checks are never cached: each use reaches
            // the database, so none outlives the grace on any instance.
            Found::Retired(mut retired) => {
                let device = &mut retired.owner;
                if let Some(expires_at) = cache.pending_expiry(device.token_id) {
                    device.expires_at = device.expires_at.max(expires_at.millis());
                }
                return match in_grace(retired, &self.policy, used)? {
                    Ok((owner, current)) => Ok(self.accept_cached(cache, current, owner, used)),
                    Err(reuse) => Err(self.revoke_reused(reuse, used).await),
                };
            }
        };
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
            cache.touch(digest, touch);
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
    /// Through an access JWT minted from the key (see `verify_as`).
    pub by_access_token: bool,
}

/// What a check decided, when it did not refuse.
// Moved once per check: a box would cost every accepted check an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Checked {
    /// Accepted, with a touch if one is due.
    Accepted(Principal, Option<Touch>),
    /// A retired key used after its grace: its device must be revoked.
    Reused(Reuse),
}

/// The device of a retired key used after its grace.
#[derive(Debug, Clone, Copy)]
pub struct Reuse {
    pub token_id: i64,
    pub signed_in_at: i64,
}

/// A retired key's device and its current key's digest, when the key is
/// within its grace (or an access JWT minted from it was presented) and
/// the device is live; `Err(Reuse)` past the grace.
fn in_grace(
    retired: RetiredOwner,
    policy: &TokenPolicy,
    used: Use,
) -> Result<Result<(TokenOwner, TokenDigest), Reuse>, Error> {
    let (owner, now) = (retired.owner, used.at);
    let in_grace = policy.in_rotation_grace(Timestamp(retired.retired_at), now);
    if !in_grace && !used.by_access_token {
        return Ok(Err(Reuse {
            token_id: owner.token_id,
            signed_in_at: owner.created_at,
        }));
    }
    refuse_if_dead(&owner, now)?;
    let current = <[u8; 32]>::try_from(retired.current)
        .map_err(|_| Error::Unauthenticated(AuthFailure::InvalidToken))?;
    Ok(Ok((owner, TokenDigest(current))))
}

/// Finds the token and decides: refused, accepted with a touch if due, or
/// a reuse to revoke. A retired key within its grace stands for its
/// device: the principal's digest is the device's current key's.
pub fn check(
    conn: &mut AnyConnection,
    digest: &TokenDigest,
    used: Use,
    policy: &TokenPolicy,
) -> Result<Checked, Error> {
    let found = lookup(conn, digest)?.ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
    let (owner, digest) = match found {
        Found::Current(owner) => (owner, *digest),
        Found::Retired(retired) => match in_grace(retired, policy, used)? {
            Ok(device) => device,
            Err(reuse) => return Ok(Checked::Reused(reuse)),
        },
    };
    refuse_if_dead(&owner, used.at)?;
    let (principal, touch) = principal_of(owner, &digest, used, policy);
    Ok(Checked::Accepted(principal, touch))
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
    let expires_at = touch.map_or(Timestamp(owner.expires_at), |touch| touch.expires_at);
    let principal = owner.into_principal(*digest, expires_at);
    (principal, touch)
}
