//! A Django project's database as the importer finds it.

/// Django 5.2's tables as `migrate` makes them on SQLite, the columns the
/// import reads and the ones beside them.
pub const DJANGO_SCHEMA: &str = r#"
CREATE TABLE "django_migrations" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" datetime NOT NULL);
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE "rest_framework_multitoken_multitoken" ("key" varchar(40) NOT NULL PRIMARY KEY, "is_active" bool NOT NULL, "created" datetime NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX "rest_framework_multitoken_multitoken_user_id" ON "rest_framework_multitoken_multitoken" ("user_id");
CREATE TABLE "knox_authtoken" ("digest" varchar(128) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED, "expiry" datetime NULL, "token_key" varchar(25) NOT NULL);
CREATE INDEX "knox_authtoken_user_id" ON "knox_authtoken" ("user_id");
"#;

/// 32 and 64 bytes of derived key, in base64: the right lengths, never matched.
pub const KEY32: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
pub const KEY64: &str =
    "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg==";
/// bcrypt's salt and hash, after `$2b$<cost>$`.
pub const BCRYPT_TAIL: &str = "40I85C/95y6r9SAWloEzueoD06fHfHv/nttCxBHL.wFjsVygNnX1i";

/// Hashes one step past each of the contract's bounds, and the review's
/// reproductions (M1 of the third review: the argon2 and scrypt ones
/// aborted the process, bcrypt 31 and pbkdf2 `2^32-1` held a hashing
/// thread for hours).
pub fn over_the_bounds() -> Vec<(&'static str, String)> {
    let argon2 =
        |params: &str| format!("argon2$argon2id$v=19${params}$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA");
    vec![
        ("pb_over", format!("pbkdf2_sha256$5000001$saltsalt${KEY32}")),
        (
            "pb_max",
            format!("pbkdf2_sha256$4294967295$saltsalt${KEY32}"),
        ),
        ("bc_17", format!("bcrypt$$2b$17${BCRYPT_TAIL}")),
        ("bc_31", format!("bcrypt$$2b$31${BCRYPT_TAIL}")),
        ("ar_mem", argon2("m=262145,t=1,p=1")),
        ("ar_tib", argon2("m=4294967295,t=1,p=1")),
        ("ar_time", argon2("m=65536,t=11,p=1")),
        ("ar_lanes", argon2("m=65536,t=1,p=17")),
        ("sc_512m", format!("scrypt$524288$saltsalt$8$1${KEY64}")),
        ("sc_tib", format!("scrypt$17179869184$saltsalt$8$1${KEY64}")),
        ("sc_p17", format!("scrypt$16384$saltsalt$8$17${KEY64}")),
        (
            "sc_p",
            format!("scrypt$16384$saltsalt$1$1073741823${KEY64}"),
        ),
    ]
}
