//! Device proofs (see `domain::device_proof`): one is handed out with every
//! successful sign-in, and a later sign-in that presents a valid one of its
//! user is counted against the proof instead of the username (see
//! [`super::throttle`]), so that failures others cause on a username do not
//! lock its owner's devices out.

use crate::domain::device_proof::{self, ValidProof, KEY_PURPOSE};
use crate::domain::{ClientName, Timestamp};
use crate::service::Services;
use sha2::{Digest, Sha256};

/// The proof, for the answer of a sign-in of `user_id` on `client`.
pub fn issue(services: &Services, user_id: i64, client: &ClientName) -> String {
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    device_proof::issue(&key, user_id, client.as_str(), Timestamp::now())
}

/// The proof of an admin's sign-in to the console (its client: `console`).
pub fn issue_for_console(services: &Services, user_id: i64) -> String {
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    device_proof::issue(&key, user_id, CONSOLE_CLIENT, Timestamp::now())
}

/// What a console sign-in's proof names as its client.
const CONSOLE_CLIENT: &str = "console";

/// The proof `text` stands for, if it is one we issued and it has not
/// expired (`DEVICE_PROOF_TTL`).
pub fn check(services: &Services, text: &str) -> Option<ValidProof> {
    let key = services.secret_key.derive_key(KEY_PURPOSE);
    let ttl = services.settings.throttles.device_proof_ttl;
    device_proof::check(&key, text, Timestamp::now(), ttl)
}

/// The throttle's key for the failures of one proof: a digest of its user
/// and id, so the database holds nothing of the proof itself.
pub fn throttle_scope(proof: &ValidProof) -> String {
    let mut digest = Sha256::new();
    digest.update(proof.user_id.to_be_bytes());
    digest.update(proof.id.as_bytes());
    format!("proof:{:x}", digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_scoped_by_a_digest_of_its_user_and_id() {
        let proof = ValidProof {
            user_id: 7,
            id: "AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        };
        let scope = throttle_scope(&proof);
        assert!(scope.starts_with("proof:") && !scope.contains(&proof.id));
        assert_eq!(scope.len(), "proof:".len() + 64);
        let other_user = ValidProof {
            user_id: 8,
            ..proof.clone()
        };
        assert_ne!(scope, throttle_scope(&other_user));
    }
}
