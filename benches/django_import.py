#!/usr/bin/env python3
"""Import benchmark: `python3 benches/django_import.py [BINARY]`.

Builds a Django project's SQLite database with SQL (Django's own table
layout; far faster than the ORM one row at a time): 100,000 users and
200,000 tokens (100,000 DRF, 50,000 multitoken, 50,000 knox), then runs
`multitoken import-django` on it into a fresh SQLite file and prints the
wall time and the importer's peak RSS. Targets: under 60 s, under 200 MiB.

BINARY defaults to target/release/multitoken (`cargo build --release`);
USERS and TOKENS in the environment change the sizes. Standard library only.
"""
import binascii
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time

USERS = int(os.environ.get("USERS", 100_000))
TOKENS = int(os.environ.get("TOKENS", 200_000))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "multitoken")

SCHEMA = """
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id"));
CREATE TABLE "rest_framework_multitoken_multitoken" ("key" varchar(40) NOT NULL PRIMARY KEY, "is_active" bool NOT NULL, "created" datetime NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id"));
CREATE INDEX "rest_framework_multitoken_multitoken_user_id" ON "rest_framework_multitoken_multitoken" ("user_id");
CREATE TABLE "knox_authtoken" ("digest" varchar(128) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id"), "expiry" datetime NULL, "token_key" varchar(25) NOT NULL);
CREATE INDEX "knox_authtoken_user_id" ON "knox_authtoken" ("user_id");
"""
# make_password("bench", hasher="pbkdf2_sha256"): the import keeps hashes, never checks them.
HASH = "pbkdf2_sha256$1000000$Qq8IF4MHoHgOzRlsfyGfY3$nlLaQ/7eLE2TRYkLAbGoS/pSEE4KwvrVqDgNPZt5ksE="


def hexkey(n):
    return binascii.hexlify(os.urandom(n)).decode()


def build(path):
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.executemany(
        "INSERT INTO auth_user VALUES (?, ?, NULL, 0, ?, '', ?, 0, 1, '2021-01-01 00:00:00', '')",
        ((i, HASH, f"user{i}", f"user{i}@example.com") for i in range(1, USERS + 1)))
    drf = min(USERS, TOKENS // 2)
    rest = TOKENS - drf
    conn.executemany("INSERT INTO authtoken_token VALUES (?, '2022-01-01 00:00:00', ?)",
                     ((hexkey(20), i) for i in range(1, drf + 1)))
    conn.executemany("INSERT INTO rest_framework_multitoken_multitoken VALUES (?, 1, '2022-01-01 00:00:00', ?)",
                     ((hexkey(20), i % USERS + 1) for i in range(rest // 2)))
    conn.executemany("INSERT INTO knox_authtoken VALUES (?, '2022-01-01 00:00:00', ?, '2999-01-01 00:00:00', ?)",
                     ((hexkey(64), i % USERS + 1, hexkey(8)[:15]) for i in range(rest - rest // 2)))
    conn.commit()
    conn.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "django.sqlite3")
        started = time.monotonic()
        build(source)
        print(f"built {USERS} users and {TOKENS} tokens in {time.monotonic() - started:.1f} s")
        env = dict(os.environ, DATABASE_URL=os.path.join(tmp, "multitoken.db"), RUST_LOG="warn")
        started = time.monotonic()
        done = subprocess.run([BINARY, "import-django", source], env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            sys.exit(done.returncode)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"import: {wall:.1f} s wall, peak RSS {peak:.0f} MiB")


main()
