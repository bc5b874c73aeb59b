//! Password hashes as Django writes them, verified here so that users
//! imported from a Django project keep their passwords (`import-django`).
//!
//! Only the formats Django ships are recognised. Every parameter (iteration
//! count, cost, memory) is read from the stored string, because Django raised
//! its defaults release after release and old hashes keep theirs; but a
//! stored string chooses what a login costs, so a parameter beyond what
//! Django writes is refused before any work starts (the contract's bounds,
//! [`check`]), at import and again at every verification. Each comparison
//! of derived bytes is constant-time. A successful login replaces the hash
//! with our own argon2id, so these are only ever checked until then.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The most PBKDF2 iterations verified (Django 5.2 writes 1,000,000).
pub const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;
/// The highest bcrypt cost verified (Django writes 12).
pub const MAX_BCRYPT_COST: u32 = 16;
/// The most argon2 memory verified, in KiB: 256 MiB (Django writes 100 MiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// The most argon2 passes verified (Django writes 2).
pub const MAX_ARGON2_TIME: u32 = 10;
/// The most argon2 lanes verified (Django writes 8).
pub const MAX_ARGON2_LANES: u32 = 16;
/// The most scrypt memory verified, in bytes: 256 MiB (Django writes 16 MiB).
pub const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
/// The highest scrypt parallelism verified (Django writes 5).
pub const MAX_SCRYPT_PARALLELISM: u32 = 16;

/// A Django hasher whose hashes we can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DjangoAlgorithm {
    Pbkdf2Sha256,
    Pbkdf2Sha1,
    Argon2,
    BcryptSha256,
    Bcrypt,
    Scrypt,
}

impl DjangoAlgorithm {
    /// The algorithm of an encoded Django hash, by the name Django puts
    /// before the first `$`; `None` for anything else, our own hashes included.
    pub fn of(encoded: &str) -> Option<Self> {
        let (name, _) = encoded.split_once('$')?;
        Some(match name {
            "pbkdf2_sha256" => Self::Pbkdf2Sha256,
            "pbkdf2_sha1" => Self::Pbkdf2Sha1,
            "argon2" => Self::Argon2,
            "bcrypt_sha256" => Self::BcryptSha256,
            "bcrypt" => Self::Bcrypt,
            "scrypt" => Self::Scrypt,
            _ => return None,
        })
    }

    /// Django's name for it, as the hash starts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::Pbkdf2Sha1 => "pbkdf2_sha1",
            Self::Argon2 => "argon2",
            Self::BcryptSha256 => "bcrypt_sha256",
            Self::Bcrypt => "bcrypt",
            Self::Scrypt => "scrypt",
        }
    }
}

/// Django's unusable passwords (`set_unusable_password`) start with `!`.
pub fn is_unusable(encoded: &str) -> bool {
    encoded.starts_with('!')
}

/// Why a stored hash is not verified: not a format Django ships, a
/// malformed one, or a cost over the bounds (which one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    Unsupported,
    Malformed,
    Pbkdf2Iterations,
    BcryptCost,
    Argon2Memory,
    Argon2Time,
    Argon2Lanes,
    /// scrypt's `128·r·N` bytes over the bound; or its other buffer,
    /// `128·r·p` bytes, which the contract does not name but which `p ≤ 16`
    /// alone would let reach 2 GiB (with `N = 2`).
    ScryptMemory,
    ScryptParallelism,
}

/// The algorithm of `encoded` when it is a Django hash that may be
/// verified: a known format, well formed, and within every bound.
pub fn check(encoded: &str) -> Result<DjangoAlgorithm, Refusal> {
    parse(encoded).map(|(algorithm, _)| algorithm)
}

/// How much work verifying `encoded` takes, in a unit that only compares
/// hashes of the same algorithm (iterations, `2^cost`, `m·t`, `N·r·p`);
/// `None` for a hash that is never verified.
pub fn cost(encoded: &str) -> Option<(DjangoAlgorithm, u64)> {
    let (algorithm, work) = parse(encoded).ok()?;
    Some((algorithm, work.units()))
}

/// Whether `password` matches the Django hash `encoded`. A hash of another
/// format, a malformed one, or one over the bounds never matches, and is
/// refused before any hashing starts.
pub fn verify(password: &str, encoded: &str) -> bool {
    match parse(encoded) {
        Ok((_, work)) => work.run(password),
        Err(_) => false,
    }
}

/// Whether argon2 parameters are within the bounds, for any argon2 hash
/// read from the database, Django's or ours.
pub fn argon2_within_bounds(memory_kib: u32, time: u32, lanes: u32) -> Result<(), Refusal> {
    if memory_kib > MAX_ARGON2_MEMORY_KIB {
        return Err(Refusal::Argon2Memory);
    }
    if time > MAX_ARGON2_TIME {
        return Err(Refusal::Argon2Time);
    }
    if lanes > MAX_ARGON2_LANES {
        return Err(Refusal::Argon2Lanes);
    }
    Ok(())
}

