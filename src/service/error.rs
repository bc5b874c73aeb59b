//! `service::Error`: what a use case can answer besides success, in the
//! service's own terms. It knows nothing of HTTP: `http::ApiError` turns it
//! into a status and a body, the console into a page, the command line into
//! a message.
//!
//! Storage failures are split in two: the database being unreachable or busy
//! is `Unavailable` (callers may retry), anything else `Internal`. Both keep
//! their cause as the error's `source`, so whoever logs it logs the chain.

use crate::domain::messages::{
    INVALID_DPOP_PROOF, INVALID_TOKEN, NOT_AUTHENTICATED, NO_CREDENTIALS_IN_HEADER,
    TOKEN_CONTAINS_SPACES, TOKEN_EXPIRED, TOKEN_INVALID_CHARACTERS, USER_INACTIVE,
};
use crate::domain::page::InvalidPage;
use crate::domain::FieldErrors;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A cause kept for the log, with its own chain of sources.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a request could not be authenticated, in the contract's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    NotProvided,
    NoCredentials,
    ContainsSpaces,
    InvalidCharacters,
    InvalidToken,
    Expired,
    Inactive,
    /// A bound key without a valid DPoP proof, or a sign-in with a bad one.
    InvalidDpopProof,
}

impl AuthFailure {
    pub fn detail(self) -> &'static str {
        match self {
            AuthFailure::NotProvided => NOT_AUTHENTICATED,
            AuthFailure::NoCredentials => NO_CREDENTIALS_IN_HEADER,
            AuthFailure::ContainsSpaces => TOKEN_CONTAINS_SPACES,
            AuthFailure::InvalidCharacters => TOKEN_INVALID_CHARACTERS,
            AuthFailure::InvalidToken => INVALID_TOKEN,
            AuthFailure::Expired => TOKEN_EXPIRED,
            AuthFailure::Inactive => USER_INACTIVE,
            AuthFailure::InvalidDpopProof => INVALID_DPOP_PROOF,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication failed: {}", .0.detail())]
    Unauthenticated(AuthFailure),
    /// Unknown user, wrong password or inactive user: deliberately one case.
    #[error("bad credentials")]
    BadCredentials,
    /// A wrong one-time code (TOTP or recovery code) in `field`: a guess at
    /// the second factor of `user_id`, counted by the login throttle like a
    /// wrong password and recorded on that user.
    #[error("wrong one-time code")]
    WrongCode { field: &'static str, user_id: i64 },
    /// Authenticated, but not allowed to do this (not an admin).
    #[error("permission denied")]
    PermissionDenied,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("invalid fields: {0}")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    /// A page number past the last page, or not a page number at all.
    #[error("invalid page")]
    InvalidPage,
    /// Too many failed attempts; the number is the whole seconds to wait.
    #[error("throttled for {0}s")]
    Throttled(u64),
    #[error("service unavailable")]
    Unavailable(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(FieldErrors::single(field, message))
    }

    /// An internal error with a message of our own as its cause.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Error::Internal(cause.to_string().into())
    }

    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Error::Unavailable(cause.to_string().into())
    }

    /// Logs a fault of ours or of the database, with its causes; anything
    /// else is an answer, not a fault, and is not logged. Every edge that
    /// turns an error into an answer (HTTP, console) calls this once.
    pub fn log_fault(&self) {
        match self {
            // An outage is logged once, with its cause, by the pool; and a
            // busy or failing database fails many requests at once.
            Error::Unavailable(_) if crate::db::out_of_reach() || !unavailable_warning_due() => {
                log::debug!("answering unavailable: {}", self.chain())
            }
            Error::Unavailable(_) => log::warn!(
                "answering unavailable: {} (more within {}s only at debug level)",
                self.chain(),
                UNAVAILABLE_WARNINGS_EVERY.as_secs()
            ),
            Error::Internal(_) => log::error!("answering with a server error: {}", self.chain()),
            _ => {}
        }
    }

    /// The error and every cause under it, `a: b: c`, on one line for the
    /// log (libpq's messages run over several).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// At most one warning this often for requests answered unavailable.
const UNAVAILABLE_WARNINGS_EVERY: Duration = Duration::from_secs(10);

/// Whether an unavailable answer may be logged at warn level now, which
/// it then is.
fn unavailable_warning_due() -> bool {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    let due = last.is_none_or(|at| at.elapsed() >= UNAVAILABLE_WARNINGS_EVERY);
    if due {
        *last = Some(Instant::now());
    }
    due
}

impl From<FieldErrors> for Error {
    fn from(errors: FieldErrors) -> Self {
        Error::Invalid(errors)
    }
}

impl From<InvalidPage> for Error {
    fn from(_: InvalidPage) -> Self {
        Error::InvalidPage
    }
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        let transient = match &error {
            Diesel::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
            Diesel::DatabaseError(_, info) => is_transient(info.message()),
            _ => false,
        };
        if transient {
            Error::Unavailable(Box::new(error))
        } else {
            Error::Internal(Box::new(error))
        }
    }
}

/// Messages of errors that mean "try again later" rather than "bug".
fn is_transient(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "database is locked",
        "database is busy",
        "server closed the connection",
        "connection",
        "terminating",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// No pooled connection within the pool's timeout.
#[derive(Debug, thiserror::Error)]
#[error("no database connection")]
struct NoConnection(#[source] diesel::r2d2::PoolError);

impl From<diesel::r2d2::PoolError> for Error {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Error::Unavailable(Box::new(NoConnection(error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_and_connection_errors_are_transient() {
        assert!(is_transient("database is locked"));
        assert!(is_transient("server closed the connection unexpectedly"));
        assert!(!is_transient(
            "UNIQUE constraint failed: users.username_key"
        ));
    }

    #[test]
    fn the_chain_keeps_every_cause() {
        let error = Error::from(diesel::result::Error::NotFound);
        assert!(matches!(error, Error::Internal(_)));
        assert_eq!(error.chain(), "internal error: Record not found");
    }
}
