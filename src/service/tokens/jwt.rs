//! JWT access tokens on device keys: issuing them (`/token`,
//! `/token/refresh`), checking them wherever a key is accepted, the JWKS,
//! and the signing keys' life (`jwt rotate-key`, `jwt keys`).
//!
//! The signer is the one unretired row of `signing_keys`, made at first
//! start by whichever instance inserts first; every instance re-reads the
//! keys every [`RELOAD_EVERY`] (and on a kid it does not know), so a
//! rotation by the command line is picked up without a restart. A retired
//! key stays in the JWKS for `ACCESS_TOKEN_LIFETIME` (plus that reload
//! interval, during which another instance may still have signed with it)
//! after its retirement, then leaves.
//!
//! A token is checked once: its signature and claims, then its device (the
//! `sid` must be the device's current key's). What that check found is kept
//! under the token's SHA-256 until the token expires, so a busy token costs
//! a hash and the device's usual lookup by digest, as a key does.

use crate::config::Settings;
use crate::db::{signing_keys, tokens, AnyConnection, DbPool};
use crate::domain::jwt::{
    self, AccessClaims, Expected, Jwk, Refusal, SidKey, SigningKey, StorageKey, VerifyingKey,
};
use crate::domain::principal::Principal;
use crate::domain::{SecretKey, Timestamp, TokenDigest};
use crate::service::{run_blocking, AuthFailure, Error};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How stale an instance's view of the signing keys may be.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// At most one extra reload per this interval for tokens of unknown kids.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(1);
/// Checked tokens remembered at once; past it, the expired ones are dropped,
/// and if that is not enough, all of them.
const REMEMBERED: usize = 100_000;

/// Access tokens: the keys, and what checking and issuing them needs.
#[derive(Clone)]
pub struct AccessTokens(Arc<Inner>);

struct Inner {
    pool: DbPool,
    /// `JWT_PRIVATE_KEY_FILE`'s key, which then is the only one.
    file_key: Option<SigningKey>,
    storage: StorageKey,
    sid_key: SidKey,
    expected: Expected,
    lifetime: Duration,
    keys: RwLock<Arc<Keys>>,
    checked: Mutex<HashMap<[u8; 32], Checked>>,
}

struct Keys {
    /// Unreadable when `SECRET_KEY` is not the one it was stored under:
    /// then tokens are still checked, but none is issued.
    signer: Result<SigningKey, String>,
    verifying: Vec<VerifyingKey>,
    loaded_at: Instant,
}

/// What checking a token found: its device's digest and its times.
#[derive(Clone, Copy)]
struct Checked {
    digest: TokenDigest,
    exp: i64,
}

/// How long a key keeps verifying after its retirement.
fn verifies_for(lifetime: Duration) -> Duration {
    lifetime + RELOAD_EVERY
}

impl AccessTokens {
    /// Reads the keys, making the first signer if there is none (or the
    /// `JWT_PRIVATE_KEY_FILE` one).
    pub fn start(
        conn: &mut AnyConnection,
        pool: DbPool,
        settings: &Settings,
        secret: &SecretKey,
    ) -> Result<Self, String> {
        let file_key = match &settings.jwt.jwt_private_key_file {
            Some(path) => Some(read_key_file(path)?),
            None => None,
        };
        let storage = StorageKey::derive(secret);
        if file_key.is_none() {
            ensure_signer(conn, &storage)?;
        }
        let lifetime = settings.jwt.access_token_lifetime;
        let keys = load_keys(conn, file_key.as_ref(), &storage, lifetime)
            .map_err(|e| format!("cannot read the JWT signing keys: {}", e.chain()))?;
        if let Err(unreadable) = &keys.signer {
            log::warn!("no access token can be issued: {unreadable}");
        }
        Ok(AccessTokens(Arc::new(Inner {
            pool,
            file_key,
            storage,
            sid_key: SidKey::derive(secret),
            expected: Expected {
                issuer: settings.jwt.jwt_issuer.clone(),
                audience: settings.jwt.jwt_audience.clone(),
            },
            lifetime,
            keys: RwLock::new(Arc::new(keys)),
            checked: Mutex::new(HashMap::new()),
        })))
    }

    /// A new access token for the device `principal` authenticated with.
    pub async fn issue(&self, principal: &Principal) -> Result<String, Error> {
        let keys = self.keys(false).await?;
        let now = Timestamp::now().unix_seconds();
        let claims = AccessClaims {
            token_type: jwt::ACCESS_TOKEN_TYPE.to_owned(),
            exp: now + i64::try_from(self.0.lifetime.as_secs()).unwrap_or(i64::MAX / 2),
            iat: now,
            jti: jwt::new_jti(),
            user_id: principal.user_id,
            sub: principal.user_id.to_string(),
            username: principal.username.clone(),
            client: principal.client.clone(),
            sid: self.0.sid_key.sid_of(&principal.digest),
            scope: principal
                .is_restricted()
                .then(|| principal.scopes.to_stored()),
            iss: self.0.expected.issuer.clone(),
            aud: self.0.expected.audience.clone(),
            cnf: principal
                .dpop_jkt
                .clone()
                .map(|jkt| jwt::Confirmation { jkt }),
        };
        let signer = keys.signer.as_ref().map_err(Error::internal)?;
        signer.sign(&claims).map_err(Error::internal)
    }

