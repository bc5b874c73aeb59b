//! The OAuth device grant (RFC 8628): a device without a keyboard asks for
//! codes ([`authorize`]), a signed-in person looks at the request and
//! approves or denies it ([`pending`], [`decide`]), and the device, polling
//! ([`redeem`]), gets an ordinary device key for its client, issued as a
//! login is (client limit, replacement, `via: "device"`, `NEW_DEVICE_MAIL`).
//!
//! A user code that matches nothing is a guess: it counts as a failed
//! sign-in of the person who typed it, and of their address, under
//! `LOGIN_THROTTLE`.

use super::throttle::{
    address_scope, count_attempt, count_use, not_a_failure, record_throttled, take_back,
    username_scope, Guess,
};
use super::two_factor::check_second_factor;
use crate::db::device_grants::{self, GrantRow, NewGrant};
use crate::db::{tokens as token_rows, users};
use crate::domain::device_grant::{
    narrow, too_soon, DeviceCode, GrantState, UserCode, SLOW_DOWN_SECONDS, USER_CODE_KEY_PURPOSE,
};
use crate::domain::event::{EventKind, EventSource};
use crate::domain::messages::TOO_MANY_CLIENTS;
use crate::domain::oidc::Via;
use crate::domain::{ClientName, Scopes, Timestamp};
use crate::metrics::DeviceGrantOutcome;
use crate::service::shared::events;
use crate::service::tokens::{self, CheckedHash, Grant, IssueLimits, IssuedToken};
use crate::service::{Error, Services};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The codes handed to a device.
#[derive(Debug)]
pub struct Authorization {
    pub device_code: DeviceCode,
    pub user_code: UserCode,
    pub expires_in: u64,
    pub interval: i64,
}

/// Stores a new grant for `client` with `scopes` (already valid; checked
/// here against `ALLOWED_SCOPES`), under `DEVICE_CODE_THROTTLE` per address.
pub async fn authorize(
    services: &Services,
    client: ClientName,
    scopes: Scopes,
    source: &EventSource,
) -> Result<Authorization, Error> {
    tokens::check_allowed_scopes(&services.settings, &scopes)?;
    let settings = &services.settings.device_grant;
    if let Some(address) = source.ip {
        let scopes = vec![address_scope("device", address)];
        count_use(services, settings.device_code_throttle, scopes)
            .await
            .inspect_err(|error| {
                if matches!(error, Error::Throttled(_)) {
                    services.metrics.device_grant(DeviceGrantOutcome::Throttled);
                }
            })?;
    }
    let ttl = settings.device_code_ttl;
    let interval = settings.device_poll_interval;
    let key = services.secret_key.derive_key(USER_CODE_KEY_PURPOSE);
    let source = source.clone();
    let authorization = services
        .db(move |conn| {
            // A user code that a stored grant has already: new codes.
            for _ in 0..5 {
                let (device_code, user_code) = (DeviceCode::generate(), UserCode::generate());
                let now = Timestamp::now();
                let ip = source.ip.map(|ip| ip.to_canonical().to_string());
                let grant = NewGrant {
                    device_code_digest: &DeviceCode::digest_of(device_code.expose()),
                    user_code_digest: &user_code.digest(&key),
                    client: client.as_str(),
                    scopes: &scopes.to_stored(),
                    ip: ip.as_deref(),
                    user_agent: source.user_agent.as_deref(),
                    created_at: now.millis(),
                    expires_at: now.plus(ttl).millis(),
                    poll_interval: interval,
                    state: GrantState::Pending.as_str(),
                };
                match device_grants::insert(conn, &grant) {
                    Ok(_) => {
                        return Ok(Authorization {
                            device_code,
                            user_code,
                            expires_in: ttl.as_secs(),
                            interval,
                        })
                    }
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
                    Err(other) => return Err(other.into()),
                }
            }
            Err(Error::internal("no free user code in five tries"))
        })
        .await?;
    services.metrics.device_grant(DeviceGrantOutcome::Requested);
    Ok(authorization)
}

/// Why a poll got no key (RFC 8628 §3.5's error codes).
#[derive(Debug)]
pub enum PollRefusal {
    Pending,
    SlowDown,
    Denied,
    Expired,
    InvalidGrant,
    Failed(Error),
}