/// A verification, parsed and checked, ready to run.
enum Work<'a> {
    Pbkdf2 {
        sha1: bool,
        iterations: u32,
        salt: &'a str,
        expected: Vec<u8>,
    },
    Argon2 {
        argon2: ::argon2::Argon2<'static>,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    Bcrypt {
        sha256_first: bool,
        hash: &'a str,
    },
    Scrypt {
        params: ::scrypt::Params,
        salt: &'a str,
        expected: Vec<u8>,
    },
}

fn parse(encoded: &str) -> Result<(DjangoAlgorithm, Work<'_>), Refusal> {
    let algorithm = DjangoAlgorithm::of(encoded).ok_or(Refusal::Unsupported)?;
    let rest = &encoded[algorithm.name().len() + 1..];
    let work = match algorithm {
        DjangoAlgorithm::Pbkdf2Sha256 => pbkdf2(rest, false)?,
        DjangoAlgorithm::Pbkdf2Sha1 => pbkdf2(rest, true)?,
        DjangoAlgorithm::Argon2 => argon2(&encoded["argon2".len()..])?,
        DjangoAlgorithm::BcryptSha256 => bcrypt(rest, true)?,
        DjangoAlgorithm::Bcrypt => bcrypt(rest, false)?,
        DjangoAlgorithm::Scrypt => scrypt(rest)?,
    };
    Ok((algorithm, work))
}

/// A decimal parameter. One too large for a `u64` is over any bound, so
/// it is refused as `over` rather than as malformed.
fn number(text: Option<&str>, over: Refusal) -> Result<u64, Refusal> {
    let text = text.ok_or(Refusal::Malformed)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::Malformed);
    }
    text.parse::<u64>().map_err(|_| over)
}

fn decoded(text: Option<&str>) -> Result<Vec<u8>, Refusal> {
    let text = text.ok_or(Refusal::Malformed)?;
    STANDARD.decode(text).map_err(|_| Refusal::Malformed)
}

/// `<iterations>$<salt>$<base64 of the derived key>`; the key is as long as
/// the digest (Django's `dklen=None`).
fn pbkdf2(rest: &str, sha1: bool) -> Result<Work<'_>, Refusal> {
    let mut parts = rest.splitn(3, '$');
    let iterations = number(parts.next(), Refusal::Pbkdf2Iterations)?;
    let salt = parts.next().ok_or(Refusal::Malformed)?;
    let expected = decoded(parts.next())?;
    if iterations == 0 {
        return Err(Refusal::Malformed);
    }
    if iterations > u64::from(MAX_PBKDF2_ITERATIONS) {
        return Err(Refusal::Pbkdf2Iterations);
    }
    let iterations = u32::try_from(iterations).map_err(|_| Refusal::Pbkdf2Iterations)?;
    let digest_len = if sha1 { 20 } else { 32 };
    if expected.len() != digest_len {
        return Err(Refusal::Malformed);
    }
    Ok(Work::Pbkdf2 {
        sha1,
        iterations,
        salt,
        expected,
    })
}

/// What follows `argon2` is a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)
/// whose salt is the text salt Django generated.
fn argon2(phc: &str) -> Result<Work<'static>, Refusal> {
    use ::argon2::password_hash::PasswordHash;
    use ::argon2::{Algorithm, Argon2, Params, Version};
    let malformed = |_| Refusal::Malformed;
    let hash = PasswordHash::new(phc).map_err(malformed)?;
    // Read as numbers of any size first, so that a value past `u32` is
    // told as over the bound.
    for (name, over) in [
        ("m", Refusal::Argon2Memory),
        ("t", Refusal::Argon2Time),
        ("p", Refusal::Argon2Lanes),
    ] {
        if let Some(text) = hash.params.get_str(name) {
            let value = number(Some(text), over)?;
            let bound = match over {
                Refusal::Argon2Memory => MAX_ARGON2_MEMORY_KIB,
                Refusal::Argon2Time => MAX_ARGON2_TIME,
                _ => MAX_ARGON2_LANES,
            };
            if value > u64::from(bound) {
                return Err(over);
            }
        }
    }
    let params = Params::try_from(&hash).map_err(malformed)?;
    argon2_within_bounds(params.m_cost(), params.t_cost(), params.p_cost())?;
    let expected = hash.hash.ok_or(Refusal::Malformed)?.as_bytes().to_vec();
    let algorithm = Algorithm::try_from(hash.algorithm).map_err(malformed)?;
    // argon2-cffi before 16.0 wrote no version: those hashes are 1.0.
    let version = match hash.version {
        Some(version) => Version::try_from(version).map_err(|_| Refusal::Malformed)?,
        None => Version::V0x10,
    };
    let salt = hash.salt.ok_or(Refusal::Malformed)?;
    let salt = STANDARD_NO_PAD
        .decode(salt.as_str())
        .map_err(|_| Refusal::Malformed)?;
    Ok(Work::Argon2 {
        argon2: Argon2::new(algorithm, version, params),
        salt,
        expected,
    })
}

