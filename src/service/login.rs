//! Logging in: check the password, then give the (user, client) pair a new
//! token, replacing the one it had.

use crate::db::{tokens, users, AnyConnection};
use crate::domain::username::lookup_key;
use crate::domain::{ClientName, Password, PlainToken, Timestamp, TokenPolicy};
use crate::error::ApiError;
use crate::metrics::LoginOutcome;
use crate::state::AppState;
use diesel::Connection;

pub const TOO_MANY_CLIENTS: &str = "Maximum number of clients per user exceeded.";

pub struct LoginRequest {
    pub username: String,
    pub password: Password,
    pub client: ClientName,
    pub user_agent: Option<String>,
}

/// A freshly issued token; the only place its key exists in clear.
#[derive(Debug)]
pub struct IssuedToken {
    pub key: PlainToken,
    pub client: ClientName,
    pub expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or inactive user: deliberately one case.
    #[error("bad credentials")]
    BadCredentials,
    #[error(transparent)]
    Other(#[from] ApiError),
}

pub async fn login(state: &AppState, request: LoginRequest) -> Result<IssuedToken, LoginError> {
    let key = lookup_key(&request.username);
    let found = state
        .db(move |conn| Ok(users::credentials_by_key(conn, &key)?))
        .await?;
    let (phc, user) = match found {
        Some(credentials) => (Some(credentials.password_hash.clone()), Some(credentials)),
        None => (None, None),
    };
    let password_matches = state.hasher.verify(request.password, phc).await?;
    let user = match user {
        Some(user) if password_matches && user.is_active => user,
        _ => {
            state.metrics.login(LoginOutcome::Failed);
            return Err(LoginError::BadCredentials);
        }
    };
    let policy = state.policy;
    let max_clients = state.settings.max_clients_per_user;
    let issued = state
        .db(move |conn| {
            issue_token(
                conn,
                user.id,
                request.client,
                request.user_agent.as_deref(),
                Timestamp::now(),
                &policy,
                max_clients,
            )
        })
        .await?;
    state.metrics.login(LoginOutcome::Ok);
    Ok(issued)
}

/// Gives `client` of the user a new token, replacing its previous one.
///
/// The user's row is written first: that takes the user's row lock on
/// PostgreSQL and the write lock on SQLite, so concurrent logins of one user
/// run one after the other, a (user, client) pair keeps exactly one row, and
/// the client count cannot be raced past the limit.
pub fn issue_token(
    conn: &mut AnyConnection,
    user_id: i64,
    client: ClientName,
    user_agent: Option<&str>,
    now: Timestamp,
    policy: &TokenPolicy,
    max_clients: u32,
) -> Result<IssuedToken, ApiError> {
    let key = PlainToken::generate();
    let digest = key.digest();
    let expires_at = policy.expiry(now, now);
    conn.transaction::<_, ApiError, _>(|conn| {
        users::record_login(conn, user_id, now.millis())?;
        let new = tokens::NewToken {
            user_id,
            client: client.as_str(),
            digest: digest.as_bytes(),
            now: now.millis(),
            expires_at: expires_at.millis(),
            user_agent,
        };
        match tokens::id_for_client(conn, user_id, client.as_str())? {
            Some(existing) => {
                tokens::replace(conn, existing, &new)?;
            }
            None => {
                if tokens::count_live(conn, user_id, now.millis())? >= i64::from(max_clients) {
                    return Err(ApiError::Forbidden(TOO_MANY_CLIENTS));
                }
                tokens::insert(conn, &new)?;
            }
        }
        Ok(())
    })?;
    Ok(IssuedToken {
        key,
        client,
        expires_at,
    })
}
