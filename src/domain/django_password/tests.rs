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

/// `pbkdf2_sha256` of `PASSWORD` with salt `boundsalt` at exactly
/// [`MAX_PBKDF2_ITERATIONS`] (Python's `hashlib.pbkdf2_hmac`).
const PBKDF2_AT_BOUND: &str =
    "pbkdf2_sha256$5000000$boundsalt$DmDoFUsSfeWLy//JweK+LMEgEzwhGYfuWZGQuNQYzt8=";
const KEY32: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY20: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY64: &str =
    "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg==";
/// bcrypt's salt and hash, after `$2b$<cost>$`.
const BCRYPT_TAIL: &str = "40I85C/95y6r9SAWloEzueoD06fHfHv/nttCxBHL.wFjsVygNnX1i";

fn argon2_with(params: &str) -> String {
    format!("argon2$argon2id$v=19${params}$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA")
}

#[test]
fn every_cost_exactly_at_its_bound_is_accepted_and_one_over_is_refused() {
    use Refusal::*;
    let cases: Vec<(String, Result<DjangoAlgorithm, Refusal>)> = vec![
        (
            format!("pbkdf2_sha256$5000000$salt${KEY32}"),
            Ok(DjangoAlgorithm::Pbkdf2Sha256),
        ),
        (
            format!("pbkdf2_sha256$5000001$salt${KEY32}"),
            Err(Pbkdf2Iterations),
        ),
        (
            format!("pbkdf2_sha1$5000000$salt${KEY20}"),
            Ok(DjangoAlgorithm::Pbkdf2Sha1),
        ),
        (
            format!("pbkdf2_sha1$5000001$salt${KEY20}"),
            Err(Pbkdf2Iterations),
        ),
        (
            format!("bcrypt$$2b$16${BCRYPT_TAIL}"),
            Ok(DjangoAlgorithm::Bcrypt),
        ),
        (format!("bcrypt$$2b$17${BCRYPT_TAIL}"), Err(BcryptCost)),
        (
            format!("bcrypt_sha256$$2b$16${BCRYPT_TAIL}"),
            Ok(DjangoAlgorithm::BcryptSha256),
        ),
        (
            format!("bcrypt_sha256$$2b$17${BCRYPT_TAIL}"),
            Err(BcryptCost),
        ),
        (
            argon2_with("m=262144,t=10,p=16"),
            Ok(DjangoAlgorithm::Argon2),
        ),
        (argon2_with("m=262145,t=10,p=16"), Err(Argon2Memory)),
        (argon2_with("m=262144,t=11,p=16"), Err(Argon2Time)),
        (argon2_with("m=262144,t=10,p=17"), Err(Argon2Lanes)),
        // 128·r·N = 128·8·2^18 = 256 MiB exactly; then N, r and p one step over.
        (
            format!("scrypt$262144$salt$8$16${KEY64}"),
            Ok(DjangoAlgorithm::Scrypt),
        ),
        (
            format!("scrypt$524288$salt$8$16${KEY64}"),
            Err(ScryptMemory),
        ),
        (
            format!("scrypt$262144$salt$9$16${KEY64}"),
            Err(ScryptMemory),
        ),
        (
            format!("scrypt$262144$salt$8$17${KEY64}"),
            Err(ScryptParallelism),
        ),
        // The other buffer, 128·r·p: 256 MiB with p = 2 passes, 2 GiB does not.
        (
            format!("scrypt$2$salt$1048576$2${KEY64}"),
            Ok(DjangoAlgorithm::Scrypt),
        ),
        (
            format!("scrypt$2$salt$1048576$16${KEY64}"),
            Err(ScryptMemory),
        ),
    ];
    for (encoded, expected) in cases {
        assert_eq!(check(&encoded), expected, "{encoded}");
    }
}