impl From<Error> for PollRefusal {
    fn from(error: Error) -> Self {
        PollRefusal::Failed(error)
    }
}

impl From<DieselError> for PollRefusal {
    fn from(error: DieselError) -> Self {
        PollRefusal::Failed(error.into())
    }
}

/// A device's poll with `device_code` as `client_id`: the key once the
/// grant is approved (and then never again), else why not.
pub async fn redeem(
    services: &Services,
    device_code: &str,
    client_id: &str,
    dpop_jkt: Option<String>,
    source: &EventSource,
) -> Result<IssuedToken, PollRefusal> {
    let digest = DeviceCode::digest_of(device_code);
    let client_id = client_id.to_owned();
    let limits = IssueLimits::of(&services.settings);
    let owned_source = source.clone();
    let outcome = services
        .db(move |conn| {
            Ok(poll(
                conn,
                &digest,
                &client_id,
                dpop_jkt,
                &limits,
                &owned_source,
            ))
        })
        .await
        .map_err(PollRefusal::Failed)
        .and_then(|polled| polled);
    let counted = match &outcome {
        Ok(_) => Some(DeviceGrantOutcome::Issued),
        Err(PollRefusal::Pending) => Some(DeviceGrantOutcome::Pending),
        Err(PollRefusal::SlowDown) => Some(DeviceGrantOutcome::SlowDown),
        Err(PollRefusal::Denied) => Some(DeviceGrantOutcome::AccessDenied),
        Err(PollRefusal::Expired) => Some(DeviceGrantOutcome::Expired),
        Err(PollRefusal::InvalidGrant) => Some(DeviceGrantOutcome::InvalidGrant),
        Err(PollRefusal::Failed(_)) => None,
    };
    if let Some(counted) = counted {
        services.metrics.device_grant(counted);
    }
    let issued = outcome?;
    super::new_device::tell_if_new(services, &issued, source).await;
    Ok(issued)
}

/// One poll, in the database.
fn poll(
    conn: &mut crate::db::AnyConnection,
    digest: &[u8],
    client_id: &str,
    dpop_jkt: Option<String>,
    limits: &IssueLimits,
    source: &EventSource,
) -> Result<IssuedToken, PollRefusal> {
    let Some(grant) = device_grants::by_device_code(conn, digest)? else {
        return Err(PollRefusal::InvalidGrant);
    };
    let state = GrantState::from_stored(&grant.state).ok_or(PollRefusal::InvalidGrant)?;
    if grant.client != client_id || state == GrantState::Spent {
        return Err(PollRefusal::InvalidGrant);
    }
    let now = Timestamp::now();
    if now.millis() >= grant.expires_at {
        return Err(PollRefusal::Expired);
    }
    match state {
        GrantState::Pending => {
            let soon = too_soon(grant.last_poll_at, grant.poll_interval, now);
            // A concurrent poll recorded since this one read the row is one
            // that came too soon, too.
            if soon
                || !device_grants::record_poll(conn, grant.id, grant.last_poll_at, now.millis())?
            {
                device_grants::slow_down(conn, grant.id, SLOW_DOWN_SECONDS, now.millis())?;
                return Err(PollRefusal::SlowDown);
            }
            Err(PollRefusal::Pending)
        }
        GrantState::Denied => Err(PollRefusal::Denied),
        GrantState::Approved => issue(conn, &grant, dpop_jkt, limits, source),
        GrantState::Spent => Err(PollRefusal::InvalidGrant),
    }
}

