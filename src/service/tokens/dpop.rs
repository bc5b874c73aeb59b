//! Keys bound to a device's key (DPoP, RFC 9449): checking a proof for
//! the request it came with and remembering its `jti` (in the database, so
//! on every instance), at a sign-in (which binds the key issued) and at
//! every use of a bound key.
//!
//! The HTTP layer says what the request was (its method and the URL the
//! client used, see `http::dpop`); the rules of a proof are
//! `domain::dpop`'s.
//!
//! Remembering a `jti` is a write on every use of a bound key, so it is
//! made cheap twice over: a replay to the same instance is refused from
//! memory ([`replay_memory`]), and the writes of all the proofs waiting at
//! a moment are one statement (a [`Batcher`] over
//! `used_dpop_proofs::use_each_once`), which is what refuses a replay made
//! to another instance. A proof is accepted only once that statement said
//! it was new; when it fails, the request answers 503.

mod replay_memory;

use crate::db::batch::{BatchLimits, Batcher};
use crate::db::{used_dpop_proofs, DbPool};
use crate::domain::dpop::{check_proof, CheckedProof, ProofTarget};
use crate::domain::{PublicUrl, Timestamp};
use crate::metrics::{DpopOutcome, Metrics};
use crate::service::{AuthFailure, Error};
use replay_memory::{Digest, ReplayMemory, Sight};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The most proofs held in the replay memory, about 100 bytes each (10
/// MB): at 1,500 proofs a second and a 60 s window it holds all of them;
/// beyond, the database alone refuses the replays it does not hold.
const REPLAY_MEMORY_CAPACITY: usize = 100_000;

/// The most proofs recorded in one statement (two parameters each).
const MAX_PROOFS_PER_STATEMENT: usize = 256;

/// The most proofs waiting to be recorded; beyond, a use answers 503.
const MAX_PROOFS_WAITING: usize = 8192;

/// What a request carries for DPoP: how `Authorization` named its key,
/// the `DPoP` header, and what the proof must name.
#[derive(Debug, Clone)]
pub struct DpopRequest {
    /// `Authorization: DPoP <key>` rather than `Token`/`Bearer`.
    pub dpop_scheme: bool,
    /// The `DPoP` header; `Err` when there were several.
    pub proof: Result<Option<String>, ()>,
    pub method: String,
    /// The normalised URL the client used; `None` when it cannot be told,
    /// and when no proof came to be compared with it.
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
    replays: Arc<Replays>,
}

/// What the clones of a checker share to refuse replays.
struct Replays {
    memory: ReplayMemory,
    /// Started at the first proof, so that an instance without DPoP
    /// clients runs no thread for it.
    recorder: OnceLock<Batcher<Recorded, bool>>,
}

/// A proof's replay digest and when the database may forget it, in milliseconds.
struct Recorded {
    digest: Digest,
    until: i64,
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
            replays: Arc::new(Replays {
                memory: ReplayMemory::new(REPLAY_MEMORY_CAPACITY),
                recorder: OnceLock::new(),
            }),
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
    /// the window.
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
        // A second past the last one in which the proof could be accepted.
        let until = checked
            .iat
            .saturating_add(window)
            .saturating_add(1)
            .saturating_mul(1000);
        let memory = &self.replays.memory;
        if memory.see(&digest, until, now.millis()) == Sight::Again {
            self.metrics.dpop_proof(DpopOutcome::Replayed);
            return Err(invalid());
        }
        let fresh = match self.recorder().submit(Recorded { digest, until }).await {
            Ok(fresh) => fresh,
            Err(error) => {
                memory.forget(&digest);
                return Err(Error::Unavailable(Box::new(error)));
            }
        };
        if !fresh {
            self.metrics.dpop_proof(DpopOutcome::Replayed);
            return Err(invalid());
        }
        self.metrics.dpop_proof(DpopOutcome::Accepted);
        Ok(checked)
    }

    /// The writer that records proofs in the database, all those waiting
    /// at once (one writer: on SQLite there is only one anyway, and on
    /// PostgreSQL one statement per round trip keeps up).
    fn recorder(&self) -> &Batcher<Recorded, bool> {
        self.replays.recorder.get_or_init(|| {
            let limits = BatchLimits {
                workers: 1,
                max_batch: MAX_PROOFS_PER_STATEMENT,
                queue: MAX_PROOFS_WAITING,
                answer_within: self.work_timeout,
            };
            let pool = self.pool.clone();
            Batcher::start("dpop-proofs", limits, move |proofs: &[Recorded]| {
                let uses: Vec<(&[u8], i64)> = proofs
                    .iter()
                    .map(|proof| (&proof.digest[..], proof.until))
                    .collect();
                let mut conn = pool.get()?;
                Ok::<_, Error>(used_dpop_proofs::use_each_once(&mut conn, &uses)?)
            })
        })
    }

    /// Counts a refused proof and answers the contract's 401.
    fn refused(&self) -> Error {
        self.metrics.dpop_proof(DpopOutcome::Invalid);
        invalid()
    }
}
