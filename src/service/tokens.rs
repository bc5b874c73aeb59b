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

use super::jwt::AccessTokens;
use super::token_cache::{PendingTouch, TokenCache};
use super::{run_blocking_within, AuthFailure, Error};
use crate::db::tokens::TokenOwner;
use crate::db::{tokens, users, AnyConnection, DbPool};
use crate::domain::oidc::Via;
use crate::domain::{ClientName, PlainToken, Scopes, Timestamp, TokenDigest, TokenPolicy};
use crate::metrics::{CheckOutcome, Metrics, RevocationCause};
use diesel::Connection;
use serde::Serialize;

pub const TOO_MANY_CLIENTS: &str = "Maximum number of clients per user exceeded.";

/// Who is making an authenticated request, and with which token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: i64,
    /// The digest of the presented key: what `/logout` revokes, so that a
    /// re-login that gave the row a new key since is not revoked with it.
    pub digest: TokenDigest,
    pub client: String,
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    /// May introspect other users' keys.
    pub is_service: bool,
    pub two_factor: bool,
    pub email_verified: bool,
    /// What the token may be used for; empty when unrestricted.
    pub scopes: Scopes,
    pub created_at: Timestamp,
    /// When the token expires, counting the use this check records.
    pub expires_at: Timestamp,
}