/// Spends an approved grant and issues its key, in one transaction: of two
/// polls at once, one gets the key and the other `invalid_grant`.
fn issue(
    conn: &mut crate::db::AnyConnection,
    grant: &GrantRow,
    dpop_jkt: Option<String>,
    limits: &IssueLimits,
    source: &EventSource,
) -> Result<IssuedToken, PollRefusal> {
    let (Some(user_id), Ok(client)) = (grant.approver_id, ClientName::parse(&grant.client)) else {
        return Err(PollRefusal::InvalidGrant);
    };
    let scopes = Scopes::from_stored(grant.approved_scopes.as_deref().unwrap_or(&grant.scopes));
    crate::db::transaction::<_, PollRefusal, _>(conn, |conn| {
        if !device_grants::spend(conn, grant.id)? {
            return Err(PollRefusal::InvalidGrant);
        }
        let hash = users::password_hash(conn, user_id)?.ok_or(PollRefusal::InvalidGrant)?;
        let grant = Grant {
            client,
            scopes,
            source,
            dpop_jkt,
        };
        match limits.issue(conn, user_id, CheckedHash::kept(&hash), grant, &Via::Device) {
            Ok(issued) => Ok(issued),
            // The user was deactivated, or filled their client list since.
            Err(Error::BadCredentials | Error::Forbidden(_)) => Err(PollRefusal::Denied),
            Err(other) => Err(other.into()),
        }
    })
}