    /// The digest of the device an access token was issued for, if the
    /// token holds and was issued for that device's current key; else why
    /// not. Whether the device is live is the caller's check, by digest.
    pub async fn device_digest(
        &self,
        token: &str,
    ) -> Result<Result<TokenDigest, AuthFailure>, Error> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Timestamp::now().unix_seconds();
        if let Some(checked) = self.remembered(&fingerprint) {
            return Ok(match checked.exp > now {
                true => Ok(checked.digest),
                false => Err(AuthFailure::Expired),
            });
        }
        let claims = match self.verify(token).await? {
            Ok(claims) => claims,
            Err(Refusal::Expired) => return Ok(Err(AuthFailure::Expired)),
            Err(_) => return Ok(Err(AuthFailure::InvalidToken)),
        };
        let (user_id, client) = (claims.user_id, claims.client.clone());
        let stored = run_blocking(&self.0.pool, move |conn| {
            Ok(tokens::digest_for_client(conn, user_id, &client)?)
        })
        .await?;
        let Some(digest) = stored.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) else {
            return Ok(Err(AuthFailure::InvalidToken));
        };
        let digest = TokenDigest(digest);
        if !self.0.sid_key.matches(&claims.sid, &digest)
            && !self.minted_before_a_rotation(&claims).await?
        {
            return Ok(Err(AuthFailure::InvalidToken));
        }
        self.remember(
            fingerprint,
            Checked {
                digest,
                exp: claims.exp,
            },
        );
        Ok(Ok(digest))
    }

    /// Whether the token was minted from a key of its device that a
    /// rotation retired since: it stands for the device until it expires,
    /// as the device's access tokens do.
    async fn minted_before_a_rotation(&self, claims: &AccessClaims) -> Result<bool, Error> {
        let (user_id, client) = (claims.user_id, claims.client.clone());
        let retired = run_blocking(&self.0.pool, move |conn| {
            Ok(crate::db::rotation::retired_of_client(
                conn, user_id, &client,
            )?)
        })
        .await?;
        Ok(retired
            .into_iter()
            .filter_map(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .any(|digest| self.0.sid_key.matches(&claims.sid, &TokenDigest(digest))))
    }

    /// The claims of a token whose signature and claims hold; its device
    /// is not looked at.
    pub async fn verify(&self, token: &str) -> Result<Result<AccessClaims, Refusal>, Error> {
        let keys = self.keys(false).await?;
        match jwt::verify(token, &keys.verifying, &self.0.expected) {
            Err(Refusal::UnknownKid) if keys.loaded_at.elapsed() >= UNKNOWN_KID_RELOAD => {
                let keys = self.keys(true).await?;
                Ok(jwt::verify(token, &keys.verifying, &self.0.expected))
            }
            checked => Ok(checked),
        }
    }

    /// Every public key that may still verify an unexpired token.
    pub async fn jwks(&self) -> Result<Vec<Jwk>, Error> {
        let keys = self.keys(false).await?;
        Ok(keys.verifying.iter().map(|key| key.jwk.clone()).collect())
    }

    fn remembered(&self, fingerprint: &[u8; 32]) -> Option<Checked> {
        let checked = self.0.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.get(fingerprint).copied()
    }

    fn remember(&self, fingerprint: [u8; 32], found: Checked) {
        let mut checked = self.0.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.len() >= REMEMBERED {
            let now = Timestamp::now().unix_seconds();
            checked.retain(|_, kept| kept.exp > now);
            if checked.len() >= REMEMBERED {
                checked.clear();
            }
        }
        checked.insert(fingerprint, found);
    }

    /// The keys, re-read when older than [`RELOAD_EVERY`] (or `now`). A
    /// reload that fails keeps the keys there are, unless they are all
    /// there is to go on for long.
    async fn keys(&self, now: bool) -> Result<Arc<Keys>, Error> {
        let current = self
            .0
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !now && current.loaded_at.elapsed() < RELOAD_EVERY {
            return Ok(current);
        }
        let this = self.clone();
        let loaded = run_blocking(&self.0.pool, move |conn| {
            let inner = &this.0;
            load_keys(
                conn,
                inner.file_key.as_ref(),
                &inner.storage,
                inner.lifetime,
            )
        })
        .await;
        match loaded {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.0.keys.write().unwrap_or_else(|p| p.into_inner()) = keys.clone();
                Ok(keys)
            }
            Err(error) if current.loaded_at.elapsed() < verifies_for(self.0.lifetime) => {
                log::warn!(
                    "cannot re-read the JWT signing keys, keeping those read before: {}",
                    error.chain()
                );
                Ok(current)
            }
            Err(error) => Err(error),
        }
    }
}

