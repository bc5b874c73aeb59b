//! Password hashes as Django writes them, verified here so that users
//! imported from a Django project keep their passwords (`import-django`).
//!
//! Only the formats Django ships are recognised; every parameter (iteration
//! count, cost, memory) is read from the stored string, because Django raised
//! its defaults release after release and old hashes keep theirs. Each
//! comparison of derived bytes is constant-time. A successful login replaces
//! the hash with our own argon2id, so these are only ever checked once per
//! user.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// Whether `password` matches the Django hash `encoded`. A hash of another
/// format, or a malformed one, never matches.
pub fn verify(password: &str, encoded: &str) -> bool {
    let Some(algorithm) = DjangoAlgorithm::of(encoded) else {
        return false;
    };
    let rest = &encoded[algorithm.name().len() + 1..];
    let verified = match algorithm {
        DjangoAlgorithm::Pbkdf2Sha256 => {
            pbkdf2(password, rest, 32, ::pbkdf2::pbkdf2_hmac::<Sha256>)
        }
        DjangoAlgorithm::Pbkdf2Sha1 => pbkdf2(password, rest, 20, ::pbkdf2::pbkdf2_hmac::<Sha1>),
        DjangoAlgorithm::Argon2 => argon2(password, &encoded["argon2".len()..]),
        // Django hashes first so that bcrypt's 72-byte limit does not cut
        // long passwords; the hex digest is what bcrypt saw.
        DjangoAlgorithm::BcryptSha256 => {
            let hex: String = Sha256::digest(password.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            bcrypt(&hex, rest)
        }
        DjangoAlgorithm::Bcrypt => bcrypt(password, rest),
        DjangoAlgorithm::Scrypt => scrypt(password, rest),
    };
    verified.unwrap_or(false)
}

fn equal(derived: &[u8], expected: &[u8]) -> bool {
    derived.ct_eq(expected).into()
}

/// `<iterations>$<salt>$<base64 of the derived key>`; the key is as long as
/// the digest (Django's `dklen=None`).
fn pbkdf2(
    password: &str,
    rest: &str,
    digest_len: usize,
    derive: fn(&[u8], &[u8], u32, &mut [u8]),
) -> Option<bool> {
    let mut parts = rest.splitn(3, '$');
    let iterations: u32 = parts.next()?.parse().ok().filter(|n| *n > 0)?;
    let salt = parts.next()?;
    let expected = STANDARD.decode(parts.next()?).ok()?;
    if expected.len() != digest_len {
        return None;
    }
    let mut derived = vec![0u8; digest_len];
    derive(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    Some(equal(&derived, &expected))
}

/// What follows `argon2` is a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)
/// whose salt is the text salt Django generated.
fn argon2(password: &str, phc: &str) -> Option<bool> {
    use ::argon2::password_hash::PasswordHash;
    use ::argon2::{Algorithm, Argon2, Params, Version};
    let hash = PasswordHash::new(phc).ok()?;
    let expected = hash.hash?;
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    // argon2-cffi before 16.0 wrote no version: those hashes are 1.0.
    let version = match hash.version {
        Some(version) => Version::try_from(version).ok()?,
        None => Version::V0x10,
    };
    let params = Params::try_from(&hash).ok()?;
    let salt = STANDARD_NO_PAD.decode(hash.salt?.as_str()).ok()?;
    let mut derived = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into(password.as_bytes(), &salt, &mut derived)
        .ok()?;
    Some(equal(&derived, expected.as_bytes()))
}

/// What follows `bcrypt$` is bcrypt's own `$2b$<cost>$<salt and hash>`;
/// the crate compares in constant time.
fn bcrypt(password: &str, rest: &str) -> Option<bool> {
    ::bcrypt::verify(password.as_bytes(), rest).ok()
}

/// `<N>$<salt>$<r>$<p>$<base64 of the 64-byte key>`.
fn scrypt(password: &str, rest: &str) -> Option<bool> {
    let mut parts = rest.splitn(5, '$');
    let work_factor: u64 = parts.next()?.parse().ok()?;
    let salt = parts.next()?;
    let block_size: u32 = parts.next()?.parse().ok()?;
    let parallelism: u32 = parts.next()?.parse().ok()?;
    let expected = STANDARD.decode(parts.next()?).ok()?;
    if !work_factor.is_power_of_two() || work_factor < 2 {
        return None;
    }
    let log_n = u8::try_from(work_factor.trailing_zeros()).ok()?;
    let params = ::scrypt::Params::new(log_n, block_size, parallelism, expected.len()).ok()?;
    let mut derived = vec![0u8; expected.len()];
    ::scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut derived).ok()?;
    Some(equal(&derived, &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse é";

    /// Made by Django 5.2's `make_password(PASSWORD, hasher=…)` (argon2-cffi
    /// 25.1, bcrypt 5.0), except where noted.
    const VECTORS: &[(DjangoAlgorithm, &str)] = &[
        (
            DjangoAlgorithm::Pbkdf2Sha256,
            "pbkdf2_sha256$1000000$Qq8IF4MHoHgOzRlsfyGfY3$nlLaQ/7eLE2TRYkLAbGoS/pSEE4KwvrVqDgNPZt5ksE=",
        ),
        // `PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt1234", iterations=20000)`:
        // the count of Django 1.x.
        (
            DjangoAlgorithm::Pbkdf2Sha256,
            "pbkdf2_sha256$20000$oldsalt1234$xQq5vaRSoCEFh+tbSU3sG1FPtqhIviWTPJorq7ZquSg=",
        ),
        (
            DjangoAlgorithm::Pbkdf2Sha1,
            "pbkdf2_sha1$1000000$nWBOWtYIZm75MZT4T6F21b$B4rGZpHMGU1VIrsn52mDA7ScRGc=",
        ),
        (
            DjangoAlgorithm::Argon2,
            "argon2$argon2id$v=19$m=102400,t=2,p=8$Qk5QUmJhcHBpbGVQWDV1UEIybnNKSw$sME6Exfo9LSbnIRg2hciJK6HF/ZLTNAT3Y+rbJZl+C0",
        ),
        // argon2-cffi's `hash_secret(..., type=Type.I)` in Django's layout, as
        // Django before 3.2 wrote them.
        (
            DjangoAlgorithm::Argon2,
            "argon2$argon2i$v=19$m=512,t=2,p=2$YXJnb24yaXNhbHQxMjM$BcoK1H4plyvBIDrlMQDP5g",
        ),
        (
            DjangoAlgorithm::BcryptSha256,
            "bcrypt_sha256$$2b$12$u1IAdORMaJEEtz22xeFv..stb2fFDOkDWURM.ltNASgVfHFy7PSvi",
        ),
        (
            DjangoAlgorithm::Bcrypt,
            "bcrypt$$2b$12$40I85C/95y6r9SAWloEzueoD06fHfHv/nttCxBHL.wFjsVygNnX1i",
        ),
        (
            DjangoAlgorithm::Scrypt,
            "scrypt$16384$LWl9LxSBt9SAUeqiGBaE7c$8$5$qH2Ky3wJnJIJZnTK+RbdR5lGNaIUFLDTYh9cefvBNrMIiGn7esNoVetgyziBXLqSxv7RPyZGei5VCKJZVkrKeQ==",
        ),
    ];

    #[test]
    fn every_hash_django_made_verifies_with_its_password_only() {
        for (algorithm, encoded) in VECTORS {
            assert_eq!(DjangoAlgorithm::of(encoded), Some(*algorithm), "{encoded}");
            assert!(verify(PASSWORD, encoded), "{encoded}");
            assert!(!verify("correct horse e", encoded), "{encoded}");
        }
    }

    #[test]
    fn a_tampered_hash_or_parameter_does_not_verify() {
        for (_, encoded) in VECTORS {
            // The last character of the derived bytes, changed.
            let mut tampered = encoded.to_string();
            let last = tampered.pop().unwrap_or('x');
            tampered.push(if last == 'A' { 'B' } else { 'A' });
            assert!(!verify(PASSWORD, &tampered), "{tampered}");
        }
        for tampered in [
            "pbkdf2_sha256$999999$Qq8IF4MHoHgOzRlsfyGfY3$nlLaQ/7eLE2TRYkLAbGoS/pSEE4KwvrVqDgNPZt5ksE=",
            "pbkdf2_sha256$20000$oldsalt1235$xQq5vaRSoCEFh+tbSU3sG1FPtqhIviWTPJorq7ZquSg=",
            "pbkdf2_sha1$20000$nWBOWtYIZm75MZT4T6F21b$B4rGZpHMGU1VIrsn52mDA7ScRGc=",
            "argon2$argon2i$v=19$m=512,t=3,p=2$YXJnb24yaXNhbHQxMjM$BcoK1H4plyvBIDrlMQDP5g",
            "argon2$argon2id$v=19$m=512,t=2,p=2$YXJnb24yaXNhbHQxMjM$BcoK1H4plyvBIDrlMQDP5g",
            "scrypt$16384$LWl9LxSBt9SAUeqiGBaE7c$8$4$qH2Ky3wJnJIJZnTK+RbdR5lGNaIUFLDTYh9cefvBNrMIiGn7esNoVetgyziBXLqSxv7RPyZGei5VCKJZVkrKeQ==",
            // bcrypt_sha256's pre-hash matters: the same bcrypt string under
            // the other name fails.
            "bcrypt$$2b$12$u1IAdORMaJEEtz22xeFv..stb2fFDOkDWURM.ltNASgVfHFy7PSvi",
        ] {
            assert!(!verify(PASSWORD, tampered), "{tampered}");
        }
    }

    #[test]
    fn other_formats_unusable_and_malformed_hashes_never_verify() {
        for encoded in [
            "!abvKlYvBBvZxbRJQYEyczrYdhsFUFRc8znsUJE6k",
            "md5$ifu115BPP43FK5TaPno3Y0$faeddb6f0f68d4501887d6723fca1ffe",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha256$abc$salt$AAAA",
            "scrypt$1000$salt$8$1$AAAA",
            "bcrypt$",
            "argon2$",
        ] {
            assert!(!verify(PASSWORD, encoded), "{encoded}");
            assert!(!verify("", encoded), "{encoded}");
        }
        assert_eq!(DjangoAlgorithm::of("md5$x$y"), None);
        assert_eq!(DjangoAlgorithm::of("$argon2id$v=19$m=1"), None);
        assert!(is_unusable("!abc"));
        assert!(!is_unusable("pbkdf2_sha256$1$a$b"));
    }
}