/// What a person is shown of a pending request before deciding.
#[derive(Debug, Clone)]
pub struct PendingGrant {
    pub client: String,
    pub scopes: Scopes,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl PendingGrant {
    fn shown(grant: GrantRow) -> Self {
        PendingGrant {
            client: grant.client,
            scopes: Scopes::from_stored(&grant.scopes),
            ip: grant.ip,
            user_agent: grant.user_agent,
            created_at: Timestamp(grant.created_at),
            expires_at: Timestamp(grant.expires_at),
        }
    }
}

/// Who looks at or decides a grant: a signed-in user.
#[derive(Debug, Clone)]
pub struct Approver {
    pub user_id: i64,
    pub username: String,
    pub two_factor: bool,
}

/// The pending request of `user_code`, as typed; `NotFound` for anything
/// else, counted as a failed sign-in of `approver` and of the address.
pub async fn pending(
    services: &Services,
    approver: &Approver,
    user_code: &str,
    source: &EventSource,
) -> Result<PendingGrant, Error> {
    let grant = find_pending(services, approver, user_code, source).await?;
    Ok(PendingGrant::shown(grant))
}

/// The pending request of `user_code` for the hosted page, before anyone
/// signed in: a code that matches none counts against the address under
/// `LOGIN_THROTTLE` (a guess at someone's request), one that matches is
/// taken back.
pub async fn pending_for_page(
    services: &Services,
    user_code: &str,
    source: &EventSource,
) -> Result<PendingGrant, Error> {
    let counted = match source.ip {
        Some(address) => {
            let limit = services.settings.throttles.login_throttle;
            Some(count_use(services, limit, vec![address_scope("device", address)]).await?)
        }
        None => None,
    };
    let Some(grant) = pending_by_user_code(services, user_code).await? else {
        services
            .metrics
            .device_grant(DeviceGrantOutcome::UnknownCode);
        return Err(Error::NotFound);
    };
    if let Some(counted) = counted {
        services.db(move |conn| take_back(conn, &counted)).await?;
    }
    Ok(PendingGrant::shown(grant))
}

/// What the approver decides.
#[derive(Debug, Clone)]
pub enum Decision {
    /// With the scopes narrowed, or as requested; the second factor when
    /// the approver has one.
    Approve {
        scopes: Option<Scopes>,
        otp: Option<String>,
    },
    Deny,
}

/// Approves or denies the pending request of `user_code`: the client and
/// the scopes it will have (for a denial, as requested).
pub async fn decide(
    services: &Services,
    approver: &Approver,
    user_code: &str,
    decision: Decision,
    source: &EventSource,
) -> Result<(String, Scopes), Error> {
    let grant = find_pending(services, approver, user_code, source).await?;
    let requested = Scopes::from_stored(&grant.scopes);
    let (state, scopes) = match decision {
        Decision::Deny => (GrantState::Denied, requested),
        Decision::Approve { scopes, otp } => {
            let scopes = narrow(&requested, scopes)
                .ok_or_else(|| Error::field("scopes", NARROWER_SCOPES))?;
            tokens::check_allowed_scopes(&services.settings, &scopes)?;
            let checked = check_second_factor(
                services,
                approver.user_id,
                approver.two_factor,
                otp.as_deref(),
                &[],
                source,
                "device",
            )
            .await;
            if let Err(Error::WrongCode { user_id, .. }) = &checked {
                let user_id = Some(*user_id);
                events::record_attempt(services, source, EventKind::LoginFailed, user_id, "device")
                    .await;
            }
            checked?;
            (GrantState::Approved, scopes)
        }
    };
    let max_clients = i64::from(services.settings.tokens.max_clients_per_user);
    let (user_id, id, client) = (approver.user_id, grant.id, grant.client.clone());
    let stored = scopes.to_stored();
    let source_owned = source.clone();
    let outcome = services
        .db(move |conn| {
            crate::db::transaction::<_, Error, _>(conn, |conn| {
                let now = Timestamp::now().millis();
                let over_limit = state == GrantState::Approved
                    && token_rows::id_for_client(conn, user_id, &client)?.is_none()
                    && token_rows::count_live(conn, user_id, now)? >= max_clients;
                let state = if over_limit {
                    GrantState::Denied
                } else {
                    state
                };
                let kind = match state {
                    GrantState::Approved => EventKind::DeviceApproved,
                    _ => EventKind::DeviceDenied,
                };
                let approved = (state == GrantState::Approved).then_some(stored.as_str());
                if !device_grants::decide(conn, id, state.as_str(), user_id, approved, now)? {
                    return Err(Error::NotFound);
                }
                let mut what = crate::db::events::What::to_user(kind, user_id).on_client(&client);
                if over_limit {
                    what = what.detail("too_many_clients");
                }
                events::record(conn, &source_owned, what, Timestamp(now))?;
                Ok(over_limit)
            })
        })
        .await?;
    let counted = match (&state, outcome) {
        (_, true) => DeviceGrantOutcome::TooManyClients,
        (GrantState::Approved, false) => DeviceGrantOutcome::Approved,
        _ => DeviceGrantOutcome::Denied,
    };
    services.metrics.device_grant(counted);
    if outcome {
        return Err(Error::Forbidden(TOO_MANY_CLIENTS));
    }
    Ok((grant.client, scopes))
}

/// The field error of approving scopes the device did not ask for.
pub const NARROWER_SCOPES: &str = "Only scopes that the device asked for can be granted.";

/// The pending, unexpired grant of `user_code` as typed, if any; it is
/// looked up by its digest under a key derived from `SECRET_KEY`.
async fn pending_by_user_code(
    services: &Services,
    user_code: &str,
) -> Result<Option<GrantRow>, Error> {
    let key = services.secret_key.derive_key(USER_CODE_KEY_PURPOSE);
    let Some(digest) = UserCode::parse(user_code).map(|code| code.digest(&key)) else {
        return Ok(None);
    };
    let found = services
        .db(move |conn| Ok(device_grants::by_user_code(conn, &digest)?))
        .await?;
    let now = Timestamp::now().millis();
    Ok(found.filter(|grant| grant.state == GrantState::Pending.as_str() && grant.expires_at > now))
}

/// The pending, unexpired grant of `user_code`, under the login throttle
/// of `approver` and the address: a code that matches none stays counted
/// as a failure (and is recorded), one that matches is taken back.
async fn find_pending(
    services: &Services,
    approver: &Approver,
    user_code: &str,
    source: &EventSource,
) -> Result<GrantRow, Error> {
    let limit = services.settings.throttles.login_throttle;
    let subject = username_scope(&approver.username);
    let address = source.ip;
    let counted = services
        .db(move |conn| count_attempt(conn, &limit, subject, address, Timestamp::now()))
        .await;
    let guess = Guess::sign_in("device", &approver.username, &[], source);
    if matches!(counted, Err(Error::Throttled(_))) {
        record_throttled(services, &guess).await;
    }
    let attempt = counted?;
    match pending_by_user_code(services, user_code).await? {
        Some(grant) => {
            services
                .db(move |conn| not_a_failure(conn, &attempt))
                .await?;
            Ok(grant)
        }
        None => {
            services
                .metrics
                .device_grant(DeviceGrantOutcome::UnknownCode);
            let user_id = Some(approver.user_id);
            events::record_attempt(services, source, EventKind::LoginFailed, user_id, "device")
                .await;
            Err(Error::NotFound)
        }
    }
}