fn load_keys(
    conn: &mut AnyConnection,
    file_key: Option<&SigningKey>,
    storage: &StorageKey,
    lifetime: Duration,
) -> Result<Keys, Error> {
    if let Some(file_key) = file_key {
        return Ok(Keys {
            verifying: vec![
                VerifyingKey::new(&file_key.kid, file_key.public_key()).map_err(Error::internal)?
            ],
            signer: Ok(file_key.clone()),
            loaded_at: Instant::now(),
        });
    }
    let since = Timestamp::now().minus(verifies_for(lifetime)).millis();
    let rows = signing_keys::verifying(conn, since)?;
    let current = rows
        .iter()
        .find(|row| row.retired_at.is_none())
        .ok_or_else(|| Error::internal("no current JWT signing key"))?;
    let signer = SigningKey::open(&current.kid, &current.encrypted_private_key, storage);
    let verifying = rows
        .iter()
        .map(|row| VerifyingKey::new(&row.kid, &row.public_key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::internal)?;
    Ok(Keys {
        signer,
        verifying,
        loaded_at: Instant::now(),
    })
}

fn read_key_file(path: &std::path::Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("JWT_PRIVATE_KEY_FILE: cannot read {}: {e}", path.display()))?;
    SigningKey::from_pem(&text)
        .map_err(|e| format!("JWT_PRIVATE_KEY_FILE: {}: {e}", path.display()))
}

fn storage_error(e: diesel::result::Error) -> String {
    format!("cannot read or store the JWT signing keys: {e}")
}

/// Makes a signer unless there is one; several processes doing this at
/// once end up with the same one.
fn ensure_signer(conn: &mut AnyConnection, storage: &StorageKey) -> Result<(), String> {
    if signing_keys::current(conn)
        .map_err(storage_error)?
        .is_some()
    {
        return Ok(());
    }
    let key = SigningKey::generate()?;
    let sealed = key.seal(storage)?;
    let stored = signing_keys::insert_current_or_get(
        conn,
        &signing_keys::NewSigningKey {
            kid: &key.kid,
            public_key: key.public_key(),
            encrypted_private_key: &sealed,
            created_at: Timestamp::now().millis(),
        },
    )
    .map_err(storage_error)?;
    if stored.kid == key.kid {
        log::info!("made the first JWT signing key, kid {}", key.kid);
    }
    Ok(())
}

/// `jwt rotate-key`: a new signer; the old one keeps verifying for
/// `ACCESS_TOKEN_LIFETIME`. Returns the new kid.
pub fn rotate_key(
    conn: &mut AnyConnection,
    settings: &Settings,
    secret: &SecretKey,
) -> Result<String, String> {
    if let Some(path) = &settings.jwt.jwt_private_key_file {
        return Err(format!(
            "the signing key is JWT_PRIVATE_KEY_FILE ({}): rotate it by replacing that file",
            path.display()
        ));
    }
    let key = SigningKey::generate()?;
    let sealed = key.seal(&StorageKey::derive(secret))?;
    let now = Timestamp::now();
    signing_keys::rotate(
        conn,
        &signing_keys::NewSigningKey {
            kid: &key.kid,
            public_key: key.public_key(),
            encrypted_private_key: &sealed,
            created_at: now.millis(),
        },
        now.millis(),
    )
    .map_err(storage_error)?;
    // Keys that verify nothing any more are of no use to anyone.
    let expired_before = now.minus(verifies_for(settings.jwt.access_token_lifetime));
    signing_keys::delete_retired_before(conn, expired_before.millis()).map_err(storage_error)?;
    Ok(key.kid)
}

/// A signing key as `jwt keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: Timestamp,
    /// `None` for the current signer.
    pub retired_at: Option<Timestamp>,
    /// Until when it stays in the JWKS; `None` while it signs.
    pub verifies_until: Option<Timestamp>,
}

/// `jwt keys`: every stored key, newest first.
pub fn list_keys(conn: &mut AnyConnection, settings: &Settings) -> Result<Vec<KeyInfo>, String> {
    let rows = signing_keys::all(conn).map_err(storage_error)?;
    let lasts = verifies_for(settings.jwt.access_token_lifetime);
    Ok(rows
        .into_iter()
        .map(|row| KeyInfo {
            kid: row.kid,
            created_at: Timestamp(row.created_at),
            retired_at: row.retired_at.map(Timestamp),
            verifies_until: row.retired_at.map(|at| Timestamp(at).plus(lasts)),
        })
        .collect())
}
