//! A token's life: issuing one per (user, client), and listing and
//! revoking a user's devices (here; revocations are counted here, once,
//! whoever asks for them); checking a presented one ([`verify`], with its
//! [`cache`], whose misses are read in batches by [`lookup_batch`], and on
//! SQLite its touches written in batches by [`touch_writes`]); JWT
//! access tokens on device keys ([`jwt`]); the checks asked by other
//! services ([`other_services`]).

pub mod cache;
pub mod dpop;
pub mod jwt;
pub mod lookup_batch;
pub mod other_services;
pub mod revocation_sync;
pub mod rotation;
pub mod secret_scanning;
pub mod touch_writes;
pub mod verify;

use crate::db::events::What;
use crate::db::tokens::RevokedToken;
use crate::db::{tokens, users, AnyConnection};
use crate::domain::event::{Actor, EventKind, EventSource, RevokedBy};
use crate::domain::oidc::Via;
use crate::domain::{ClientName, PlainToken, Scopes, Timestamp, TokenDigest, TokenPolicy};
use crate::metrics::RevocationCause;
use crate::service::shared::events;
use crate::service::Error;
use serde::Serialize;

use crate::domain::messages::TOO_MANY_CLIENTS;

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
    /// Whether the key is bound to a DPoP key (its answer's `token_type`).
    pub dpop_bound: bool,
}

/// What a login asks a token for: the client and its scopes; and where the
/// login comes from (its address and user agent are kept with the token).
#[derive(Debug)]
pub struct Grant<'a> {
    pub client: ClientName,
    pub scopes: Scopes,
    pub source: &'a EventSource,
    /// The thumbprint of the DPoP key the sign-in proved it holds: the key
    /// issued is bound to it.
    pub dpop_jkt: Option<String>,
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

/// Refuses a sign-in without a DPoP proof by a client of
/// `DPOP_REQUIRED_CLIENTS`.
pub fn check_dpop_required(
    settings: &crate::config::Settings,
    client: &ClientName,
    bound: bool,
) -> Result<(), Error> {
    if !bound && settings.dpop.requires_proof(client.as_str()) {
        return Err(Error::field(
            "non_field_errors",
            crate::domain::messages::DPOP_REQUIRED,
        ));
    }
    Ok(())
}

/// Refuses scopes beyond `ALLOWED_SCOPES`, as a problem of the field `scopes`.
pub fn check_allowed_scopes(
    settings: &crate::config::Settings,
    scopes: &Scopes,
) -> Result<(), Error> {
    let allowed = &settings.tokens.allowed_scopes;
    allowed
        .check(scopes)
        .map_err(|message| Error::field("scopes", message))
}

/// What issuing takes of the settings (`TOKEN_TTL`, ..., `MAX_CLIENTS_PER_USER`),
/// read before a database closure, which must own what it uses.
pub struct IssueLimits {
    policy: TokenPolicy,
    max_clients: u32,
}

impl IssueLimits {
    pub fn of(settings: &crate::config::Settings) -> Self {
        IssueLimits {
            policy: settings.tokens.policy(),
            max_clients: settings.tokens.max_clients_per_user,
        }
    }

    /// [`issue_via`] now, within these limits (`Via::Password` is [`issue`]).
    pub fn issue(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        hash: CheckedHash<'_>,
        grant: Grant<'_>,
        via: &Via,
    ) -> Result<IssuedToken, Error> {
        let (policy, max_clients) = (&self.policy, self.max_clients);
        issue_via(
            conn,
            user_id,
            hash,
            grant,
            via,
            Timestamp::now(),
            policy,
            max_clients,
        )
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
        dpop_jkt,
    } = grant;
    let expires_at = policy.expiry(now, now);
    let stored_scopes = scopes.to_stored();
    let ip = source.ip.map(|ip| ip.to_canonical().to_string());
    let new_device = crate::db::transaction::<_, Error, _>(conn, |conn| {
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
            dpop_jkt: dpop_jkt.as_deref(),
        };
        // A row that a concurrent revocation deleted after it was found is
        // replaced by nothing: then the key gets a row of its own.
        let replaced = match tokens::id_for_client(conn, user_id, client.as_str())? {
            Some((existing, old_expiry, old_digest)) => {
                let replaced = tokens::replace(conn, existing, &new)? > 0;
                if replaced && old_expiry > now.millis() {
                    let old = RevokedToken {
                        user_id,
                        client: client.as_str().to_owned(),
                        digest: old_digest,
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
            .detail(&via)
            .of_device(digest.as_bytes());
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
        dpop_bound: dpop_jkt.is_some(),
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
    /// Whether the key is bound to a device's key (DPoP): usable only with
    /// a proof by that key.
    pub dpop: bool,
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
            dpop: device.dpop_jkt.is_some(),
        })
        .collect())
}

/// Which tokens to revoke.
#[derive(Debug, Clone)]
pub enum Revocation {
    /// The presented token only, by its digest (a key that a rotation
    /// retired names its device).
    Token { digest: TokenDigest },
    /// Every token among these digests (bulk `/revoke`), in one statement.
    Tokens { digests: Vec<TokenDigest> },
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
    crate::db::transaction::<_, Error, _>(conn, |conn| {
        let revoked = match revocation {
            Revocation::Token { digest } => {
                let mut revoked = tokens::delete_by_digest(conn, digest.as_bytes())?;
                let digests = [digest.as_bytes().to_vec()];
                revoked.extend(rotation::delete_devices_of_retired(conn, &digests)?);
                revoked
            }
            Revocation::Tokens { digests } => {
                let digests: Vec<Vec<u8>> = digests
                    .iter()
                    .map(|digest| digest.as_bytes().to_vec())
                    .collect();
                let mut revoked = tokens::delete_by_digests(conn, &digests)?;
                revoked.extend(rotation::delete_devices_of_retired(conn, &digests)?);
                revoked
            }
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
                let logout = What::to_user(EventKind::Logout, token.user_id)
                    .on_client(&token.client)
                    .of_device(&token.digest);
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
        (RevocationCause::Leaked, _) => RevokedBy::Leaked,
        (RevocationCause::ReuseDetected, _) => RevokedBy::ReuseDetected,
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
    crate::db::transaction::<_, Error, _>(conn, |conn| {
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

/// How many live devices each of `user_ids` holds (absent: none), in one
/// query for a whole page of users.
pub fn live_by_user(
    conn: &mut AnyConnection,
    user_ids: &[i64],
) -> Result<std::collections::HashMap<i64, i64>, Error> {
    let now = Timestamp::now().millis();
    Ok(tokens::count_live_by_user(conn, user_ids, now)?
        .into_iter()
        .collect())
}

/// Live devices counted by client name, the `limit` most used clients.
pub fn live_by_client(conn: &mut AnyConnection, limit: i64) -> Result<Vec<(String, i64)>, Error> {
    Ok(tokens::count_live_by_client(
        conn,
        Timestamp::now().millis(),
        limit,
    )?)
}