impl Principal {
    /// Whether the token has scopes, and so may do only what they allow.
    pub fn is_restricted(&self) -> bool {
        self.scopes.is_restricted()
    }
}

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
            work_timeout: super::WORK_TIMEOUT,
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
    ) -> Result<Principal, Error> {
        let digest = match (presented, &self.access_tokens) {
            (Ok(token), Some(access)) if crate::domain::jwt::looks_like_jwt(token) => {
                access.device_digest(token).await?.map(Some)
            }
            (Ok(key), _) => Ok(self.digest_of(key)),
            (Err(failure), _) => Err(failure),
        };
        self.verify(digest).await
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
    /// of the database, are not token checks.
    pub async fn verify(
        &self,
        presented: Result<Option<TokenDigest>, AuthFailure>,
    ) -> Result<Principal, Error> {
        let checked = match presented {
            Err(failure) => Err(Error::Unauthenticated(failure)),
            Ok(None) => Err(Error::Unauthenticated(AuthFailure::InvalidToken)),
            Ok(Some(digest)) => self.check_digest(digest).await,
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

    async fn check_digest(&self, digest: TokenDigest) -> Result<Principal, Error> {
        let now = Timestamp::now();
        let policy = self.policy;
        if let Some(cache) = &self.cache {
            return self.check_cached(cache, digest, now).await;
        }
        if let Some(checked) = self.try_read_now(|conn| check(conn, &digest, now, &policy)) {
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
            let (principal, touch) = check(conn, &digest, now, &policy)?;
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
        now: Timestamp,
    ) -> Result<Principal, Error> {
        if let Some(owner) = cache.get(&digest) {
            if !TokenPolicy::is_expired(Timestamp(owner.expires_at), now) && owner.is_active {
                return Ok(self.accept_cached(cache, digest, owner, now));
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
        Ok(self.accept_cached(cache, digest, owner, now))
    }

    /// An accepted check of the cache's: its touch, if due, waits for the batch.
    fn accept_cached(
        &self,
        cache: &TokenCache,
        digest: TokenDigest,
        owner: TokenOwner,
        now: Timestamp,
    ) -> Principal {
        let (principal, touch) = principal_of(owner, &digest, now, &self.policy);
        if let Some(touch) = touch {
            cache.touch(PendingTouch {
                token_id: touch.token_id,
                digest,
                used_at: touch.now,
                expires_at: touch.expires_at,
                touched_before: touch.touched_before,
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

/// A last-use write that is due.
#[derive(Debug, Clone, Copy)]
pub struct Touch {
    token_id: i64,
    now: Timestamp,
    expires_at: Timestamp,
    touched_before: Timestamp,
}

/// Finds the token and decides: refused, or accepted with a touch if due.
pub fn check(
    conn: &mut AnyConnection,
    digest: &TokenDigest,
    now: Timestamp,
    policy: &TokenPolicy,
) -> Result<(Principal, Option<Touch>), Error> {
    let owner = tokens::by_digest(conn, digest.as_bytes())?
        .ok_or(Error::Unauthenticated(AuthFailure::InvalidToken))?;
    refuse_if_dead(&owner, now)?;
    Ok(principal_of(owner, digest, now, policy))
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
    now: Timestamp,
    policy: &TokenPolicy,
) -> (Principal, Option<Touch>) {
    let touch = policy
        .needs_touch(Timestamp(owner.last_used_at), now)
        .then(|| Touch {
            token_id: owner.token_id,
            now,
            expires_at: policy.expiry(Timestamp(owner.created_at), now),
            touched_before: now.minus(policy.touch_interval),
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
        touch.token_id,
        touch.now.millis(),
        touch.expires_at.millis(),
        touch.touched_before.millis(),
    )?;
    Ok(())
}

/// A freshly issued token; the only place its key exists in clear.
#[derive(Debug)]
pub struct IssuedToken {
    pub key: PlainToken,
    pub client: ClientName,
    pub scopes: Scopes,
    pub expires_at: Timestamp,
}

/// What a login asks a token for: the client, its scopes and the user agent.
#[derive(Debug)]
pub struct Grant<'a> {
    pub client: ClientName,
    pub scopes: Scopes,
    pub user_agent: Option<&'a str>,
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
        user_agent,
    } = grant;
    let expires_at = policy.expiry(now, now);
    let stored_scopes = scopes.to_stored();
    conn.transaction::<_, Error, _>(|conn| {
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
            user_agent,
            scopes: &stored_scopes,
            via: &via,
        };
        // A row that a concurrent revocation deleted after it was found is
        // replaced by nothing: then the key gets a row of its own.
        let replaced = match tokens::id_for_client(conn, user_id, client.as_str())? {
            Some(existing) => tokens::replace(conn, existing, &new)? > 0,
            None => false,
        };
        if !replaced {
            if tokens::count_live(conn, user_id, now.millis())? >= i64::from(max_clients) {
                return Err(Error::Forbidden(TOO_MANY_CLIENTS));
            }
            tokens::insert(conn, &new)?;
        }
        Ok(())
    })?;
    Ok(IssuedToken {
        key,
        client,
        scopes,
        expires_at,
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

/// Revokes the tokens; returns how many.
pub fn revoke(conn: &mut AnyConnection, revocation: &Revocation) -> Result<usize, Error> {
    let revoked = match revocation {
        Revocation::Token { digest } => tokens::delete_by_digest(conn, digest.as_bytes())?,
        Revocation::Device { user_id, client } => {
            // A name no client can have names none of the user's: refused
            // before the query (PostgreSQL cannot even take a NUL in text).
            if ClientName::parse(client).is_err() {
                return Err(Error::NotFound);
            }
            match tokens::delete_client(conn, *user_id, client)? {
                0 => return Err(Error::NotFound),
                revoked => revoked,
            }
        }
        Revocation::All { user_id } => tokens::delete_all_for_user(conn, *user_id)?,
        Revocation::AllBut {
            user_id,
            keep_token_id,
        } => tokens::delete_others(conn, *user_id, *keep_token_id)?,
    };
    Ok(revoked)
}

/// [`revoke`] off the async workers, counted under `cause`.
pub async fn revoke_counted(
    services: &super::Services,
    revocation: Revocation,
    cause: RevocationCause,
) -> Result<usize, Error> {
    let revoked = services.db(move |conn| revoke(conn, &revocation)).await?;
    services.metrics.revoked(cause, revoked);
    Ok(revoked)
}

/// Deletes every token that has expired by `now`; returns how many.
pub fn prune_expired(conn: &mut AnyConnection, now: Timestamp) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        let deleted = tokens::delete_expired_batch(conn, now.millis(), 1000)?;
        total += deleted;
        if deleted == 0 {
            return Ok(total);
        }
    }
}

/// Tokens of all users that have not expired yet.
pub fn count_active(conn: &mut AnyConnection) -> Result<i64, Error> {
    Ok(tokens::count_all_live(conn, Timestamp::now().millis())?)
}