#[test]
fn the_hashes_that_crashed_or_stalled_the_service_are_refused_without_overflow() {
    use Refusal::*;
    let low = format!("$2b$04${BCRYPT_TAIL}");
    for (encoded, expected) in [
        // The review's reproduction (M1), and values past every integer type.
        (
            format!("pbkdf2_sha256$4294967295$saltsalt${KEY32}"),
            Pbkdf2Iterations,
        ),
        (
            format!("pbkdf2_sha256$99999999999999999999999$s${KEY32}"),
            Pbkdf2Iterations,
        ),
        (
            format!("bcrypt${}", low.replace("$04$", "$31$")),
            BcryptCost,
        ),
        (
            format!("bcrypt${}", low.replace("$04$", "$99999999999999999999$")),
            BcryptCost,
        ),
        (argon2_with("m=4294967295,t=1,p=1"), Argon2Memory),
        (argon2_with("m=1048576,t=1,p=1"), Argon2Memory),
        (
            argon2_with("m=99999999999999999999999,t=1,p=1"),
            Argon2Memory,
        ),
        (argon2_with("m=65536,t=4294967295,p=1"), Argon2Time),
        (argon2_with("m=65536,t=1,p=16777215"), Argon2Lanes),
        (
            format!("scrypt$17179869184$saltsalt$8$1${KEY64}"),
            ScryptMemory,
        ),
        (format!("scrypt$524288$saltsalt$8$1${KEY64}"), ScryptMemory),
        (
            format!("scrypt$9223372036854775808$s$8$1${KEY64}"),
            ScryptMemory,
        ),
        (
            format!("scrypt$16384$s$18446744073709551615$1${KEY64}"),
            ScryptMemory,
        ),
        (
            format!("scrypt$16384$saltsalt$1$1073741823${KEY64}"),
            ScryptParallelism,
        ),
        (
            format!("scrypt$16384$s$8$99999999999999999999999${KEY64}"),
            ScryptParallelism,
        ),
    ] {
        assert_eq!(check(&encoded), Err(expected), "{encoded}");
        // Refused before any hashing: bcrypt 31 alone would take hours,
        // and the others abort the process or take gigabytes.
        let started = std::time::Instant::now();
        assert!(!verify(PASSWORD, &encoded), "{encoded}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{encoded}"
        );
    }
    for (encoded, expected) in [
        ("md5$salt$hash", Unsupported),
        ("!unusable", Unsupported),
        ("pbkdf2_sha256$-1$s$AAAA", Malformed),
        ("pbkdf2_sha256$+5$s$AAAA", Malformed),
        ("bcrypt$$2b$03$x", Malformed),
        ("bcrypt$$2c$12$x", Malformed),
        ("scrypt$3$s$8$1$AAAA", Malformed),
        ("argon2$argon2id$v=19$m=-1,t=1,p=1$c2FsdA$AAAA", Malformed),
    ] {
        assert_eq!(check(encoded), Err(expected), "{encoded}");
    }
}

#[test]
fn a_hash_at_the_pbkdf2_bound_verifies_with_its_password_only() {
    assert_eq!(check(PBKDF2_AT_BOUND), Ok(DjangoAlgorithm::Pbkdf2Sha256));
    assert!(verify(PASSWORD, PBKDF2_AT_BOUND));
    assert!(!verify("correct horse e", PBKDF2_AT_BOUND));
}

#[test]
fn costs_compare_hashes_of_one_algorithm() {
    let cost = |encoded: &str| cost(encoded).map(|(_, units)| units);
    assert_eq!(cost(VECTORS[0].1), Some(1_000_000));
    assert_eq!(cost(VECTORS[1].1), Some(20_000));
    assert_eq!(cost(VECTORS[3].1), Some(102_400 * 2));
    assert_eq!(cost(VECTORS[6].1), Some(1 << 12));
    assert_eq!(cost(VECTORS[7].1), Some(16_384 * 8 * 5));
    assert_eq!(cost("bcrypt$$2b$31$x"), None);
}
