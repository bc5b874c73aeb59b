//! Checking keys on behalf of the company's other services: forward auth
//! (a reverse proxy asks before passing a request on), introspection
//! (RFC 7662: a resource server asks about a key it was given) and
//! revocation by key (RFC 7009: whoever holds a key may end it).
//!
//! All three go through the same token check as our own endpoints, so a
//! revocation is seen by them on the very next request, and a check counts
//! as a use of the token.

use super::dpop::DpopRequest;
use super::verify::TokenVerifier;
use super::{revoke_counted, Revocation};
use crate::domain::event::EventSource;
use crate::domain::messages::REQUIRED_FOR_ADMINS;
use crate::domain::principal::Principal;
use crate::domain::Timestamp;
use crate::domain::TokenDigest;
use crate::metrics::{ForwardAuthOutcome, IntrospectionOutcome, RevocationCause};
use crate::service::{AuthFailure, Error, Services};
use std::net::IpAddr;

/// Forward auth: the principal of the presented key, if it holds every
/// scope in `required` (an unrestricted key holds them all); a refused key
/// is `Unauthenticated`, a missing scope `PermissionDenied`.
pub async fn authorize(
    verifier: &TokenVerifier,
    presented: Result<&str, AuthFailure>,
    dpop: &DpopRequest,
    required: &[String],
    from: Option<IpAddr>,
) -> Result<Principal, Error> {
    let mut checked = verifier.verify_presented(presented, from).await;
    // A bound key passes with a proof of the original request only.
    if let (Ok(principal), Ok(key)) = (&checked, presented) {
        if let Err(refused) = verifier
            .dpop()
            .check_use(principal.dpop_jkt.as_deref(), dpop, key)
            .await
        {
            checked = Err(refused);
        }
    }
    let (outcome, answer) = match checked {
        Ok(principal) if required.iter().all(|scope| principal.scopes.holds(scope)) => {
            (Some(ForwardAuthOutcome::Allowed), Ok(principal))
        }
        Ok(_) => (
            Some(ForwardAuthOutcome::Forbidden),
            Err(Error::PermissionDenied),
        ),
        Err(error @ Error::Unauthenticated(_)) => {
            (Some(ForwardAuthOutcome::Unauthenticated), Err(error))
        }
        // The database failing is not an answer about the key.
        Err(error) => (None, Err(error)),
    };
    if let Some(outcome) = outcome {
        verifier.metrics().forward_auth(outcome);
    }
    answer
}

/// Who may introspect: an unrestricted key of a service user or an admin;
/// with `REQUIRE_2FA_FOR_ADMINS` (`two_factor_required`), not an admin
/// without two-factor, even one who is a service user too (the contract
/// refuses `/introspect` to an admin without two-factor, as the admin API).
pub fn may_introspect(caller: &Principal, two_factor_required: bool) -> Result<(), Error> {
    if caller.is_restricted() || !(caller.is_service || caller.is_admin) {
        return Err(Error::PermissionDenied);
    }
    if two_factor_required && caller.is_admin && !caller.two_factor {
        return Err(Error::Forbidden(REQUIRED_FOR_ADMINS));
    }
    Ok(())
}

/// Introspection: the principal of a live key, or `None` for anything else
/// (unknown, revoked, expired, an inactive user, not even a key's shape),
/// which the answer must not tell apart. The caller is a service, not the
/// key's holder: the use is recorded without an address.
pub async fn introspect(verifier: &TokenVerifier, token: &str) -> Result<Option<Principal>, Error> {
    let checked = verifier.verify_presented(Ok(token), None).await;
    // For an access JWT, `exp` and `iat` are the JWT's own.
    let checked = match (checked, verifier.access_claims(token).await?) {
        (Ok(mut principal), Some(claims)) => {
            principal.expires_at = Timestamp(claims.exp.saturating_mul(1000));
            principal.created_at = Timestamp(claims.iat.saturating_mul(1000));
            Ok(principal)
        }
        (checked, _) => checked,
    };
    let (outcome, answer) = match checked {
        Ok(principal) => (IntrospectionOutcome::Active, Some(principal)),
        Err(Error::Unauthenticated(_)) => (IntrospectionOutcome::Inactive, None),
        Err(error) => return Err(error),
    };
    verifier.metrics().introspected(outcome);
    Ok(answer)
}

/// The most keys one `/revoke` request may name: one statement then deletes
/// them all, however many.
pub const MAX_KEYS_PER_REVOCATION: usize = 1000;

/// The digests of those of `keys` that can be live keys, each once. A key
/// of the wrong shape or checksum is dropped (and counted) here, so that
/// a request naming only such keys needs no database at all.
pub fn presented_digests(services: &Services, keys: &[String]) -> Vec<TokenDigest> {
    let mut digests: Vec<TokenDigest> = keys
        .iter()
        .filter_map(|key| services.tokens.digest_of(key))
        .collect();
    digests.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    digests.dedup();
    digests
}

/// Revocation by key (`POST /revoke`, one key or a list): ends every token
/// among `digests`, with one query for all of them. As for one key, nothing
/// tells which were live.
pub async fn revoke_digests(
    services: &Services,
    mut digests: Vec<TokenDigest>,
    source: &EventSource,
) -> Result<(), Error> {
    let revocation = match digests.len() {
        0 => return Ok(()),
        1 => match digests.pop() {
            Some(digest) => Revocation::Token { digest },
            None => return Ok(()),
        },
        _ => Revocation::Tokens { digests },
    };
    revoke_counted(services, revocation, RevocationCause::Key, source).await?;
    Ok(())
}