/// What follows `bcrypt$` is bcrypt's own `$2b$<cost>$<salt and hash>`.
fn bcrypt(rest: &str, sha256_first: bool) -> Result<Work<'_>, Refusal> {
    let mut parts = rest.split('$');
    let (Some(""), Some("2a" | "2b" | "2x" | "2y")) = (parts.next(), parts.next()) else {
        return Err(Refusal::Malformed);
    };
    let cost = number(parts.next(), Refusal::BcryptCost)?;
    if cost > u64::from(MAX_BCRYPT_COST) {
        return Err(Refusal::BcryptCost);
    }
    // bcrypt's least cost.
    if cost < 4 || parts.next().is_none() || parts.next().is_some() {
        return Err(Refusal::Malformed);
    }
    Ok(Work::Bcrypt {
        sha256_first,
        hash: rest,
    })
}

/// `<N>$<salt>$<r>$<p>$<base64 of the derived key>`.
fn scrypt(rest: &str) -> Result<Work<'_>, Refusal> {
    let mut parts = rest.splitn(5, '$');
    let work_factor = number(parts.next(), Refusal::ScryptMemory)?;
    let salt = parts.next().ok_or(Refusal::Malformed)?;
    let block_size = number(parts.next(), Refusal::ScryptMemory)?;
    let parallelism = number(parts.next(), Refusal::ScryptParallelism)?;
    let expected = decoded(parts.next())?;
    if work_factor < 2 || !work_factor.is_power_of_two() || block_size == 0 || parallelism == 0 {
        return Err(Refusal::Malformed);
    }
    if parallelism > u64::from(MAX_SCRYPT_PARALLELISM) {
        return Err(Refusal::ScryptParallelism);
    }
    // The crate allocates `128·r·N` bytes and `128·r·p` more.
    let bytes = |count: u64| 128u64.checked_mul(block_size)?.checked_mul(count);
    for buffer in [bytes(work_factor), bytes(parallelism)] {
        if buffer.is_none_or(|bytes| bytes > MAX_SCRYPT_MEMORY) {
            return Err(Refusal::ScryptMemory);
        }
    }
    let log_n = u8::try_from(work_factor.trailing_zeros()).map_err(|_| Refusal::Malformed)?;
    let block_size = u32::try_from(block_size).map_err(|_| Refusal::ScryptMemory)?;
    let parallelism = u32::try_from(parallelism).map_err(|_| Refusal::ScryptParallelism)?;
    let params = ::scrypt::Params::new(log_n, block_size, parallelism, expected.len())
        .map_err(|_| Refusal::Malformed)?;
    Ok(Work::Scrypt {
        params,
        salt,
        expected,
    })
}

fn equal(derived: &[u8], expected: &[u8]) -> bool {
    derived.ct_eq(expected).into()
}

impl Work<'_> {
    fn units(&self) -> u64 {
        match self {
            Work::Pbkdf2 { iterations, .. } => u64::from(*iterations),
            Work::Argon2 { argon2, .. } => {
                u64::from(argon2.params().m_cost()) * u64::from(argon2.params().t_cost())
            }
            Work::Bcrypt { hash, .. } => {
                let cost = hash.split('$').nth(2).and_then(|c| c.parse::<u32>().ok());
                1u64 << cost.unwrap_or(0).min(MAX_BCRYPT_COST)
            }
            Work::Scrypt { params, .. } => {
                (1u64 << params.log_n()) * u64::from(params.r()) * u64::from(params.p())
            }
        }
    }

    fn run(self, password: &str) -> bool {
        match self {
            Work::Pbkdf2 {
                sha1,
                iterations,
                salt,
                expected,
            } => {
                let mut derived = vec![0u8; expected.len()];
                let (password, salt) = (password.as_bytes(), salt.as_bytes());
                match sha1 {
                    true => ::pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut derived),
                    false => {
                        ::pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut derived)
                    }
                }
                equal(&derived, &expected)
            }
            Work::Argon2 {
                argon2,
                salt,
                expected,
            } => {
                let mut derived = vec![0u8; expected.len()];
                argon2
                    .hash_password_into(password.as_bytes(), &salt, &mut derived)
                    .is_ok()
                    && equal(&derived, &expected)
            }
            // Django hashes first so that bcrypt's 72-byte limit does not cut
            // long passwords; the hex digest is what bcrypt saw. The crate
            // compares in constant time.
            Work::Bcrypt { sha256_first, hash } => {
                let verified = match sha256_first {
                    true => {
                        let hex: String = Sha256::digest(password.as_bytes())
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        ::bcrypt::verify(hex.as_bytes(), hash)
                    }
                    false => ::bcrypt::verify(password.as_bytes(), hash),
                };
                verified.unwrap_or(false)
            }
            Work::Scrypt {
                params,
                salt,
                expected,
            } => {
                let mut derived = vec![0u8; expected.len()];
                ::scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut derived)
                    .is_ok()
                    && equal(&derived, &expected)
            }
        }
    }
}

#[cfg(test)]
mod tests;
