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

use super::cache::{PendingTouch, TokenCache};
use super::dpop::DpopChecker;
use super::jwt::AccessTokens;
use crate::db::tokens::{TokenOwner, TouchRow};
use crate::db::{tokens, AnyConnection, DbPool};
use crate::domain::client_address::TrustedProxies;
use crate::domain::principal::Principal;
use crate::domain::{PublicUrl, Scopes, Timestamp, TokenDigest, TokenPolicy, Unusable};
use crate::metrics::{CheckOutcome, Metrics};
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
    /// How long a check waits for the database before it is `Unavailable`.
    work_timeout: std::time::Duration,
    /// Checks access JWTs presented in place of a key, when set.
    access_tokens: Option<AccessTokens>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client address
    /// a check records.
    trusted_proxies: TrustedProxies,
    /// Proofs of the keys bound to a device's key (DPoP).
    dpop: DpopChecker,
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
            work_timeout: crate::service::WORK_TIMEOUT,
            access_tokens: None,
            trusted_proxies: TrustedProxies::default(),
            dpop: DpopChecker::new(pool.clone(), metrics.clone()),
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
        dpop_jkt: owner.dpop_jkt,
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
