//! Keys bound to a device's key (DPoP, RFC 9449): checking a proof for
//! the request it came with and remembering its `jti` (in the database, so
//! on every instance), at a sign-in (which binds the key issued) and at
//! every use of a bound key.
//!
//! The HTTP layer says what the request was (its method and the URL the
//! client used, see `http::dpop`); the rules of a proof are
//! `domain::dpop`'s.

use crate::db::{used_dpop_proofs, DbPool};
use crate::domain::dpop::{check_proof, CheckedProof, ProofTarget};
use crate::domain::{PublicUrl, Timestamp};
use crate::metrics::{DpopOutcome, Metrics};
use crate::service::{run_blocking_within, AuthFailure, Error};
use std::time::Duration;

/// What a request carries for DPoP: how `Authorization` named its key,
/// the `DPoP` header, and what the proof must name.
#[derive(Debug, Clone)]
pub struct DpopRequest {
    /// `Authorization: DPoP <key>` rather than `Token`/`Bearer`.
    pub dpop_scheme: bool,
    /// The `DPoP` header; `Err` when there were several.
    pub proof: Result<Option<String>, ()>,
    pub method: String,
    /// The normalised URL the client used; `None` when it cannot be told.
    pub url: Option<String>,
}

/// Checks proofs and remembers them.
#[derive(Clone)]
pub struct DpopChecker {
    pool: DbPool,
    window: Duration,
    public_url: PublicUrl,
    work_timeout: Duration,
    metrics: Metrics,
}

fn invalid() -> Error {
    Error::Unauthenticated(AuthFailure::InvalidDpopProof)
}

impl DpopChecker {
    pub fn new(pool: DbPool, metrics: Metrics) -> Self {
        DpopChecker {
            pool,
            window: Duration::from_secs(60),
            public_url: PublicUrl::from_bind(std::net::SocketAddr::from(([127, 0, 0, 1], 80))),
            work_timeout: crate::service::WORK_TIMEOUT,
            metrics,
        }
    }

    /// `DPOP_PROOF_WINDOW` and the effective `PUBLIC_URL`.
    pub fn with_settings(mut self, window: Duration, public_url: PublicUrl) -> Self {
        self.window = window;
        self.public_url = public_url;
        self
    }

    pub fn with_work_timeout(mut self, limit: Duration) -> Self {
        self.work_timeout = limit;
        self
    }

    /// The URL clients use, which `htu` names unless a trusted proxy says otherwise.
    pub fn public_url(&self) -> &PublicUrl {
        &self.public_url
    }

    /// A sign-in's proof, when it sent one: the thumbprint to bind the key
    /// to. A proof that does not hold is `InvalidDpopProof`.
    pub async fn sign_in(&self, request: &DpopRequest) -> Result<Option<String>, Error> {
        let proof = match &request.proof {
            Ok(None) => return Ok(None),
            Ok(Some(proof)) => proof,
            Err(()) => return Err(self.refused()),
        };
        let checked = self.check(proof, request, None).await?;
        Ok(Some(checked.jkt))
    }

    /// A use of `key` (a device key or an access JWT) whose device is bound
    /// to `bound_jkt`, if any: a bound key needs the DPoP scheme and a proof
    /// by its key; an unbound key sent with the DPoP scheme is no key.
    pub async fn check_use(
        &self,
        bound_jkt: Option<&str>,
        request: &DpopRequest,
        key: &str,
    ) -> Result<(), Error> {
        let Some(bound_jkt) = bound_jkt else {
            return match request.dpop_scheme {
                true => Err(Error::Unauthenticated(AuthFailure::InvalidToken)),
                false => Ok(()),
            };
        };
        let Ok(Some(proof)) = &request.proof else {
            return Err(self.refused());
        };
        if !request.dpop_scheme {
            return Err(self.refused());
        }
        let checked = self.check(proof, request, Some(key)).await?;
        if checked.jkt != bound_jkt {
            return Err(self.refused());
        }
        Ok(())
    }

    /// Checks a proof and remembers its `jti` until its `iat` is out of
    /// the window (at most twice the window from now: `iat` may be ahead).
    async fn check(
        &self,
        proof: &str,
        request: &DpopRequest,
        access_token: Option<&str>,
    ) -> Result<CheckedProof, Error> {
        let Some(url) = request.url.as_deref() else {
            return Err(self.refused());
        };
        let now = Timestamp::now();
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        let target = ProofTarget {
            method: &request.method,
            url,
            access_token,
        };
        let checked =
            check_proof(proof, target, now.millis() / 1000, window).map_err(|_| self.refused())?;
        let digest = checked.replay_digest();
        let expires_at = now
            .millis()
            .saturating_add(window.saturating_mul(2000))
            .saturating_add(1000);
        let fresh = run_blocking_within(&self.pool, self.work_timeout, move |conn| {
            Ok(used_dpop_proofs::use_once(conn, &digest, expires_at)?)
        })
        .await?;
        if !fresh {
            self.metrics.dpop_proof(DpopOutcome::Replayed);
            return Err(invalid());
        }
        self.metrics.dpop_proof(DpopOutcome::Accepted);
        Ok(checked)
    }

    /// Counts a refused proof and answers the contract's 401.
    fn refused(&self) -> Error {
        self.metrics.dpop_proof(DpopOutcome::Invalid);
        invalid()
    }
}
