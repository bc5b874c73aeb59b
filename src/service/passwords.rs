//! Argon2id hashing, kept off the async workers and bounded.
//!
//! Each hash holds ~19 MiB for ~20 ms of a core, so at most one runs per core
//! and a bounded number wait; beyond that, logins are turned away with a 503
//! rather than letting a flood starve token checks or exhaust memory.

use crate::domain::Password;
use crate::error::ApiError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_blocking(password: &Password) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal(format!("hashing a password failed: {e}")))
}

/// Verifies against a PHC string; a malformed stored hash verifies as false.
pub fn verify_blocking(password: &Password, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => argon2()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// Verified against when the user does not exist, so that an unknown
    /// username costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(parallel: usize, max_waiting: usize) -> Result<Self, ApiError> {
        let dummy_hash =
            hash_blocking(&Password::new("dummy password that matches nothing".into()))?;
        Ok(PasswordHasher {
            running: Arc::new(Semaphore::new(parallel.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there
    /// is no user, always spending one argon2 verification.
    pub async fn verify(&self, password: Password, phc: Option<String>) -> Result<bool, ApiError> {
        let found = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self.run(move || verify_blocking(&password, &phc)).await?;
        Ok(found && matches)
    }

    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        self.run(move || hash_blocking(&password)).await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave_queue = DecrementOnDrop(&self.waiting);
        if queued >= self.max_waiting {
            return Err(ApiError::Unavailable(
                "too many password checks waiting".into(),
            ));
        }
        let _permit = self.running.acquire().await.map_err(ApiError::internal)?;
        Ok(actix_web::web::block(work).await?)
    }
}

struct DecrementOnDrop<'a>(&'a AtomicUsize);

impl Drop for DecrementOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_phc_strings_that_verify() {
        let password = Password::new("correct horse".into());
        let first = hash_blocking(&password).unwrap_or_default();
        let second = hash_blocking(&password).unwrap_or_default();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
        assert!(verify_blocking(&password, &first));
        assert!(!verify_blocking(
            &Password::new("wrong horse".into()),
            &first
        ));
        assert!(!verify_blocking(&password, "not a hash"));
    }

    #[actix_web::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let Ok(hasher) = PasswordHasher::new(1, 4) else {
            panic!("hasher")
        };
        let dummy = Password::new("dummy password that matches nothing".into());
        assert!(matches!(hasher.verify(dummy, None).await, Ok(false)));
    }

    #[actix_web::test]
    async fn past_the_queue_bound_work_is_refused_with_503() {
        let Ok(hasher) = PasswordHasher::new(1, 0) else {
            panic!("hasher")
        };
        let result = hasher.hash(Password::new("whatever123".into())).await;
        assert!(matches!(result, Err(ApiError::Unavailable(_))));
    }
}
